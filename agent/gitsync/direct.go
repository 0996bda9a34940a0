package gitsync

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/yaml"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// The direct build: kustomize's own result for the overlays that only list
// files and set a namespace, without kustomize's quadratic steps.
//
// kustomize (api v0.21) checks every resource it adds against every one it
// holds (resWrangler.Append scans the list and re-reads each resource's ID
// from its YAML), and its namespace transformer does the same scan once per
// resource: a catalog of 1,000 templates costs ~1.5 million ID
// reads, ~2.4 s of CPU, for a build whose only transformation is setting
// metadata.namespace (the profile of `make bench-gitsync`: 72% of the build
// under GetMatchingResourcesByCurrentId). For a tree that asks for nothing
// else, this build gives the same objects in the same order: it parses each
// file with kustomize's resource factory, checks IDs in a map, sets the
// namespace and drops local-config objects. Anything else — another kustomization field, a remote or
// escaping path, a symlink, a kind a transformer or name reference could
// touch, a duplicate ID, a file kustomize would refuse — returns ok=false
// and the caller runs kustomize, which builds it (or says what is wrong) as
// before. TestDirectBuildMatchesKustomize holds the two to the same output.

// directKustomizationFields are the kustomization fields the direct build
// implements; any other field sends the tree to kustomize.
var directKustomizationFields = map[string]bool{"apiVersion": true, "kind": true, "resources": true, "namespace": true}

// directKind says whether a direct build may take an object of this kind:
// namespaced kinds that no default kustomize transformer or name reference
// rewrites beyond metadata.namespace (nor refers from), so setting the
// namespace is all kustomize would do to them. The StreamSpace kinds are
// unknown to kustomize; ConfigMap is a name-reference target only (its name
// does not change here); NetworkPolicy has label field specs, used only by
// label transformers, which send the tree to kustomize anyway.
func directKind(g resid.Gvk) bool {
	switch {
	case g.Group == streamv1.GroupVersion.Group:
		return g.Kind != ""
	case g.Group == "" && g.Version == "v1" && g.Kind == "ConfigMap":
		return true
	case g.Group == "networking.k8s.io" && g.Kind == "NetworkPolicy":
		return true
	}
	return false
}

// errNotDirect sends a tree to kustomize.
var errNotDirect = errors.New("not a direct build")

// directBuilder builds one tree; rf is kustomize's resource factory (the one
// krusty uses), so files parse exactly as kustomize parses them.
type directBuilder struct {
	root string
	rf   *resource.Factory
	// open: the kustomization directories being built (a cycle goes to
	// kustomize, which reports it).
	open map[string]bool
}

// buildDirect builds the kustomization at path inside root directly, or
// reports ok=false when kustomize must build it.
func buildDirect(root, path string) (_ []*resource.Resource, ok bool) {
	root, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, false
	}
	b := &directBuilder{root: root, rf: provider.NewDefaultDepProvider().GetResourceFactory(), open: map[string]bool{}}
	res, err := b.kustomization(filepath.Join(root, filepath.Clean("/"+path)))
	if err != nil {
		return nil, false
	}
	// What kustomize does once, at the top: drop local-config objects
	// (after the ID checks, as kustomize does) and strip its own
	// annotations. The order stays as read: the builds Build runs (fluxcd's
	// krusty options) do not reorder.
	kept := res[:0]
	for _, r := range res {
		if v, local := r.GetAnnotations()[konfig.IgnoredByKustomizeAnnotation]; local && v != "false" {
			continue
		}
		r.RemoveBuildAnnotations()
		if r.SetOrigin(nil) != nil || r.ClearTransformations() != nil {
			return nil, false
		}
		kept = append(kept, r)
	}
	return kept, true
}

