package gitsync

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fluxcd/pkg/kustomize"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// Build runs kustomize on path inside the checkout at root. The filesystem
// is confined to root (no reads outside the checkout), plugins and remote
// bases are off, builds are serialised (kustomize has a concurrent map bug)
// and panics come back as errors: fluxcd/pkg/kustomize's SecureBuild does
// all of that.
//
// A tree that only lists files and sets a namespace is built without
// kustomize's quadratic steps, to the same result (see direct.go).
func Build(root, path string) ([]*unstructured.Unstructured, error) {
	resources, direct := buildDirect(root, path)
	if !direct {
		dir := filepath.Join(root, filepath.Clean("/"+path))
		res, err := kustomize.SecureBuild(root, dir, false)
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %w", path, err)
		}
		resources = res.Resources()
	}
	var objs []*unstructured.Unstructured
	for _, r := range resources {
		// Through JSON: kyaml's maps hold Go ints, which unstructured
		// objects (int64 only) cannot deep-copy.
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", path, r.CurId(), err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", path, r.CurId(), err)
		}
		objs = append(objs, u)
	}
	return objs, nil
}

// Allowed decides which kinds the agent may apply: the StreamSpace kinds it
// owns, NetworkPolicy, and a configured allow-list (ConfigMap by default,
// for the plugin permission policy). Sessions are ephemeral and never come
// from Git.
type Allowed struct {
	Extra []schema.GroupKind
}

// Kinds named where their use needs the name (what live sessions hold).
const (
	kindTemplate         = "Template"
	kindQuota            = "Quota"
	kindPluginRepository = "PluginRepository"
)

// knownKind is a kind the agent knows how to apply and watch for drift.
type knownKind struct {
	gk  schema.GroupKind
	obj client.Object
	// always: every sync may apply it; the others only when the allow-list
	// names them.
	always bool
}

// knownKinds is the one list of kinds the agent manages: Validate allows
// them, the drift controller watches them. Kinds added by the allow-list
// beyond these are applied and pruned but not watched for drift.
var knownKinds = []knownKind{
	{schema.GroupKind{Group: streamv1.GroupVersion.Group, Kind: kindTemplate}, &streamv1.Template{}, true},
	{schema.GroupKind{Group: streamv1.GroupVersion.Group, Kind: kindQuota}, &streamv1.Quota{}, true},
	{schema.GroupKind{Group: streamv1.GroupVersion.Group, Kind: "User"}, &streamv1.User{}, true},
	{schema.GroupKind{Group: streamv1.GroupVersion.Group, Kind: kindPluginRepository}, &streamv1.PluginRepository{}, true},
	{schema.GroupKind{Group: streamv1.GroupVersion.Group, Kind: "Plugin"}, &streamv1.Plugin{}, true},
	{schema.GroupKind{Group: networkingv1.GroupName, Kind: "NetworkPolicy"}, &networkingv1.NetworkPolicy{}, true},
	// The plugin permission policy; in the default allow-list.
	{schema.GroupKind{Kind: "ConfigMap"}, &corev1.ConfigMap{}, false},
}

func alwaysAllowed(gk schema.GroupKind) bool {
	for _, k := range knownKinds {
		if k.gk == gk {
			return k.always
		}
	}
	return false
}

// DefaultAllowed is the allow-list without a configuration.
var DefaultAllowed = Allowed{Extra: []schema.GroupKind{{Kind: "ConfigMap"}}}

// ParseAllowed reads an allow-list like "ConfigMap,ServiceMonitor.monitoring.coreos.com".
func ParseAllowed(list string) Allowed {
	a := Allowed{Extra: []schema.GroupKind{}}
	for _, item := range strings.Split(list, ",") {
		if item = strings.TrimSpace(item); item != "" {
			a.Extra = append(a.Extra, schema.ParseGroupKind(item))
		}
	}
	return a
}

// Validate checks every object is of an allowed kind and puts it in the
// platform namespace. It names every offending object, not just the first.
func (a Allowed) Validate(objs []*unstructured.Unstructured, namespace string) error {
	if len(objs) == 0 {
		return &ValidationError{msg: "the build produced no objects; refusing to apply an empty set (it would prune everything)"}
	}
	var bad []string
	for _, o := range objs {
		gk := o.GroupVersionKind().GroupKind()
		if !alwaysAllowed(gk) && !a.has(gk) {
			bad = append(bad, fmt.Sprintf("%s %s", kindOf(gk), o.GetName()))
			continue
		}
		if ns := o.GetNamespace(); ns != "" && ns != namespace {
			bad = append(bad, fmt.Sprintf("%s %s (namespace %s: objects land in %s)", kindOf(gk), o.GetName(), ns, namespace))
			continue
		}
		o.SetNamespace(namespace)
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return &ValidationError{msg: "objects the agent may not apply: " + strings.Join(bad, ", ")}
	}
	return nil
}

// ValidationError says why built objects were refused.
type ValidationError struct{ msg string }

func (e *ValidationError) Error() string { return e.msg }

func (a Allowed) has(gk schema.GroupKind) bool {
	for _, x := range a.Extra {
		if x == gk {
			return true
		}
	}
	return false
}

func kindOf(gk schema.GroupKind) string {
	if gk.Group == "" {
		return gk.Kind
	}
	return gk.Kind + "." + gk.Group
}
