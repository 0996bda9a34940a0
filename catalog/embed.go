package catalog

import (
	"embed"
	"fmt"
	"io/fs"

	"sigs.k8s.io/yaml"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

//go:embed */*.yaml
var files embed.FS

// Templates are this catalog's templates as the binary was built with them:
// the tags `streamspace catalog import` pins to without a registry.
func Templates() ([]streamv1.Template, error) { return Read(files) }

// Read reads every Template in the YAML files of fsys (one per file, as
// the catalog keeps them).
func Read(fsys fs.FS) ([]streamv1.Template, error) {
	var out []streamv1.Template
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "kustomization.yaml" || (!hasSuffix(p, ".yaml") && !hasSuffix(p, ".yml")) {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		var t streamv1.Template
		if err := yaml.Unmarshal(data, &t); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if t.Kind == "Template" {
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}
