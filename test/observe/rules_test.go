package observe

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/streamspace/streamspace/test/testenv"
)

// TestRules_promtool runs the rule files' unit tests (testdata/rules_test.yaml:
// series that fire each alert and series that must not) and checks the rule
// file itself with the promtool of the Prometheus the rules are written for.
func TestRules_promtool(t *testing.T) {
	promtool := needTool(t, "promtool", prometheusVersion)
	root := testenv.RepoRoot()
	rules := filepath.Join(root, "chart", "files", "rules", "streamspace.rules.yaml")
	if out, err := exec.Command(promtool, "check", "rules", "--lint=all", "--lint-fatal", rules).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	test := exec.Command(promtool, "test", "rules", "rules_test.yaml")
	test.Dir = filepath.Join(root, "test", "observe", "testdata")
	out, err := test.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
