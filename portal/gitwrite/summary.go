package gitwrite

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// fieldChanges lists what differs between the document in Git (as its type
// reads it) and the desired object, one "path: old → new" line per leaf, for
// the commit message, the pull request and the API's answer.
func fieldChanges(canon, want map[string]any) []string {
	var out []string
	diffValue("", canon, true, want, true, &out)
	return out
}

func diffValue(path string, old any, hasOld bool, want any, hasWant bool, out *[]string) {
	if hasOld && hasWant && equal(old, want) {
		return
	}
	om, oldIsMap := old.(map[string]any)
	wm, wantIsMap := want.(map[string]any)
	if oldIsMap && wantIsMap {
		keys := map[string]bool{}
		for k := range om {
			keys[k] = true
		}
		for k := range wm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			ov, ho := om[k]
			wv, hw := wm[k]
			diffValue(join(path, k), ov, ho, wv, hw, out)
		}
		return
	}
	ol, oldIsList := old.([]any)
	wl, wantIsList := want.([]any)
	if oldIsList && wantIsList && len(ol) == len(wl) {
		for i := range wl {
			diffValue(fmt.Sprintf("%s[%d]", path, i), ol[i], true, wl[i], true, out)
		}
		return
	}
	*out = append(*out, fmt.Sprintf("%s: %s → %s", path, show(old, hasOld), show(want, hasWant)))
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// show renders a value on one line; long values are cut in the middle,
// where image references and URLs differ least.
func show(v any, ok bool) string {
	if !ok {
		return "(unset)"
	}
	s, isString := v.(string)
	switch {
	case isString && strings.ContainsAny(s, "\n\r"):
		s = fmt.Sprintf("%q", s)
	case !isString:
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		s = string(data)
	}
	if r := []rune(s); len(r) > 120 {
		s = string(r[:60]) + "…" + string(r[len(r)-59:])
	}
	return s
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// title is the commit subject and pull request title:
// "Quota designers: raise memory for the render farm".
func title(c Change, changes []string) string {
	summary, _, _ := strings.Cut(strings.TrimSpace(c.Reason), "\n")
	summary = strings.TrimSpace(summary)
	if summary == "" && c.Op != OpEdit {
		summary = string(c.Op)
	}
	if summary == "" {
		// The fields, not their values: those are in the body, and an
		// image reference alone would fill the title.
		var paths []string
		for _, ch := range changes {
			path, _, _ := strings.Cut(ch, ": ")
			paths = append(paths, path)
		}
		if len(paths) > 3 {
			summary = fmt.Sprintf("update %d fields", len(paths))
		} else {
			summary = "update " + strings.Join(paths, ", ")
		}
	}
	return truncate(fmt.Sprintf("%s %s: %s", c.Kind, c.Name, summary), 120)
}

// commitMessage carries the admin's reason, the changed fields and the
// trailers that name who asked: the commit itself is signed by the portal.
func commitMessage(c Change, file string, changes []string) string {
	var b strings.Builder
	b.WriteString(title(c, changes))
	b.WriteString("\n\n")
	if _, rest, ok := strings.Cut(strings.TrimSpace(c.Reason), "\n"); ok && strings.TrimSpace(rest) != "" {
		b.WriteString(strings.TrimSpace(rest))
		b.WriteString("\n\n")
	}
	if c.Op == OpEdit {
		fmt.Fprintf(&b, "Changed in %s through the StreamSpace portal:\n", file)
	} else {
		fmt.Fprintf(&b, "%s %s %s through the StreamSpace portal:\n", opVerb[c.Op], c.Kind, c.Name)
	}
	for _, ch := range changes {
		fmt.Fprintf(&b, "- %s\n", ch)
	}
	if len(c.UsedBy) > 0 {
		fmt.Fprintf(&b, "\nStill used by: %s\n", strings.Join(c.UsedBy, ", "))
	}
	fmt.Fprintf(&b, "\nRequested-by: %s\n", c.Actor)
	if c.ActorEmail != "" {
		fmt.Fprintf(&b, "Co-authored-by: %s <%s>\n", c.Actor, c.ActorEmail)
	}
	return b.String()
}

var opVerb = map[Op]string{OpCreate: "Created", OpDelete: "Deleted"}

// maxPatch keeps the pull request body well under GitHub's 65536
// characters.
const maxPatch = 30000

// pullRequestBody tells the reviewer who asked, why, and exactly what
// changes.
func pullRequestBody(c Change, base, file string, changes, warnings []string, patch string) string {
	var b strings.Builder
	if c.Op == OpEdit {
		fmt.Fprintf(&b, "**%s** asked for this change to %s `%s` in the StreamSpace portal.\n\n", c.Actor, c.Kind, c.Name)
	} else {
		fmt.Fprintf(&b, "**%s** asked to %s %s `%s` in the StreamSpace portal.\n\n", c.Actor, c.Op, c.Kind, c.Name)
	}
	if r := strings.TrimSpace(c.Reason); r != "" {
		for _, line := range strings.Split(r, "\n") {
			fmt.Fprintf(&b, "> %s\n", line)
		}
		b.WriteString("\n")
	}
	if c.Op == OpEdit {
		fmt.Fprintf(&b, "Changed fields in `%s`:\n\n", file)
	} else {
		b.WriteString("Changes:\n\n")
	}
	for _, ch := range changes {
		fmt.Fprintf(&b, "- `%s`\n", ch)
	}
	if len(c.UsedBy) > 0 {
		fmt.Fprintf(&b, "\n**Still in use.** These sessions use %s `%s`:\n\n", c.Kind, c.Name)
		for _, u := range c.UsedBy {
			fmt.Fprintf(&b, "- %s\n", u)
		}
		fmt.Fprintf(&b, "\nAfter the merge the agent's prune keeps %s `%s` in the cluster while they exist (GitSync condition PruneBlocked) and deletes it once they are gone; nobody's session is cut short.\n", c.Kind, c.Name)
	}
	for i, w := range warnings {
		if i == 0 {
			b.WriteString("\n**Note:**\n\n")
		}
		fmt.Fprintf(&b, "- %s\n", w)
	}
	if len(patch) > maxPatch {
		patch = patch[:maxPatch] + "\n… (diff truncated)\n"
	}
	fmt.Fprintf(&b, "\n```diff\n%s```\n\n", patch)
	fmt.Fprintf(&b, "The StreamSpace agent applies this once it is merged into `%s`; the portal never changes the cluster directly.\n", base)
	return b.String()
}
