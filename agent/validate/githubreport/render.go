package githubreport

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/streamspace/streamspace/agent/validate"
)

// The report's Markdown carries text from the pull request itself (file
// names, values quoted in messages, categories, user names): none of it
// may become Markdown, HTML or an @mention. It only ever appears inside a
// code block or code span whose fence is longer than any run of backticks
// in it: GitHub shows such text as it is, and does not link mentions,
// issues or URLs there.

// checkTitle is the check run's one-line title.
func checkTitle(r Result) string {
	errs := validate.Errors(r.Problems)
	warnings := len(r.Problems) - errs
	switch {
	case errs > 0:
		return fmt.Sprintf("%s, %s", plural(errs, "error"), plural(warnings, "warning"))
	case warnings > 0:
		return fmt.Sprintf("%d objects valid, %s", r.Objects, plural(warnings, "warning"))
	}
	return fmt.Sprintf("%d objects valid, overlays build", r.Objects)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

var safeURL = regexp.MustCompile(`^https?://[^\s()<>\[\]"'` + "`" + `]+$`)

// render is the report in Markdown: the comment's body (after Marker) and
// the check run's summary (without a link to itself).
func render(r Result, t Target, checkURL string) string {
	var b strings.Builder
	icon := map[string]string{"failure": "❌", "neutral": "⚠️", "success": "✅"}[r.Conclusion()]
	fmt.Fprintf(&b, "### %s streamspace validate: %s\n\n", icon, checkTitle(r))
	fmt.Fprintf(&b, "Commit %s", codeSpan(t.HeadSHA[:min(7, len(t.HeadSHA))]))
	if checkURL != "" && safeURL.MatchString(checkURL) {
		fmt.Fprintf(&b, " · [check run](%s)", checkURL)
	}
	b.WriteString("\n\n")

	if len(r.Problems) > 0 {
		b.WriteString("#### Problems\n\nEach is annotated on its line in the check run's files view.\n\n")
		lines := make([]string, len(r.Problems))
		for i, p := range r.Problems {
			lines[i] = p.String()
		}
		b.WriteString(fenced(lines, maxBody/2, "see the check run's annotations"))
	}

	b.WriteString("#### What merging does to the live platform\n\n")
	if r.Impact == nil {
		note := r.NoImpact
		if note == "" {
			note = "not forecast"
		}
		fmt.Fprintf(&b, "%s\n", codeSpan(note))
		return b.String()
	}
	b.WriteString("| GitSync | Path | Templates changed | Sessions using them | Quotas changed | Users over quota | Network policies changed | Prune deletes | Prune keeps (in use) |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, s := range r.Impact.GitSyncs {
		sessions, users := map[string]bool{}, map[string]bool{}
		for _, t := range s.Templates {
			for _, u := range t.Sessions {
				sessions[u.Name] = true
			}
		}
		for _, o := range s.OverQuota {
			users[o.User] = true
		}
		deletes, keeps := 0, 0
		for _, p := range s.Prune {
			if len(p.BlockedBy) > 0 {
				keeps++
			} else {
				deletes++
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %d | %d |\n", codeSpan(s.GitSync), codeSpan(s.Path),
			len(s.Templates), len(sessions), len(s.Quotas), len(users), len(s.NetworkPolicies), deletes, keeps)
	}
	b.WriteString("\n")
	b.WriteString(fenced(strings.Split(strings.TrimRight(r.Impact.String(), "\n"), "\n"), maxBody/2, "run `streamspace validate --impact` for the whole forecast"))
	return b.String()
}

// codeSpan shows s as code on one line, also inside a table cell: line
// breaks become spaces, pipes are escaped (GitHub's tables split on them
// even inside code), and the fence is one backtick longer than the
// longest run of backticks in s. The spaces inside the fence are removed
// by the renderer; they let s start or end with a backtick.
func codeSpan(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ", "|", `\|`).Replace(s)
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	return fence + " " + s + " " + fence
}

// fenced is lines as a code block, cut after budget bytes with a line
// saying how many were left out and where to find them.
func fenced(lines []string, budget int, rest string) string {
	var kept []string
	size := 0
	for i, l := range lines {
		l = strings.ReplaceAll(l, "\r", "")
		if size+len(l)+1 > budget {
			kept = append(kept, fmt.Sprintf("… %d more line(s): %s", len(lines)-i, rest))
			break
		}
		kept = append(kept, l)
		size += len(l) + 1
	}
	body := strings.Join(kept, "\n")
	fence := strings.Repeat("`", max(3, longestRun(body, '`')+1))
	return fence + "text\n" + body + "\n" + fence + "\n\n"
}

func longestRun(s string, c byte) int {
	longest, n := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			n++
			longest = max(longest, n)
		} else {
			n = 0
		}
	}
	return longest
}
