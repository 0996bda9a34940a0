package gitsync

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fluxcd/pkg/kustomize"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestDirectBuildMatchesKustomize holds the direct build to kustomize: for
// each tree, the direct build is taken exactly when expected, and Build
// gives what `kustomize build` gives (the same objects, in the same order,
// or an error where kustomize errs).
func TestDirectBuildMatchesKustomize(t *testing.T) {
	tpl := func(name, extra string) string {
		return fmt.Sprintf("apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata:\n  name: %s\n%sspec:\n  displayName: %q\n  baseImage: img/%s:1.0\n  tags: [yes, no, on, \"1.10\", 1.10, 0755]\n", name, extra, name, name)
	}
	const kz = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
	catalog := map[string]string{
		// The bench's shape: an overlay that sets the namespace over a base
		// that lists files beside it.
		"env/kustomization.yaml":  kz + "namespace: streamspace\nresources: [../base, extra.yaml]\n",
		"base/kustomization.yaml": kz + "resources:\n  - ../t/b.yaml\n  - ../t/a.yaml\n  - ../t/multi.yaml\n  - nested\n",
		"t/a.yaml":                tpl("a", "  namespace: elsewhere\n  annotations: {config.kubernetes.io/origin: \"path: x\"}\n"),
		"t/b.yaml":                tpl("b", "  labels: {k: v}\n"),
		// Several documents, empty ones, a List, and a local-config object
		// kustomize drops at the end.
		"t/multi.yaml":                   "---\n---\n" + tpl("c", "") + "---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: policy}\n  data: {a: \"1\"}\n- apiVersion: networking.k8s.io/v1\n  kind: NetworkPolicy\n  metadata: {name: deny}\n  spec: {podSelector: {}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\n  annotations: {config.kubernetes.io/local-config: \"true\"}\n---\napiVersion: stream.space/v1alpha1\nkind: Quota\nmetadata: {name: default, annotations: {config.kubernetes.io/local-config: \"false\"}}\nspec: {}\n",
		"base/nested/kustomization.yaml": kz + "namespace: inner\nresources: [q.yaml]\n",
		"base/nested/q.yaml":             "apiVersion: stream.space/v1alpha1\nkind: Quota\nmetadata: {name: students}\nspec: {}\n",
		"env/extra.yaml":                 tpl("0-first", ""),
	}
	with := func(base map[string]string, changes map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range changes {
			if v == "" {
				delete(out, k)
			} else {
				out[k] = v
			}
		}
		return out
	}
	cases := []struct {
		name    string
		files   map[string]string
		path    string
		direct  bool
		symlink [2]string // [link, target]
	}{
		{name: "overlay over a base of files", files: catalog, path: "env", direct: true},
		{name: "base without a namespace", files: catalog, path: "base", direct: true},
		{name: "nested namespace only", files: catalog, path: "base/nested", direct: true},
		{name: "labels go to kustomize", path: "env", files: with(catalog, map[string]string{
			"env/kustomization.yaml": kz + "namespace: streamspace\nresources: [../base]\nlabels: [{pairs: {a: b}}]\n"})},
		{name: "a patch goes to kustomize", path: "env", files: with(catalog, map[string]string{
			"env/kustomization.yaml": kz + "namespace: streamspace\nresources: [../base]\npatches: [{target: {kind: Quota}, patch: '[{\"op\": \"add\", \"path\": \"/spec/x\", \"value\": 1}]'}]\n"})},
		{name: "a Deployment goes to kustomize", path: "base", files: with(catalog, map[string]string{
			"t/b.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {volumes: [{name: v, configMap: {name: policy}}]}}}\n"})},
		{name: "a duplicate is kustomize's error", path: "env", files: with(catalog, map[string]string{
			"t/b.yaml": tpl("a", "")})},
		{name: "a namespace collision is kustomize's error", path: "env", files: with(catalog, map[string]string{
			"t/b.yaml": tpl("a", "  namespace: other\n")})},
		{name: "default and no namespace are one ID", path: "base", files: with(catalog, map[string]string{
			"t/b.yaml": tpl("c", "  namespace: default\n")})},
		{name: "a missing file is kustomize's error", path: "env", files: with(catalog, map[string]string{
			"t/b.yaml": ""})},
		{name: "a cycle is kustomize's error", path: "env", files: with(catalog, map[string]string{
			"base/nested/kustomization.yaml": kz + "resources: [../../env]\n"})},
		{name: "a path out of the checkout is kustomize's error", path: "env", files: with(catalog, map[string]string{
			"env/kustomization.yaml": kz + "resources: [../../../../etc/hostname]\n"})},
		{name: "a symlink goes to kustomize", path: "base", symlink: [2]string{"t/link.yaml", "b.yaml"}, files: with(catalog, map[string]string{
			"base/kustomization.yaml": kz + "resources: [../t/link.yaml]\n"})},
		{name: "a file kustomize cannot parse", path: "base", files: with(catalog, map[string]string{
			"t/b.yaml": "kind: [\n"})},
		{name: "an empty kustomization", path: "base", files: with(catalog, map[string]string{
			"base/kustomization.yaml": "\n"})},
		{name: "a second kustomization file name", path: "base", files: with(catalog, map[string]string{
			"base/Kustomization": kz + "resources: [../t/a.yaml]\n"})},
		{name: "duplicate keys", path: "base", files: with(catalog, map[string]string{
			"base/kustomization.yaml": kz + "resources: [../t/a.yaml]\nresources: [../t/b.yaml]\n"})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tc.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.symlink[0] != "" {
				if err := os.Symlink(tc.symlink[1], filepath.Join(root, tc.symlink[0])); err != nil {
					t.Fatal(err)
				}
			}
			if _, direct := buildDirect(root, tc.path); direct != tc.direct {
				t.Fatalf("direct build taken: %t, want %t", direct, tc.direct)
			}
			want, wantErr := kustomizeYAML(root, tc.path)
			got, err := Build(root, tc.path)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("Build error %v; kustomize error %v", err, wantErr)
			}
			if wantErr != nil {
				if !strings.Contains(err.Error(), wantErr.Error()) {
					t.Fatalf("Build error %q does not carry kustomize's %q", err, wantErr)
				}
				return
			}
			var gotJSON []string
			for _, o := range got {
				b, err := o.MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				gotJSON = append(gotJSON, string(b))
			}
			if g, w := strings.Join(gotJSON, "\n"), strings.Join(want, "\n"); g != w {
				t.Fatalf("Build and kustomize differ\nBuild:\n%s\nkustomize:\n%s", g, w)
			}
			if tc.direct && len(got) == 0 {
				t.Fatal("the tree built nothing: the comparison proves nothing")
			}
		})
	}
}

// kustomizeYAML is what kustomize alone builds, as the JSON Build would give.
func kustomizeYAML(root, path string) ([]string, error) {
	res, err := kustomize.SecureBuild(root, filepath.Join(root, path), false)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range res.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		// Through unstructured, as Build does, so the two compare alike.
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			return nil, err
		}
		if b, err = u.MarshalJSON(); err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	return out, nil
}
