package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/api/resource"
	sigsyaml "sigs.k8s.io/yaml"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// original is a Template written for the original StreamSpace
// (stream.space or stream.streamspace.io v1alpha1, or its older
// WorkspaceTemplate): a kasmvnc block instead of a stream, requests/limits
// or plain resources, a fixed namespace, usually a :latest image.
type original struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		DisplayName      string `yaml:"displayName"`
		Description      string `yaml:"description"`
		Category         string `yaml:"category"`
		Icon             string `yaml:"icon"`
		BaseImage        string `yaml:"baseImage"`
		DefaultResources struct {
			Memory   string `yaml:"memory"`
			CPU      string `yaml:"cpu"`
			Requests struct {
				Memory string `yaml:"memory"`
				CPU    string `yaml:"cpu"`
			} `yaml:"requests"`
			Limits struct {
				Memory string `yaml:"memory"`
				CPU    string `yaml:"cpu"`
			} `yaml:"limits"`
		} `yaml:"defaultResources"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int32  `yaml:"containerPort"`
			Protocol      string `yaml:"protocol"`
		} `yaml:"ports"`
		Env []struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		} `yaml:"env"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
		KasmVNC *struct {
			Enabled bool  `yaml:"enabled"`
			Port    int32 `yaml:"port"`
		} `yaml:"kasmvnc"`
		Capabilities []string `yaml:"capabilities"`
		Tags         []string `yaml:"tags"`
	} `yaml:"spec"`
}

// Imported is one converted template.
type Imported struct {
	Template *streamv1.Template
	// YAML is the file to write: the template, with a comment above
	// baseImage when its tag could not be pinned.
	YAML []byte
	// Changes says what the conversion did, one line each.
	Changes []string
	// Unpinned: the image tag could not be resolved; validate refuses the
	// file until a person pins it.
	Unpinned bool
}

// ErrNotATemplate marks a document the import leaves alone.
var ErrNotATemplate = errors.New("not a Template of the original StreamSpace")

// Import converts the original StreamSpace's templates in data (one or
// more YAML documents) into this catalog's format. models is this catalog:
// an image it holds gives the tag to pin a :latest or untagged image to,
// and its stream (linuxserver.io images moved from KasmVNC to Selkies on
// the same port); an image it does not hold keeps its tag and is marked.
func Import(data []byte, models []streamv1.Template) ([]Imported, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []Imported
	for i := 1; ; i++ {
		var o original
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if o.Kind == "" && o.Metadata.Name == "" {
			continue // an empty document
		}
		imp, err := convert(o, models)
		if err != nil {
			return nil, fmt.Errorf("document %d (%s %s): %w", i, o.Kind, o.Metadata.Name, err)
		}
		out = append(out, *imp)
	}
	return out, nil
}

