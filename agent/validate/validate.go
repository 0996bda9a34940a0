// Package validate checks the platform repository's content before it
// reaches a cluster: every object against the StreamSpace CRD schemas
// (unknown fields, types, enums, patterns, CEL rules — with the API
// server's own validation code), duplicate YAML keys, kustomize overlays
// that do not build, and references to objects that do not exist. Every
// problem names its file and line.
package validate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/streamspace/streamspace/agent/gitsync"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/catalog"
)

// Problem is one thing wrong, where it is.
type Problem struct {
	File    string
	Line    int
	Message string
	// Warning: worth a look, but the agent would apply it (an unknown
	// category). Only errors fail a validation.
	Warning bool
}

func (p Problem) String() string {
	if p.Warning {
		return fmt.Sprintf("%s:%d: warning: %s", p.File, p.Line, p.Message)
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
}

// Errors counts the problems that are not warnings.
func Errors(problems []Problem) int {
	n := 0
	for _, p := range problems {
		if !p.Warning {
			n++
		}
	}
	return n
}

type kindSchema struct {
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

// Validator validates objects against CRDs.
type Validator struct {
	kinds map[schema.GroupVersionKind]*kindSchema
}

// Load reads the CRDs in dir (deploy/crd/bases of a checkout).
func Load(dir string) (*Validator, error) {
	v, err := LoadFS(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return v, nil
}

// LoadFS reads the CRDs in the YAML files at the top of fsys, such as the
// ones built into the binary (deploy.CRDs).
func LoadFS(fsys fs.FS) (*Validator, error) {
	files, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	v := &Validator{kinds: map[schema.GroupVersionKind]*kindSchema{}}
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := sigsyaml.UnmarshalStrict(data, crd); err != nil {
			return nil, fmt.Errorf("read CRD %s: %w", f, err)
		}
		for _, ver := range crd.Spec.Versions {
			if ver.Schema == nil || ver.Schema.OpenAPIV3Schema == nil {
				continue
			}
			internal := &apiextensions.JSONSchemaProps{}
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(ver.Schema.OpenAPIV3Schema, internal, nil); err != nil {
				return nil, fmt.Errorf("convert schema of %s: %w", crd.Name, err)
			}
			structural, err := structuralschema.NewStructural(internal)
			if err != nil {
				return nil, fmt.Errorf("structural schema of %s: %w", crd.Name, err)
			}
			validator, _, err := apiservervalidation.NewSchemaValidator(internal)
			if err != nil {
				return nil, fmt.Errorf("schema validator of %s: %w", crd.Name, err)
			}
			gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: ver.Name, Kind: crd.Spec.Names.Kind}
			v.kinds[gvk] = &kindSchema{structural: structural, validator: validator, cel: cel.NewValidator(structural, true, celconfig.PerCallLimit)}
		}
	}
	if len(v.kinds) == 0 {
		return nil, errors.New("no CRDs found")
	}
	return v, nil
}

// object is a decoded YAML document with its source.
type object struct {
	file string
	node *yaml.Node // the document's mapping node
	obj  map[string]any
}

func (o object) gvk() schema.GroupVersionKind {
	apiVersion, _ := o.obj["apiVersion"].(string)
	kind, _ := o.obj["kind"].(string)
	return schema.FromAPIVersionAndKind(apiVersion, kind)
}

func (o object) name() string {
	md, _ := o.obj["metadata"].(map[string]any)
	n, _ := md["name"].(string)
	return n
}

// Repo validates the content of a platform repository: catalog/,
// policies/ and environments/ under root, and builds every overlay in
// environments/. Paths in problems are relative to root.
func (v *Validator) Repo(root string) ([]Problem, int, error) {
	return v.RepoOverlays(root, nil)
}

// RepoOverlays is Repo building the given overlay folders (relative to
// root) instead of every environments/<name>. The objects each overlay
// builds are validated again after its patches, since a patch can break an
// object that is valid in its own file.
func (v *Validator) RepoOverlays(root string, overlayPaths []string) ([]Problem, int, error) {
	var problems []Problem
	var objects []object
	for _, dir := range []string{"catalog", "policies", "environments"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || (filepath.Ext(path) != ".yaml" && filepath.Ext(path) != ".yml") {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			objs, probs := readFile(path, rel)
			problems = append(problems, probs...)
			for _, o := range objs {
				if d.Name() != "kustomization.yaml" {
					objects = append(objects, o)
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, 0, err
		}
	}
	for _, o := range objects {
		problems = append(problems, v.Object(o)...)
	}
	problems = append(problems, references(objects)...)
	problems = append(problems, categories(objects)...)
	problems = append(problems, pluginConfigs(root, objects)...)
	built, err := v.overlays(root, overlayPaths, problems)
	if err != nil {
		return nil, 0, err
	}
	problems = append(problems, built...)
	sort.SliceStable(problems, func(i, j int) bool {
		if problems[i].File != problems[j].File {
			return problems[i].File < problems[j].File
		}
		return problems[i].Line < problems[j].Line
	})
	return problems, len(objects), nil
}

// readFile decodes every document of a YAML file and reports duplicate keys
// (which YAML parsers otherwise resolve silently, last one wins).
func readFile(path, rel string) ([]object, []Problem) {
	f, err := os.Open(path)
	if err != nil {
		return nil, []Problem{{File: rel, Line: 1, Message: err.Error()}}
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var objs []object
	var probs []Problem
	for {
		doc := &yaml.Node{}
		err := dec.Decode(doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			probs = append(probs, Problem{File: rel, Line: yamlErrorLine(err), Message: "invalid YAML: " + err.Error()})
			break
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			continue
		}
		root := doc.Content[0]
		probs = append(probs, duplicateKeys(rel, root)...)
		var m map[string]any
		if err := root.Decode(&m); err != nil {
			continue // duplicate keys: already reported
		}
		// Through JSON so numbers and maps have the types the API server's
		// validation expects (int64, float64, map[string]any).
		m, err = viaJSON(m)
		if err != nil {
			probs = append(probs, Problem{File: rel, Line: root.Line, Message: err.Error()})
			continue
		}
		objs = append(objs, object{file: rel, node: root, obj: m})
	}
	return objs, probs
}

var lineInError = regexp.MustCompile(`line (\d+)`)

func yamlErrorLine(err error) int {
	if m := lineInError.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 1
}

func duplicateKeys(file string, n *yaml.Node) []Problem {
	var probs []Problem
	switch n.Kind {
	case yaml.MappingNode:
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if first, dup := seen[k.Value]; dup {
				probs = append(probs, Problem{File: file, Line: k.Line, Message: fmt.Sprintf("duplicate key %q (first at line %d)", k.Value, first)})
			} else {
				seen[k.Value] = k.Line
			}
			probs = append(probs, duplicateKeys(file, n.Content[i+1])...)
		}
	case yaml.SequenceNode, yaml.DocumentNode:
		for _, c := range n.Content {
			probs = append(probs, duplicateKeys(file, c)...)
		}
	}
	return probs
}

// Object validates one object against its CRD, as the API server would:
// defaults, unknown fields, the OpenAPI schema, then the CEL rules.
func (v *Validator) Object(o object) []Problem {
	gvk := o.gvk()
	ks, ok := v.kinds[gvk]
	if !ok {
		return nil // not a StreamSpace kind: the API server validates it
	}
	obj := o.obj
	structuraldefaulting.Default(obj, ks.structural)
	opts := structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}
	pruned := pruning.PruneWithOptions(deepCopy(obj), ks.structural, true, opts)
	var probs []Problem
	for _, p := range pruned {
		probs = append(probs, Problem{File: o.file, Line: lineOf(o.node, p), Message: fmt.Sprintf("%s %s: unknown field %q", gvk.Kind, o.name(), p)})
	}
	errs := apiservervalidation.ValidateCustomResource(nil, obj, ks.validator)
	if len(errs) == 0 {
		celErrs, _ := ks.cel.Validate(context.Background(), nil, ks.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	for _, e := range errs {
		probs = append(probs, Problem{File: o.file, Line: lineOf(o.node, e.Field), Message: fmt.Sprintf("%s %s: %s", gvk.Kind, o.name(), describe(e))})
	}
	return probs
}

func describe(e *field.Error) string {
	if e.Type == field.ErrorTypeInvalid && e.Detail != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Detail)
	}
	return e.Error()
}

// references reports names that point at nothing in the repository.
func references(objects []object) []Problem {
	have := map[string]bool{}
	for _, o := range objects {
		have[o.gvk().Kind+"/"+o.name()] = true
	}
	var probs []Problem
	check := func(o object, path []string, kind string) {
		v, ok := nested(o.obj, path...)
		if s, isString := v.(string); ok && isString && s != "" && !have[kind+"/"+s] {
			probs = append(probs, Problem{File: o.file, Line: lineOf(o.node, strings.Join(path, ".")),
				Message: fmt.Sprintf("%s %s: %s refers to %s %q, which is not in the repository", o.gvk().Kind, o.name(), strings.Join(path, "."), kind, s)})
		}
	}
	for _, o := range objects {
		switch o.gvk().Kind {
		case "User":
			check(o, []string{"spec", "quota"}, "Quota")
		case "Plugin":
			check(o, []string{"spec", "repository", "name"}, "PluginRepository")
		}
	}
	return probs
}

// categories warns about a Template whose category is not a recommended
// one: any category is valid, but "Web Browser" beside "Web Browsers" is
// more likely a typo than a new group.
func categories(objects []object) []Problem {
	var probs []Problem
	for _, o := range objects {
		if o.gvk().Group != streamv1.GroupVersion.Group || o.gvk().Kind != "Template" {
			continue
		}
		c, _ := nested(o.obj, "spec", "category")
		if s, ok := c.(string); ok && s != "" && !catalog.IsRecommended(s) {
			probs = append(probs, Problem{File: o.file, Line: lineOf(o.node, "spec.category"), Warning: true,
				Message: fmt.Sprintf("Template %s: category %q is not a recommended one (%s); it will be a group of its own in the catalog", o.name(), s, strings.Join(catalog.Recommended, ", "))})
		}
	}
	return probs
}

// overlays builds the overlays the way the agent does (confined to the
// repository) and reports the ones that fail, and what their patches broke
// in objects that are valid in their own files (seen: the problems found
// in the files, not reported twice).
func (v *Validator) overlays(root string, paths []string, seen []Problem) ([]Problem, error) {
	if len(paths) == 0 {
		envs, _ := filepath.Glob(filepath.Join(root, "environments", "*", "kustomization.yaml"))
		for _, k := range envs {
			dir, _ := filepath.Rel(root, filepath.Dir(k))
			paths = append(paths, dir)
		}
	}
	known := map[string]bool{}
	for _, p := range seen {
		known[p.Message] = true
	}
	var probs []Problem
	for _, dir := range paths {
		dir = filepath.Clean(dir)
		if filepath.IsAbs(dir) || dir == ".." || strings.HasPrefix(dir, ".."+string(filepath.Separator)) {
			return nil, fmt.Errorf("overlay %s: give it relative to the repository %s, inside it", dir, root)
		}
		if _, err := os.Stat(filepath.Join(root, dir, "kustomization.yaml")); err != nil {
			return nil, fmt.Errorf("overlay %s: no kustomization.yaml in %s", dir, filepath.Join(root, dir))
		}
		objs, err := gitsync.Build(root, dir)
		if err != nil {
			probs = append(probs, locateBuildError(root, dir, err))
			continue
		}
		at := filepath.ToSlash(filepath.Join(dir, "kustomization.yaml"))
		for _, u := range objs {
			o := object{file: at, node: &yaml.Node{Line: 1}, obj: u.Object}
			for _, p := range v.Object(o) {
				if !known[p.Message] {
					known[p.Message] = true
					p.Message = fmt.Sprintf("overlay %s builds an invalid object: %s", dir, p.Message)
					probs = append(probs, p)
				}
			}
		}
	}
	return probs, nil
}

// locateBuildError points at the kustomization line naming the missing or
// broken resource when the error names one.
func locateBuildError(root, dir string, err error) Problem {
	msg := err.Error()
	files, _ := filepath.Glob(filepath.Join(root, "*", "kustomization.yaml"))
	more, _ := filepath.Glob(filepath.Join(root, "*", "*", "kustomization.yaml"))
	for _, f := range append(files, more...) {
		data, readErr := os.ReadFile(f)
		if readErr != nil {
			continue
		}
		for i, line := range strings.Split(string(data), "\n") {
			entry := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "- "))
			if entry != "" && strings.HasSuffix(entry, ".yaml") && strings.Contains(msg, entry) {
				rel, _ := filepath.Rel(root, f)
				return Problem{File: rel, Line: i + 1, Message: fmt.Sprintf("overlay %s does not build: resource %s: %s", dir, entry, msg)}
			}
		}
	}
	return Problem{File: filepath.Join(dir, "kustomization.yaml"), Line: 1, Message: "overlay does not build: " + msg}
}

var pathPart = regexp.MustCompile(`[^.\[\]]+|\[\d+\]`)

// lineOf finds the line of a field path ("spec.ports[0].containerPort") in
// a document, or the line of its deepest existing parent.
func lineOf(n *yaml.Node, path string) int {
	line := n.Line
	for _, part := range pathPart.FindAllString(path, -1) {
		switch {
		case n.Kind == yaml.SequenceNode && strings.HasPrefix(part, "["):
			i, _ := strconv.Atoi(strings.Trim(part, "[]"))
			if i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
		case n.Kind == yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == strings.Trim(part, `"`) {
					line = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return line
			}
		default:
			return line
		}
		line = max(line, n.Line)
	}
	return line
}

func nested(m map[string]any, path ...string) (any, bool) {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = mm[p]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

func viaJSON(m map[string]any) (map[string]any, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	return out, utiljson.Unmarshal(data, &out)
}

func deepCopy(m map[string]any) map[string]any {
	out, _ := viaJSON(m)
	return out
}
