// Package layering checks the dependency rules of the tree that the
// compiler does not: what ships must not need what only tests use.
package layering

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/streamspace/streamspace/test/testenv"
)

const module = "github.com/streamspace/streamspace"

// The binaries under cmd/ are what ships: nothing they link may come from
// test/ (test helpers assume a checkout, a Go toolchain, test binaries).
// Both builds count, with and without the embedded UI.
func TestShippedBinaries_dependOnNothingUnderTest(t *testing.T) {
	for _, tags := range []string{"", "ui"} {
		// -e: the ui build embeds portal/web/dist, which may not be built
		// here; the import graph is known without it.
		cmd := exec.Command("go", "list", "-e", "-tags", tags, "-f", `{{.ImportPath}} {{join .Deps " "}}`, "./cmd/...")
		cmd.Dir = testenv.RepoRoot()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -tags %q: %v", tags, err)
		}
		binaries := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(binaries) < 3 {
			t.Fatalf("go list -tags %q found %d binaries under cmd/, want streamspace, -agent and -portal:\n%s", tags, len(binaries), out)
		}
		for _, line := range binaries {
			deps := strings.Fields(line)
			if len(deps) < 100 {
				t.Fatalf("go list -tags %q: %s has %d dependencies, fewer than a binary linking Kubernetes clients has", tags, deps[0], len(deps)-1)
			}
			for _, dep := range deps[1:] {
				if dep == module+"/test" || strings.HasPrefix(dep, module+"/test/") {
					t.Errorf("%s (tags %q) depends on %s: move what it needs out of test/", deps[0], tags, dep)
				}
			}
		}
	}
}
