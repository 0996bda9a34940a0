package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamspace/streamspace/agent/validate/githubreport"
	"github.com/streamspace/streamspace/test/githubtest"
)

const reportToken = "ghs_report-token-never-shown"

// pullRequestEvent writes a pull_request event payload as Actions gives it
// at GITHUB_EVENT_PATH: the pull request's number and its head commit.
func pullRequestEvent(t *testing.T, number int, sha string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "event.json")
	data := fmt.Sprintf(`{"action":"synchronize","number":%d,"pull_request":{"number":%d,"head":{"sha":%q,"ref":"add-newapp"},"base":{"ref":"main"}}}`, number, number, sha)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sha is the head commit of push n: c0ffe01…, c0ffe02…
func sha(n int) string { return fmt.Sprintf("%07x%033x", 0xc0ffe00+n, n) }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The pull request of TestValidate_impact, pushed four times, each run of
// `validate --impact --github-report` reporting to the GitHub stand-in as
// in a GitHub Actions job: one check run per head commit, one comment
// edited in place, errors as a failed check with every problem annotated
// (more than GitHub takes in one request), and a refusing GitHub failing
// the run without hiding validate's result or showing the token.
func TestValidate_githubReport(t *testing.T) {
	p := newLivePlatform(t)
	gh := githubtest.New(t, "acme", "platform", reportToken)
	t.Setenv("GITHUB_TOKEN", reportToken)
	t.Setenv("GITHUB_REPOSITORY", "acme/platform")
	t.Setenv("GITHUB_API_URL", gh.URL)
	// Someone else's comment mentioning the report stays as it is.
	gh.AddComment(7, "ann", "Can someone look at the streamspace validate report?")

	var outputs []string
	push := func(n int, wantErr bool) string {
		t.Helper()
		t.Setenv("GITHUB_EVENT_PATH", pullRequestEvent(t, 7, sha(n)))
		cmd := validateCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs([]string{p.repo, "--impact", "--kubeconfig", p.kubeconfig, "-n", p.ns, "--github-report"})
		err := cmd.Execute()
		if err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
		}
		if (err != nil) != wantErr {
			t.Fatalf("push %d: error %v, want error %v\n%s", n, err, wantErr, out.String())
		}
		outputs = append(outputs, out.String())
		return out.String()
	}
	reports := func() []githubtest.Comment {
		t.Helper()
		var mine []githubtest.Comment
		for _, c := range gh.Comments(7) {
			if strings.HasPrefix(c.Body, githubreport.Marker) {
				mine = append(mine, c)
			}
		}
		if len(mine) != 1 {
			t.Fatalf("want one report comment on the pull request, got %d: %+v", len(mine), mine)
		}
		return mine
	}

	// First push: a check run on its head commit, and one comment.
	out := push(1, false)
	runs := gh.CheckRuns()
	if len(runs) != 1 || runs[0].HeadSHA != sha(1) || runs[0].Name != "streamspace validate" || runs[0].Status != "completed" || runs[0].Conclusion != "success" {
		t.Fatalf("check runs after the first push: %+v", runs)
	}
	comment := reports()[0]
	for _, want := range []string{
		"### ✅ streamspace validate: ",
		"Commit ` c0ffe01 ` · [check run](https://github.example.com/acme/platform/runs/",
		"| ` " + p.ns + "/platform ` | ` environments/prod ` | 4 | 3 | 1 | 2 | 1 | 1 | 1 |",
		"  Template firefox changed (spec.baseImage); used by 2 session(s): ann-ff (ann, running), bob-ff (bob, running)\n",
		"  prune would keep Template/oldapp while in use by session ann-old\n",
	} {
		if !strings.Contains(comment.Body, want) {
			t.Errorf("comment lacks %q:\n%s", want, comment.Body)
		}
	}
	if runs[0].Summary != strings.Replace(strings.TrimPrefix(comment.Body, githubreport.Marker+"\n"), " · [check run]("+runURL(runs[0].ID)+")", "", 1) {
		t.Errorf("the check run's summary is not the comment without its link:\n%s\n---\n%s", runs[0].Summary, comment.Body)
	}
	if !strings.Contains(out, "Template firefox changed") || !strings.Contains(out, `GitHub: check run "streamspace validate" created (c0ffe01, success, 0 annotation(s))`) || !strings.Contains(out, "GitHub: summary comment created: ") {
		t.Errorf("output of the first push:\n%s", out)
	}

	// Second push (new head commit): a template gets a category outside
	// the recommended list, one that tries Markdown, HTML and a mention.
	hostile := "<script>alert(1)</script> @octocat ```x``` |a|"
	writeFile(t, filepath.Join(p.repo, "catalog/gimp.yaml"), strings.Replace(template("gimp", "lscr.io/linuxserver/gimp:1.0", "1Gi"), `category: "3D"`, fmt.Sprintf("category: %q", hostile), 1))
	out = push(2, false)
	runs = gh.CheckRuns()
	if len(runs) != 2 || runs[1].HeadSHA != sha(2) || runs[1].Conclusion != "neutral" || len(runs[1].Annotations) != 1 {
		t.Fatalf("check runs after the second push: %+v", runs)
	}
	if a := runs[1].Annotations[0]; a.Path != filepath.ToSlash(filepath.Join(p.repo, "catalog/gimp.yaml")) || a.StartLine != 7 || a.AnnotationLevel != "warning" || !strings.Contains(a.Message, hostile) {
		t.Errorf("annotation of the category warning: %+v", a)
	}
	second := reports()[0]
	if second.ID != comment.ID || second.Edits != 1 || !strings.Contains(second.Body, "Commit ` c0ffe02 `") || !strings.Contains(second.Body, "objects valid, 1 warning\n") {
		t.Errorf("second push: want the first comment edited, got %+v", second)
	}
	if !strings.Contains(out, "summary comment edited") {
		t.Errorf("output of the second push:\n%s", out)
	}

	// Third push: errors, more than one request of annotations, and a
	// file whose name tries Markdown too.
	for i := range 30 {
		writeFile(t, filepath.Join(p.repo, fmt.Sprintf("catalog/broken-%02d.yaml", i)),
			"apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata:\n  name: broken\nspec:\n  displayName: Broken\n  category: 3D\n  ports: [{name: http, containerPort: 70000}]\n")
	}
	writeFile(t, filepath.Join(p.repo, "catalog/`@octocat` <b>bold</b>.yaml"), "kind: [unclosed\n")
	var want []jsonProblem
	{
		cmd := validateCommand()
		var js bytes.Buffer
		cmd.SetOut(&js)
		cmd.SetErr(&bytes.Buffer{})
		cmd.SetArgs([]string{p.repo, "-o", "json"})
		_ = cmd.Execute() // fails: the repository has errors
		var doc struct{ Problems []jsonProblem }
		if err := json.NewDecoder(&js).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		want = doc.Problems
	}
	if len(want) <= 50 {
		t.Fatalf("the broken repository has %d problems; the test wants more than one request of annotations", len(want))
	}
	out = push(3, true)
	runs = gh.CheckRuns()
	if len(runs) != 3 || runs[2].HeadSHA != sha(3) || runs[2].Status != "completed" || runs[2].Conclusion != "failure" {
		t.Fatalf("check runs after the third push: %+v", runs)
	}
	if len(runs[2].Annotations) != len(want) {
		t.Fatalf("%d annotations, want one per problem: %d", len(runs[2].Annotations), len(want))
	}
	for i, a := range runs[2].Annotations {
		level := map[string]string{"error": "failure", "warning": "warning"}[want[i].Severity]
		if a.Path != filepath.ToSlash(filepath.Join(p.repo, want[i].File)) || a.StartLine != max(want[i].Line, 1) || a.AnnotationLevel != level || a.Message != want[i].Message {
			t.Errorf("annotation %d: %+v, want %+v", i, a, want[i])
		}
	}
	third := reports()[0]
	if third.ID != comment.ID || third.Edits != 2 || !strings.Contains(third.Body, "### ❌ streamspace validate: ") || !strings.Contains(third.Body, "not forecast: the repository has errors") {
		t.Errorf("third push: %+v", third)
	}
	if !strings.Contains(out, "problem(s) in") || !strings.Contains(out, "catalog/broken-00.yaml:") {
		t.Errorf("third push: validate's own result is not in the output:\n%s", out)
	}

	// Fourth push: GitHub refuses the check run and the comment's edit
	// (a read-only token, as a fork's pull request gets); the message of
	// the second echoes the token, which must not be shown.
	gh.Refuse(http.MethodPost, "/check-runs", http.StatusForbidden, "Resource not accessible by integration")
	gh.Refuse(http.MethodPatch, `/issues/comments/\d+`, http.StatusForbidden, "Resource not accessible by integration (token "+reportToken+")")
	out = push(4, true)
	for _, want := range []string{
		"catalog/broken-00.yaml:", // validate's problems, printed
		"problem(s) in",           // validate's own error
		"GitHub report on acme/platform#7: check run: create: POST " + gh.URL, // which call failed
		"403 Resource not accessible by integration",
		"permissions: checks: write",
		"GitHub report on acme/platform#7: comment: edit comment",
		"permissions: pull-requests: write",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("fourth push: output lacks %q:\n%s", want, out)
		}
	}
	if len(gh.CheckRuns()) != 3 || reports()[0].Edits != 2 {
		t.Error("a refused request changed GitHub's state")
	}

	for i, o := range outputs {
		if strings.Contains(o, reportToken) || strings.Contains(o, strings.TrimPrefix(reportToken, "ghs_")) {
			t.Errorf("push %d showed the token:\n%s", i+1, o)
		}
	}
	for _, c := range gh.Calls() {
		if c.Authorization != "Bearer "+reportToken {
			t.Errorf("%s %s sent Authorization %q", c.Method, c.Path, c.Authorization)
		}
	}
}

