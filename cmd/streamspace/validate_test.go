package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
