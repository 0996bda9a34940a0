package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/streamspace/streamspace/agent/validate"
)

// The shipped binary, built and run from folders outside the checkout:
// `streamspace validate` must need nothing but the repository it checks
// (it once looked for go.mod to find the CRDs and panicked elsewhere).
func TestValidate_builtBinary_runsOutsideTheCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds the CLI")
	}
	bin := filepath.Join(t.TempDir(), "streamspace")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	repo := t.TempDir()
	for _, dir := range []string{"catalog", "policies", "environments"} {
		if err := os.CopyFS(filepath.Join(repo, dir), os.DirFS(filepath.Join("..", "..", dir))); err != nil {
			t.Fatal(err)
		}
	}
	elsewhere := t.TempDir()
	run := func(dir string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("run %v: %v", args, err)
		}
		return out.String(), cmd.ProcessState.ExitCode()
	}

	okLine := regexp.MustCompile(`(?m)^ok: \d+ objects valid, overlays build$`)
	if out, code := run(repo, "validate"); code != 0 || !okLine.MatchString(out) {
		t.Errorf("validate in a copy of the repository's content: exit %d, want 0 and an ok line:\n%s", code, out)
	}

	broken := `apiVersion: stream.space/v1alpha1
kind: Template
metadata:
  name: no-tag
spec:
  displayName: No tag
  category: Utilities
  baseImage: lscr.io/linuxserver/firefox
  ports: [{name: http, containerPort: 3000}]
  stream: {protocol: Selkies, port: 3000}
`
	if err := os.WriteFile(filepath.Join(repo, "catalog", "no-tag.yaml"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	checkoutCRDs, err := filepath.Abs(filepath.Join("..", "..", "deploy", "crd", "bases"))
	if err != nil {
		t.Fatal(err)
	}
	want := "catalog/no-tag.yaml:8: Template no-tag: spec.baseImage: baseImage must carry a tag or a digest (e.g. lscr.io/linuxserver/firefox:1.2.3)"
	for _, c := range []struct {
		name string
		dir  string
		args []string
	}{
		{"in the repository", repo, []string{"validate"}},
		{"repository as argument", elsewhere, []string{"validate", repo}},
		{"CRDs from a folder", elsewhere, []string{"validate", "--crds", checkoutCRDs, repo}},
	} {
		out, code := run(c.dir, c.args...)
		if code != 1 || !strings.Contains(out, want+"\n") || !strings.Contains(out, "Error: 1 problem(s) in ") {
			t.Errorf("%s: exit %d, want 1 and\n  %s\ngot:\n%s", c.name, code, want, out)
		}
	}
}

// runValidate runs the command in-process and returns its output and
// error.
func runValidate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := validateCommand()
	cmd.SilenceUsage, cmd.SilenceErrors = true, true // as under the root command; the error is returned
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// The same problems in every output; warnings shown everywhere but only
// errors fail.
func TestValidate_outputs(t *testing.T) {
	repo := filepath.Join("..", "..", "agent", "validate", "testdata", "patched")
	warning := `Template synth: category "Audio & Video" is not a recommended one (`
	broken := "overlay environments/prod builds an invalid object: Template synth: spec.baseImage: baseImage must not use the mutable :latest tag; pin a version"

	out, err := runValidate(t, repo)
	if err == nil || err.Error() != "1 problem(s) in 1 objects" ||
		!strings.Contains(out, "catalog/synth.yaml:8: warning: "+warning) ||
		!strings.Contains(out, "environments/prod/kustomization.yaml:1: "+broken+"\n") {
		t.Errorf("text: %v\n%s", err, out)
	}

	out, err = runValidate(t, "--output", "json", repo)
	var got struct {
		Objects, Errors, Warnings int
		Problems                  []jsonProblem
	}
	if jerr := json.Unmarshal([]byte(out), &got); jerr != nil || err == nil {
		t.Fatalf("json: %v %v\n%s", jerr, err, out)
	}
	if got.Objects != 1 || got.Errors != 1 || got.Warnings != 1 || len(got.Problems) != 2 ||
		got.Problems[0] != (jsonProblem{File: "catalog/synth.yaml", Line: 8, Severity: "warning", Message: got.Problems[0].Message}) ||
		!strings.HasPrefix(got.Problems[0].Message, warning) ||
		got.Problems[1] != (jsonProblem{File: "environments/prod/kustomization.yaml", Line: 1, Severity: "error", Message: broken}) {
		t.Errorf("json: %+v", got)
	}

	out, err = runValidate(t, "-o", "github", repo)
	prefix := filepath.ToSlash(repo) + "/"
	if err == nil ||
		!strings.Contains(out, "::warning file="+prefix+"catalog/synth.yaml,line=8,title=streamspace validate::"+warning) ||
		!strings.Contains(out, "::error file="+prefix+"environments/prod/kustomization.yaml,line=1,title=streamspace validate::"+broken+"\n") {
		t.Errorf("github: %v\n%s", err, out)
	}

	// warnings only: exit 0, in every output
	for format, want := range map[string]string{
		"text":   "ok: 1 objects valid, overlays build (1 warning(s))\n",
		"json":   `"warnings": 1`,
		"github": "::notice title=streamspace validate::1 objects valid, overlays build\n",
	} {
		out, err := runValidate(t, "-o", format, "--overlay", "environments/lab", repo)
		if err != nil || !strings.Contains(out, want) || !strings.Contains(out, "Audio & Video") {
			t.Errorf("%s, lab overlay only: %v\n%s", format, err, out)
		}
	}

	if _, err := runValidate(t, "-o", "xml", repo); err == nil || !strings.Contains(err.Error(), "want text, json or github") {
		t.Errorf("unknown output: %v", err)
	}
	if _, err := runValidate(t, "--overlay", "../../..", repo); err == nil || !strings.Contains(err.Error(), "inside it") {
		t.Errorf("overlay outside the repository: %v", err)
	}
}

// A message or path cannot end the workflow command or start a property.
func TestGitHubAnnotation_escapes(t *testing.T) {
	var out bytes.Buffer
	err := writeGitHub(&out, ".", []validate.Problem{{File: "catalog/a,b:c.yaml", Line: 3, Message: "first line\nsecond 100%"}}, 1)
	want := "::error file=catalog/a%2Cb%3Ac.yaml,line=3,title=streamspace validate::first line%0Asecond 100%25\n"
	if err != nil || out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// The pre-commit hook this repository offers runs this command.
func TestPreCommitHook_runsValidate(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", ".pre-commit-hooks.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var hooks []struct {
		ID            string `json:"id"`
		Entry         string `json:"entry"`
		Language      string `json:"language"`
		PassFilenames *bool  `json:"pass_filenames"`
	}
	if err := sigsyaml.Unmarshal(data, &hooks); err != nil {
		t.Fatal(err)
	}
	if len(hooks) != 1 || hooks[0].ID != "streamspace-validate" || hooks[0].Language != "golang" ||
		hooks[0].PassFilenames == nil || *hooks[0].PassFilenames {
		t.Fatalf("hooks: %+v", hooks)
	}
	// go install builds cmd/streamspace as "streamspace"; its validate
	// subcommand must exist with the arguments the entry gives
	args := strings.Fields(hooks[0].Entry)
	if args[0] != "streamspace" || len(args) != 2 {
		t.Fatalf("entry %q", hooks[0].Entry)
	}
	if cmd, _, err := validateCommand().Root().Find(args[1:]); err != nil || cmd.Name() != "validate" {
		t.Errorf("entry %q does not run validate: %v", hooks[0].Entry, err)
	}
}
