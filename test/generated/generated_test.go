// Package generated checks that the generated files in the repository are
// what the generators produce from the current sources: CRDs, RBAC and
// webhook manifests, and deepcopy code. Run `make generate` when it fails.
package generated

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/streamspace/streamspace/test/testenv"
)

// readSources reads every source the generators read, so that `go test`'s
// cache (which only sees files the test process itself opens, once tests
// run) reruns these tests when a marker changes.
var readSources = sync.OnceFunc(func() {
	root := testenv.RepoRoot()
	for _, dir := range []string{"api", "agent", "hack"} {
		_ = filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				_, _ = os.ReadFile(path)
			}
			return nil
		})
	}
})

func controllerGen(t *testing.T, args ...string) []byte {
	t.Helper()
	readSources()
	cmd := exec.Command("go", append([]string{"tool", "controller-gen"}, args...)...)
	cmd.Dir = testenv.RepoRoot()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("controller-gen %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

func TestGenerated_deepcopyIsFresh(t *testing.T) {
	t.Parallel()
	want := controllerGen(t, "object:headerFile=hack/boilerplate.go.txt", "paths=./api/...", "output:stdout")
	got, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "api", "v1alpha1", "zz_generated.deepcopy.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("api/v1alpha1/zz_generated.deepcopy.go is stale: run `make generate` and commit the result")
	}
}

func TestGenerated_manifestsAreFresh(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ dir, gen, paths string }{
		{"deploy/crd/bases", "crd", "./api/..."},
		{"deploy/rbac", "rbac:roleName=streamspace-agent", "./agent/..."},
		{"deploy/portal/rbac", "rbac:roleName=streamspace-portal", "./portal"},
		{"deploy/webhook", "webhook", "./agent/..."},
	} {
		tmp := t.TempDir()
		kind := c.gen
		if i := bytes.IndexByte([]byte(kind), ':'); i > 0 {
			kind = kind[:i]
		}
		controllerGen(t, c.gen, "paths="+c.paths, "output:"+kind+":artifacts:config="+tmp)
		compareDirs(t, filepath.Join(testenv.RepoRoot(), c.dir), tmp)
	}
}

func compareDirs(t *testing.T, committed, fresh string) {
	t.Helper()
	files := map[string]bool{}
	for _, dir := range []string{committed, fresh} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if filepath.Ext(e.Name()) == ".yaml" && e.Name() != "kustomization.yaml" {
				files[e.Name()] = true
			}
		}
	}
	for name := range files {
		a, errA := os.ReadFile(filepath.Join(committed, name))
		b, errB := os.ReadFile(filepath.Join(fresh, name))
		switch {
		case errA != nil:
			t.Errorf("%s/%s is missing: run `make generate`", committed, name)
		case errB != nil:
			t.Errorf("%s/%s is no longer generated: remove it (run `make generate`)", committed, name)
		case !bytes.Equal(a, b):
			t.Errorf("%s/%s is stale: run `make generate` and commit the result", committed, name)
		}
	}
}