// kustomization builds one kustomization directory: its resources in order,
// IDs unique (as resWrangler.Append demands), then its namespace.
func (b *directBuilder) kustomization(dir string) ([]*resource.Resource, error) {
	if b.open[dir] || len(b.open) > 32 {
		return nil, errNotDirect
	}
	b.open[dir] = true
	defer delete(b.open, dir)
	// kustomize accepts three file names (and refuses two at once); only the
	// usual one is built here.
	for _, other := range []string{"kustomization.yml", "Kustomization"} {
		if _, err := os.Lstat(filepath.Join(dir, other)); !errors.Is(err, os.ErrNotExist) {
			return nil, errNotDirect
		}
	}
	data, err := b.read(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k map[string]any
	if err := yaml.UnmarshalStrict(data, &k); err != nil || len(k) == 0 {
		return nil, errNotDirect
	}
	for field := range k {
		if !directKustomizationFields[field] {
			return nil, errNotDirect
		}
	}
	if v, ok := k["apiVersion"]; ok && v != "kustomize.config.k8s.io/v1beta1" {
		return nil, errNotDirect
	}
	if v, ok := k["kind"]; ok && v != "Kustomization" {
		return nil, errNotDirect
	}
	namespace := ""
	if v, ok := k["namespace"]; ok {
		if namespace, ok = v.(string); !ok {
			return nil, errNotDirect
		}
	}
	var entries []any
	if v, ok := k["resources"]; ok && v != nil {
		if entries, ok = v.([]any); !ok {
			return nil, errNotDirect
		}
	}

	var out []*resource.Resource
	ids := map[resid.ResId]bool{}
	add := func(rs []*resource.Resource) error {
		for _, r := range rs {
			id := r.CurId()
			if !directKind(id.Gvk) {
				return errNotDirect
			}
			if key := effectiveID(id); ids[key] {
				return errNotDirect // kustomize names the duplicate
			} else {
				ids[key] = true
			}
			out = append(out, r)
		}
		return nil
	}
	for _, e := range entries {
		entry, ok := e.(string)
		if !ok || entry == "" || strings.Contains(entry, "://") || strings.ContainsAny(entry, "?@\\") || filepath.IsAbs(entry) {
			return nil, errNotDirect // remote bases, odd paths: kustomize decides
		}
		path := filepath.Join(dir, entry)
		if !b.inside(path) {
			return nil, errNotDirect
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return nil, errNotDirect
		}
		var rs []*resource.Resource
		switch {
		case fi.Mode().IsRegular():
			data, err := b.read(path)
			if err != nil {
				return nil, err
			}
			if rs, err = b.rf.SliceFromBytes(data); err != nil {
				return nil, errNotDirect
			}
		case fi.IsDir():
			if rs, err = b.kustomization(path); err != nil {
				return nil, err
			}
		default:
			return nil, errNotDirect
		}
		if err := add(rs); err != nil {
			return nil, err
		}
	}
	if namespace == "" {
		return out, nil
	}
	// The namespace transformer: every kind directKind admits is namespaced,
	// so it sets metadata.namespace and nothing else; the IDs must stay
	// unique afterwards (two objects of one name from two namespaces).
	moved := map[resid.ResId]bool{}
	for _, r := range out {
		r.SetNamespace(namespace)
		key := effectiveID(r.CurId())
		if moved[key] {
			return nil, errNotDirect
		}
		moved[key] = true
	}
	return out, nil
}

// effectiveID is the ID kustomize compares (ResId.Equals): no namespace is
// the default namespace (every kind built here is namespaced).
func effectiveID(id resid.ResId) resid.ResId {
	if id.Namespace == "" {
		id.Namespace = resid.DefaultNamespace
	}
	return id
}

// inside says whether path is under the root and reached without symlinks
// (kustomize's confined filesystem decides those).
func (b *directBuilder) inside(path string) bool {
	rel, err := filepath.Rel(b.root, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return false
	}
	real, err := filepath.EvalSymlinks(path)
	return err == nil && real == filepath.Clean(path)
}

// read reads a regular file inside the root.
func (b *directBuilder) read(path string) ([]byte, error) {
	if !b.inside(path) {
		return nil, errNotDirect
	}
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return nil, errNotDirect
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, errNotDirect
	}
	return data, nil
}
