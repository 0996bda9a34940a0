// Package crd checks the CRDs on a real API server: every object in
// catalog/ and policies/ is accepted, and bad objects are rejected with a
// message that names the problem.
package crd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/manifests"
	"github.com/streamspace/streamspace/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start(false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

func TestCRDs_acceptEveryCatalogAndPolicyObject(t *testing.T) {
	t.Parallel()
	ns, err := env.Namespace(context.Background(), "content")
	if err != nil {
		t.Fatal(err)
	}
	templates := 0
	for _, dir := range []string{"catalog", "policies"} {
		objs, err := manifests.ReadDir(filepath.Join(testenv.RepoRoot(), dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, obj := range objs {
			obj.SetNamespace(ns)
			if err := env.Client.Create(context.Background(), obj.Unstructured); err != nil {
				t.Errorf("%s (%s %s) rejected: %v", obj.Source, obj.GetKind(), obj.GetName(), err)
			}
			if obj.GetKind() == "Template" {
				templates++
			}
		}
	}
	if templates < 40 {
		t.Errorf("catalog has %d templates, want at least 40", templates)
	}
}

// template is a valid Template as YAML, with %s placeholders to break it.
func template(name, image, idle string) string {
	return fmt.Sprintf(`
apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: %s}
spec:
  displayName: App
  category: Utilities
  baseImage: %q
  ports: [{name: vnc-ws, containerPort: 6080}]
  stream: {protocol: WebsockifyVNC, port: 6080}
  idleTimeout: %q
`, name, image, idle)
}

func TestCRDs_rejectBadInputWithAClearMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns, err := env.Namespace(ctx, "bad")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, yaml, want string
	}{
		{"image without tag", template("a", "lscr.io/linuxserver/firefox", "30m"), "baseImage must carry a tag or a digest"},
		{"image on a registry port without tag", template("b", "registry:5000/firefox", "30m"), "baseImage must carry a tag or a digest"},
		{"image :latest", template("c", "lscr.io/linuxserver/firefox:latest", "30m"), "must not use the mutable :latest tag"},
		{"malformed duration", template("d", "x/y:1.0", "30 minutes"), `spec.idleTimeout: Invalid value: "30 minutes"`},
		{"stream port not exposed", strings.Replace(template("e", "x/y:1.0", "30m"), "port: 6080}", "port: 7000}", 1), "stream.port must be one of ports[].containerPort"},
		{"capabilities for a non-root app", template("f", "x/y:1.0", "30m") + "  security: {addCapabilities: [CHOWN]}\n", "addCapabilities needs runAsNonRoot: false"},
		{"a capability beyond the runtime's default", template("g", "x/y:1.0", "30m") + "  security: {runAsNonRoot: false, addCapabilities: [SYS_ADMIN]}\n", `Unsupported value: "SYS_ADMIN"`},
		{"unknown state", `
apiVersion: stream.space/v1alpha1
kind: Session
metadata: {name: s1}
spec: {user: alice, template: t, state: paused}`, `spec.state: Unsupported value: "paused"`},
		{"idle timeout too short", `
apiVersion: stream.space/v1alpha1
kind: Session
metadata: {name: s2}
spec: {user: alice, template: t, idleTimeout: 10s}`, "idleTimeout must be at least 1m"},
		{"user not a DNS label", `
apiVersion: stream.space/v1alpha1
kind: Session
metadata: {name: s3}
spec: {user: Alice_Smith, template: t}`, "spec.user: Invalid value"},
		{"session name too long for its Service", fmt.Sprintf(`
apiVersion: stream.space/v1alpha1
kind: Session
metadata: {name: %s}
spec: {user: alice, template: t}`, strings.Repeat("a", 61)), "session name must be at most 60 characters"},
		{"quota default and named", `
apiVersion: stream.space/v1alpha1
kind: Quota
metadata: {name: q1}
spec: {default: true, users: [alice], limits: {}}`, "the default quota cannot also name users or groups"},
		{"quota naming nobody", `
apiVersion: stream.space/v1alpha1
kind: Quota
metadata: {name: q2}
spec: {limits: {maxSessions: 1}}`, "a quota must be the default or name at least one user or group"},
		{"quota running over total", `
apiVersion: stream.space/v1alpha1
kind: Quota
metadata: {name: q3}
spec: {default: true, limits: {maxSessions: 1, maxRunningSessions: 2}}`, "maxRunningSessions cannot exceed maxSessions"},
		{"gitsync path escaping the repo", `
apiVersion: stream.space/v1alpha1
kind: GitSync
metadata: {name: g1}
spec: {url: "https://example.com/repo.git", path: "../etc"}`, "path must be relative and stay inside the repository"},
	}
	for _, c := range cases {
		obj := &unstructured.Unstructured{}
		if err := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(c.yaml), 4096).Decode(&obj.Object); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		obj.SetNamespace(ns)
		err := env.Client.Create(ctx, obj)
		if err == nil {
			t.Errorf("%s: accepted, want rejected with %q", c.name, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not contain %q", c.name, err, c.want)
		}
	}
}

func TestCRDs_sessionUserAndTemplateAreImmutable(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx := context.Background()
	ns, err := env.Namespace(ctx, "immutable")
	g.Expect(err).NotTo(HaveOccurred())
	s := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "stream.space/v1alpha1", "kind": "Session",
		"metadata": map[string]any{"name": "s", "namespace": ns},
		"spec":     map[string]any{"user": "alice", "template": "firefox"},
	}}
	g.Expect(env.Client.Create(ctx, s)).To(Succeed())
	g.Expect(s.Object["spec"].(map[string]any)["state"]).To(Equal("running"), "state defaults to running")
	err = env.Client.Patch(ctx, s, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"user":"mallory"}}`)))
	g.Expect(err).To(MatchError(ContainSubstring("user is immutable")))
	err = env.Client.Patch(ctx, s, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"template":"gimp"}}`)))
	g.Expect(err).To(MatchError(ContainSubstring("template is immutable")))
}
