package trust_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/streamspace/streamspace/plugins/manifest"
	"github.com/streamspace/streamspace/plugins/trust"
	"github.com/streamspace/streamspace/test/testenv"
)

func TestParse_shippedPolicy(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "policies/plugins/permission-policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Metadata struct{ Name string }
		Data     map[string]string
	}
	if err := yaml.Unmarshal(data, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Metadata.Name != trust.ConfigMapName {
		t.Fatalf("the shipped policy is named %q, the agent reads %q", cm.Metadata.Name, trust.ConfigMapName)
	}
	p, err := trust.Parse([]byte(cm.Data[trust.Key]))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.MaxRisk("streamspace-plugins"); got != manifest.RiskHigh {
		t.Errorf("the project's own repository: %s, want high", got)
	}
	if got := p.MaxRisk("someone-elses"); got != manifest.RiskLow {
		t.Errorf("an unlisted repository: %s, want low", got)
	}
}

func TestParse_refusals(t *testing.T) {
	for policy, want := range map[string]string{
		"version: 1\ndefaultMaxRisk: low":                                                                    "version 1, want 2",
		"version: 2\ndefaultMaxRisk: hihg":                                                                   `defaultMaxRisk: unknown risk "hihg"`,
		"version: 2\ndefaultMaxRisk: low\nrepos: []":                                                         "field repos not found",
		"version: 2\ndefaultMaxRisk: low\nrepositories: [{name: a, maxRisk: x}]":                             `repository "a": maxRisk: unknown risk "x"`,
		"version: 2\ndefaultMaxRisk: low\nrepositories: [{name: a, maxRisk: low}, {name: a, maxRisk: high}]": `repository "a" is listed twice`,
		"version: 2\ndefaultMaxRisk: low\nrepositories: [{maxRisk: high}]":                                   "a repository without a name",
	} {
		if _, err := trust.Parse([]byte(policy)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", policy, err, want)
		}
	}
}