func runURL(id int64) string {
	return fmt.Sprintf("https://github.example.com/acme/platform/runs/%d", id)
}

// The report's target comes from the Actions environment, flags override
// it, and what is missing or malformed is named before anything runs.
func TestValidate_githubReportTarget(t *testing.T) {
	repo := t.TempDir()
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"GITHUB_TOKEN": ""}, []string{"--github-report"}, "missing the repository (owner/name), the pull request number, the head commit SHA, a token (set GITHUB_TOKEN"},
		{map[string]string{"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "acme/platform"}, []string{"--github-report", "--github-pull-request", "3", "--github-sha", "abc"}, `head commit "abc": want a full 40-character`},
		{map[string]string{"GITHUB_TOKEN": "t"}, []string{"--github-report", "--github-repository", "acme", "--github-pull-request", "3", "--github-sha", sha(1)}, `--github-repository "acme": want owner/name`},
		{map[string]string{"GITHUB_TOKEN": "t", "GITHUB_EVENT_PATH": filepath.Join(repo, "missing.json")}, []string{"--github-report"}, "GITHUB_EVENT_PATH: open"},
		{nil, []string{"--github-sha", sha(1)}, "--github-sha goes with --github-report"},
	} {
		for _, k := range []string{"GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_EVENT_PATH", "GITHUB_API_URL"} {
			t.Setenv(k, c.env[k])
		}
		cmd := validateCommand()
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		cmd.SetArgs(append([]string{repo}, c.args...))
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: error %v, want %q", c.env, c.args, err, c.want)
		}
	}
}