func convert(o original, models []streamv1.Template) (*Imported, error) {
	if (o.Kind != "Template" && o.Kind != "WorkspaceTemplate") ||
		(o.APIVersion != "stream.space/v1alpha1" && o.APIVersion != "stream.streamspace.io/v1alpha1") {
		return nil, fmt.Errorf("%w: %s %s", ErrNotATemplate, o.APIVersion, o.Kind)
	}
	if o.Spec.KasmVNC == nil || !o.Spec.KasmVNC.Enabled {
		return nil, errors.New("kasmvnc is not enabled: a plain web app, which this catalog does not stream; left out")
	}
	var changes []string
	note := func(format string, args ...any) { changes = append(changes, fmt.Sprintf(format, args...)) }
	t := &streamv1.Template{}
	t.APIVersion, t.Kind, t.Name = streamv1.GroupVersion.String(), "Template", o.Metadata.Name
	if o.APIVersion != t.APIVersion || o.Kind != "Template" {
		note("%s %s became %s Template", o.APIVersion, o.Kind, t.APIVersion)
	}
	if o.Metadata.Namespace != "" {
		note("dropped the fixed namespace %q: environments/ overlays set it", o.Metadata.Namespace)
	}
	s := &t.Spec
	s.DisplayName, s.Description, s.Icon = o.Spec.DisplayName, strings.TrimSpace(o.Spec.Description), o.Spec.Icon
	s.Category = strings.Join(strings.Fields(o.Spec.Category), " ")
	if s.Category == "" {
		s.Category = "Utilities"
		note("no category: set to Utilities")
	} else if !IsRecommended(s.Category) {
		note("category %q kept (not a recommended one: validate warns, the catalog shows it as its own group)", s.Category)
	}
	t.Labels = map[string]string{"app.kubernetes.io/part-of": "streamspace", CategoryLabel: Slug(s.Category)}

	// The image: pinned to this catalog's tag when the catalog has it.
	s.BaseImage = o.Spec.BaseImage
	repo, tag, err := splitImage(o.Spec.BaseImage)
	if err != nil && strings.Contains(err.Error(), "neither a tag nor a digest") {
		// untagged: the repository is the whole reference
		repo, _, err = splitImage(o.Spec.BaseImage + ":latest")
	}
	unpinned := false
	model := (*streamv1.Template)(nil)
	if err == nil {
		model = sameRepository(repo, models)
	}
	switch {
	case err != nil:
		return nil, err
	case (tag == "latest" || tag == "") && model != nil:
		s.BaseImage = model.Spec.BaseImage
		note("image %s pinned to %s (the tag this catalog uses)", o.Spec.BaseImage, s.BaseImage)
	case tag == "latest" || tag == "":
		unpinned = true
		note("image %s NOT pinned: this catalog has no tag for it; pin a version (validate refuses the file until then)", o.Spec.BaseImage)
	}

	for _, p := range o.Spec.Ports {
		s.Ports = append(s.Ports, streamv1.TemplatePort{Name: p.Name, ContainerPort: p.ContainerPort})
	}
	port := o.Spec.KasmVNC.Port
	if port == 0 && len(s.Ports) > 0 {
		port = s.Ports[0].ContainerPort
	}
	s.Stream = streamv1.StreamSpec{Protocol: streamv1.StreamKasmVNC, Port: port, Path: "/"}
	if model != nil && !unpinned && model.Spec.Stream.Port == port {
		// The catalog's image of the same app on the same port: its
		// protocol is what the pinned image serves.
		s.Stream.Protocol = model.Spec.Stream.Protocol
	}
	note("kasmvnc {enabled: true, port: %d} became stream {protocol: %s, port: %d}", o.Spec.KasmVNC.Port, s.Stream.Protocol, port)
	if !slices.ContainsFunc(s.Ports, func(p streamv1.TemplatePort) bool { return p.ContainerPort == port }) {
		s.Ports = append(s.Ports, streamv1.TemplatePort{Name: "http", ContainerPort: port})
		note("added port %d for the stream", port)
	}

	r := o.Spec.DefaultResources
	mem, cpu := firstOf(r.Limits.Memory, r.Memory, r.Requests.Memory), firstOf(r.Limits.CPU, r.CPU, r.Requests.CPU)
	if r.Requests.Memory != "" || r.Limits.Memory != "" {
		note("defaultResources requests/limits became one size (the limit): memory %s, cpu %s", mem, cpu)
	}
	if mem != "" {
		q, err := resource.ParseQuantity(mem)
		if err != nil {
			return nil, fmt.Errorf("defaultResources memory %q: %w", mem, err)
		}
		s.DefaultResources.Memory = &q
	}
	if cpu != "" {
		q, err := resource.ParseQuantity(cpu)
		if err != nil {
			return nil, fmt.Errorf("defaultResources cpu %q: %w", cpu, err)
		}
		s.DefaultResources.CPU = &q
	}
	for _, e := range o.Spec.Env {
		s.Env = append(s.Env, streamv1.EnvVar{Name: e.Name, Value: e.Value})
	}
	for _, m := range o.Spec.VolumeMounts {
		s.VolumeMounts = append(s.VolumeMounts, streamv1.VolumeMount{Name: m.Name, MountPath: m.MountPath})
	}
	for _, c := range o.Spec.Capabilities {
		switch tc := streamv1.TemplateCapability(c); tc {
		case "Network", "Audio", "Clipboard", "FileTransfer", "GPU":
			s.Capabilities = append(s.Capabilities, tc)
		default:
			note("dropped capability %q (not one this catalog knows)", c)
		}
	}
	s.Tags = o.Spec.Tags
	if len(s.Tags) > 20 {
		note("kept the first 20 of %d tags", len(s.Tags))
		s.Tags = s.Tags[:20]
	}

	body, err := toYAML(t)
	if err != nil {
		return nil, err
	}
	if unpinned {
		body = bytes.Replace(body, []byte("  baseImage: "), []byte("  # streamspace catalog import: not pinned, no tag known for this image; pin a version\n  baseImage: "), 1)
	}
	return &Imported{Template: t, YAML: append([]byte("---\n"), body...), Changes: changes, Unpinned: unpinned}, nil
}

// toYAML writes the template as the catalog holds one: no status, no
// server fields, no empty blocks.
func toYAML(t *streamv1.Template) ([]byte, error) {
	data, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	pruned, _ := PruneEmpty(m)
	return sigsyaml.Marshal(pruned)
}

// PruneEmpty drops nulls, empty maps and empty lists, which a typed object
// marshals for every unset struct (defaultResources: {}) and which the
// catalog never writes. It reports whether anything is left.
func PruneEmpty(v any) (any, bool) {
	switch t := v.(type) {
	case nil:
		return nil, false
	case map[string]any:
		out := map[string]any{}
		for k, e := range t {
			if p, ok := PruneEmpty(e); ok {
				out[k] = p
			}
		}
		return out, len(out) > 0
	case []any:
		var out []any
		for _, e := range t {
			if p, ok := PruneEmpty(e); ok {
				out = append(out, p)
			}
		}
		return out, len(out) > 0
	default:
		return v, true
	}
}

func firstOf(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// sameRepository is the catalog template whose image is repo.
func sameRepository(repo string, models []streamv1.Template) *streamv1.Template {
	for i := range models {
		if r, _, err := splitImage(models[i].Spec.BaseImage); err == nil && r == repo {
			return &models[i]
		}
	}
	return nil
}
