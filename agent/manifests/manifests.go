// Package manifests reads Kubernetes objects from YAML files.
package manifests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Object is an object read from a file, with where it came from.
type Object struct {
	// Source is "<file>#<document index>".
	Source string
	*unstructured.Unstructured
}

// ReadDir reads every object in the .yaml files under dir, in file order,
// skipping kustomization.yaml files and empty documents.
func ReadDir(dir string) ([]Object, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(path) == ".yaml" && d.Name() != "kustomization.yaml" {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var objs []Object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		got, err := Decode(f, data)
		if err != nil {
			return nil, err
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

// Decode reads every object in a multi-document YAML (or JSON) stream.
func Decode(source string, data []byte) ([]Object, error) {
	var objs []Object
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for i := 0; ; i++ {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return objs, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s#%d: %w", source, i, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("%s#%d: an object needs a kind and a metadata.name", source, i)
		}
		objs = append(objs, Object{Source: fmt.Sprintf("%s#%d", source, i), Unstructured: u})
	}
}
