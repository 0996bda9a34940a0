package rbac_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/streamspace/streamspace/test/testenv"
)

// clusterScoped are the only rules the agent may hold cluster-wide, each
// for a reason its marker's comment gives. A marker without
// namespace=streamspace lands in the ClusterRole: this list is where such a
// widening must be argued.
var clusterScoped = map[string]string{
	"/nodes": "cluster capacity for the session gauges (agent/sessions/metrics.go)",
}

// TestGeneratedRBAC_clusterRoleHoldsOnlyWhatMustBeClusterWide reads
// deploy/rbac/role.yaml (controller-gen's output, kept fresh by
// test/generated): every ClusterRole rule is one of clusterScoped and only
// reads, the Role is in the platform namespace, and Secrets are never
// listed or watched (a cache of Secrets would hold every Secret of the
// namespace in the agent's memory).
func TestGeneratedRBAC_clusterRoleHoldsOnlyWhatMustBeClusterWide(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "deploy", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var clusterRole, role *rbacv1.ClusterRole
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
	for {
		var r rbacv1.ClusterRole // a Role has the same fields
		if err := dec.Decode(&r); err != nil {
			break
		}
		switch r.Kind {
		case "ClusterRole":
			clusterRole = &r
		case "Role":
			if r.Namespace != platformNS {
				t.Errorf("the Role is in namespace %q, not %q: every namespaced marker says namespace=%s", r.Namespace, platformNS, platformNS)
			}
			role = &r
		}
	}
	if clusterRole == nil || role == nil {
		t.Fatalf("deploy/rbac/role.yaml must hold a ClusterRole and a Role (found ClusterRole %v, Role %v)", clusterRole != nil, role != nil)
	}
	for _, rule := range clusterRole.Rules {
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				if _, ok := clusterScoped[g+"/"+res]; !ok {
					t.Errorf("the ClusterRole grants %v on %s/%s: add namespace=%s to its marker, or argue it in clusterScoped", rule.Verbs, g, res, platformNS)
				}
			}
		}
		for _, v := range rule.Verbs {
			if !slices.Contains([]string{"get", "list", "watch"}, v) {
				t.Errorf("the ClusterRole may %s %v: cluster-wide rules only read", v, rule.Resources)
			}
		}
	}
	for _, rule := range role.Rules {
		if slices.Contains(rule.Resources, "secrets") && (slices.Contains(rule.Verbs, "list") || slices.Contains(rule.Verbs, "watch")) {
			t.Errorf("the Role lets the agent %v Secrets: it reads them by name only", rule.Verbs)
		}
	}
}
