package observe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamspace/streamspace/test/testenv"
)

// Versions hack/prom-tools.sh builds (TestTools_versionsMatchTheBuildScript
// keeps them in step).
const (
	prometheusVersion   = "v0.316.0" // promtool and prometheus
	alertmanagerVersion = "v0.35.0"
)

// tool is the path of a tool `make prom-tools` built, or "" when it is
// missing.
func tool(name, version string) string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	p := filepath.Join(cache, "streamspace", "tools-"+name+"-"+version, name)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// needTool skips a test when a tool was not built, saying how to build it.
func needTool(t *testing.T, name, version string) string {
	t.Helper()
	p := tool(name, version)
	if p == "" {
		t.Skipf("%s %s is not built: run `make prom-tools` (builds promtool, prometheus and alertmanager into ~/.cache/streamspace)", name, version)
	}
	return p
}

func TestTools_versionsMatchTheBuildScript(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "hack", "prom-tools.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PROMETHEUS_VERSION:-" + prometheusVersion + "}", "ALERTMANAGER_VERSION:-" + alertmanagerVersion + "}"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("hack/prom-tools.sh does not build %s: keep the versions here and there the same", want)
		}
	}
}
