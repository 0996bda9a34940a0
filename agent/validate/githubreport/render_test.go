package githubreport

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer/html"

	"github.com/streamspace/streamspace/agent/validate"
)

// gfm renders Markdown as GitHub does (CommonMark with GitHub's tables
// and autolinks),
// keeping raw HTML so that any that got through shows.
func gfm(t *testing.T, md string) string {
	t.Helper()
	var out bytes.Buffer
	if err := goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(html.WithUnsafe())).Convert([]byte(md), &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// outsideCode is the rendered HTML with every <code>…</code> and
// <pre>…</pre> removed: what GitHub would treat as text (mentions,
// references) or as markup.
func outsideCode(h string) string {
	return regexp.MustCompile(`(?s)<pre>.*?</pre>|<code>.*?</code>`).ReplaceAllString(h, "")
}

// Text from the pull request (file names, quoted values, user names, the
// GitSync's path) shows as it is, and never as Markdown, HTML or a
// mention, wherever the report puts it: the problems block, the impact
// table and the impact block.
func TestRender_pullRequestTextStaysText(t *testing.T) {
	hostile := []string{
		"<script>alert(1)</script>",
		"@octocat",
		"```\n# Approved by @admins\n```",
		"`` ` `` **bold** [link](https://evil.example) | a | b |",
		"<img src=x onerror=alert(1)>",
	}
	all := strings.Join(hostile, " ")
	r := Result{
		Root:    ".",
		Objects: 3,
		Problems: []validate.Problem{
			{File: "catalog/" + all + ".yaml", Line: 3, Message: "category " + all},
			{File: "catalog/x.yaml", Line: 1, Warning: true, Message: all},
		},
		Impact: &validate.Impact{GitSyncs: []validate.SyncImpact{{
			GitSync: "ns/" + all, Path: all,
			Templates: []validate.TemplateImpact{{ObjectChange: validate.ObjectChange{Name: "t", Change: "changed", Fields: []string{all}},
				Sessions: []validate.SessionUse{{Name: "s", User: all, State: "running"}}}},
			OverQuota: []validate.Overage{{User: all, Quota: "q", Limit: "memory", Used: "2Gi running", Max: "1Gi", Over: "1Gi"}},
		}}},
	}
	md := Marker + "\n" + render(r, Target{HeadSHA: strings.Repeat("a", 40)}, "https://github.example.com/acme/platform/runs/1")
	h := gfm(t, md)

	text := outsideCode(h)
	for _, bad := range []string{"<script", "<img", "@octocat", "@admins", "<strong>bold", "evil.example", "<h1>"} {
		if strings.Contains(text, bad) {
			t.Errorf("%q is outside code in the rendered report:\n%s", bad, h)
		}
	}
	// Each hostile text is shown whole, escaped as HTML, inside code
	// (code spans turn its line breaks into spaces).
	for _, s := range hostile {
		want := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
		if !strings.Contains(h, want) && !strings.Contains(h, strings.ReplaceAll(want, "\n", " ")) {
			t.Errorf("the report does not show %q as it is:\n%s", s, h)
		}
	}
	// The table kept its nine columns: no pipe from the text split a cell.
	row := regexp.MustCompile(`(?s)<tbody>\s*<tr>(.*?)</tr>`).FindStringSubmatch(h)
	if row == nil || strings.Count(row[1], "<td") != 9 {
		t.Errorf("impact table row: %v\n%s", row, h)
	}
	// Only the report's own headings are headings, and the one link is
	// the check run's.
	if got := regexp.MustCompile(`<h[1-6]>`).FindAllString(h, -1); len(got) != 3 {
		t.Errorf("headings: %v\n%s", got, h)
	}
	if got := regexp.MustCompile(`<a href="[^"]*"`).FindAllString(h, -1); len(got) != 1 || got[0] != `<a href="https://github.example.com/acme/platform/runs/1"` {
		t.Errorf("links: %v", got)
	}
}

// A report of thousands of problems still fits in one comment and one
// check run summary: the listing is cut, saying how much and where the
// rest is.
func TestRender_longListingIsCut(t *testing.T) {
	r := Result{Root: ".", NoImpact: "not forecast: the repository has errors"}
	for range 5000 {
		r.Problems = append(r.Problems, validate.Problem{File: "catalog/a.yaml", Line: 1, Message: strings.Repeat("x", 100)})
	}
	md := render(r, Target{HeadSHA: strings.Repeat("a", 40)}, "")
	if len(md) > maxBody {
		t.Errorf("report of %d bytes, over %d", len(md), maxBody)
	}
	if !regexp.MustCompile(`… \d+ more line\(s\): see the check run's annotations\n`).MatchString(md) {
		t.Errorf("the cut is not said:\n%s", md[len(md)-300:])
	}
}
