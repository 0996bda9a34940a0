package gitwrite

import (
	"encoding/json"
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// notFromTheObject are the top-level fields a write-back never takes from
// the object. Git owns apiVersion, kind and metadata (the live metadata
// carries resourceVersion, uid, managedFields, the overlay's namespace and
// labels, kubectl's annotations: nothing that belongs in the base file);
// the cluster owns status.
var notFromTheObject = []string{"apiVersion", "kind", "metadata", "status"}

// desired is the object as JSON-shaped data (maps, []any, string, bool,
// int64, float64), without the fields Git keeps for itself.
func desired(obj runtime.Object) (map[string]any, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode the object: %w", err)
	}
	return jsonFields(data)
}

// canonical reads a document from Git the way obj's type reads it, so that
// what the type cannot tell apart is not a change: "cpu: 1000m" and a
// Quantity that prints as "1", "idleTimeout: 30m" and a Duration that prints
// as "30m0s", an omitted struct and its zero value. An unstructured object
// compares with the document as it is.
func canonical(doc []byte, like runtime.Object) (map[string]any, error) {
	data, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	if _, ok := like.(*unstructured.Unstructured); !ok {
		typed := reflect.New(reflect.TypeOf(like).Elem()).Interface()
		if err := json.Unmarshal(data, typed); err != nil {
			return nil, fmt.Errorf("read it as a %T: %w", like, err)
		}
		if data, err = json.Marshal(typed); err != nil {
			return nil, err
		}
	}
	return jsonFields(data)
}

// jsonFields decodes JSON with integers as int64 (as unstructured objects
// hold them) and drops the fields Git keeps for itself.
func jsonFields(data []byte) (map[string]any, error) {
	var m map[string]any
	if err := utiljson.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	for _, f := range notFromTheObject {
		delete(m, f)
	}
	return m, nil
}

// rebase applies the admin's edit, what changed from base to edited, onto
// the document in Git. A field the admin did not touch keeps Git's value
// even where the live object differs (an overlay's patch, a CRD default).
// Maps are merged key by key; lists and scalars are replaced whole.
func rebase(inGit, base, edited map[string]any) map[string]any {
	out := make(map[string]any, len(inGit))
	for k, v := range inGit {
		out[k] = v
	}
	for k := range base {
		if _, kept := edited[k]; !kept {
			delete(out, k)
		}
	}
	for k, e := range edited {
		b, inBase := base[k]
		if inBase && equal(b, e) {
			continue
		}
		em, editedMap := e.(map[string]any)
		bm, baseMap := b.(map[string]any)
		gm, gitMap := inGit[k].(map[string]any)
		if editedMap && baseMap && gitMap {
			out[k] = rebase(gm, bm, em)
			continue
		}
		out[k] = e
	}
	return out
}

func equal(a, b any) bool { return reflect.DeepEqual(a, b) }
