// Package catalog is the template catalog's conventions as code: how a new
// template for an image is filled in so that it looks like the ones beside
// it. The YAML in this folder is the catalog itself; this file only reads
// it (through the templates it is given), it never holds a copy.
package catalog

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// Request is what a person says about a new template; everything else
// comes from the conventions.
type Request struct {
	// Image is the image reference, pinned to a tag or digest.
	Image string
	// Name of the Template; default: the image's repository name.
	Name string
	// DisplayName; default: Name with its words capitalised.
	DisplayName string
	// Category; default: the model's.
	Category    string
	Description string
	// Stream overrides the protocol and port of the model (needed for an
	// image family the catalog does not hold yet).
	Stream *streamv1.StreamSpec
	// HomePath overrides where the user's home is mounted.
	HomePath string
}

// FromImage builds a Template for req.Image as the catalog would hold it.
// The model is the template in models whose image shares the longest
// registry and repository path with the new image (lscr.io/linuxserver/…
// for a linuxserver.io image): its ports, stream, home mount, environment,
// security, resources, capabilities and data policy are taken, with the
// app's own title. Without a model, req.Stream and req.HomePath must say
// how the image streams. The second result says where each convention came
// from, for the person to review.
func FromImage(req Request, models []streamv1.Template) (*streamv1.Template, []string, error) {
	repo, tag, err := splitImage(req.Image)
	if err != nil {
		return nil, nil, err
	}
	if tag == "latest" {
		return nil, nil, fmt.Errorf("image %s: the mutable :latest tag would change under running sessions; name a version", req.Image)
	}
	name := req.Name
	if name == "" {
		name = repo[strings.LastIndex(repo, "/")+1:]
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return nil, nil, fmt.Errorf("template name %q: %s", name, strings.Join(errs, "; "))
	}
	var notes []string
	t := &streamv1.Template{}
	t.APIVersion, t.Kind = streamv1.GroupVersion.String(), "Template"
	t.Name = name
	model := closest(repo, models)
	if model != nil {
		notes = append(notes, fmt.Sprintf("ports, stream, home mount, environment, security, resources, capabilities and data policy follow template %s (%s)", model.Name, model.Spec.BaseImage))
		t.Spec = *model.Spec.DeepCopy()
		t.Spec.Tags, t.Spec.Description, t.Spec.Icon, t.Spec.IdleTimeout = nil, "", "", nil
		t.Labels = map[string]string{}
		for k, v := range model.Labels {
			t.Labels[k] = v
		}
	} else {
		if req.Stream == nil || req.HomePath == "" {
			return nil, nil, fmt.Errorf("no template in the catalog comes from %s: say how the image streams (stream protocol and port) and where the user's home goes", registryPath(repo))
		}
		mem, cpu := resource.MustParse("2Gi"), resource.MustParse("1")
		t.Spec.DefaultResources = streamv1.Resources{Memory: &mem, CPU: &cpu}
		notes = append(notes, "no template in the catalog comes from "+registryPath(repo)+": default resources 2Gi and 1 CPU")
	}
	t.Spec.BaseImage = req.Image
	if req.Stream != nil {
		s := *req.Stream
		if s.Path == "" {
			s.Path = "/"
		}
		t.Spec.Stream = s
		if !slices.ContainsFunc(t.Spec.Ports, func(p streamv1.TemplatePort) bool { return p.ContainerPort == s.Port }) {
			t.Spec.Ports = []streamv1.TemplatePort{{Name: "http", ContainerPort: s.Port}}
		}
	}
	if req.HomePath != "" {
		t.Spec.VolumeMounts = []streamv1.VolumeMount{{Name: "user-home", MountPath: req.HomePath}}
	}
	t.Spec.DisplayName = req.DisplayName
	if t.Spec.DisplayName == "" {
		t.Spec.DisplayName = title(name)
	}
	for i, e := range t.Spec.Env {
		if e.Name == "TITLE" {
			t.Spec.Env[i].Value = t.Spec.DisplayName
		}
	}
	if req.Category != "" {
		t.Spec.Category = req.Category
	}
	if t.Spec.Category == "" {
		return nil, nil, fmt.Errorf("template %s: a category is needed", name)
	}
	if t.Labels == nil {
		t.Labels = map[string]string{"app.kubernetes.io/part-of": "streamspace"}
	}
	if _, ok := t.Labels[CategoryLabel]; ok || model == nil {
		t.Labels[CategoryLabel] = Slug(t.Spec.Category)
	}
	t.Spec.Description = req.Description
	return t, notes, nil
}

// CategoryLabel carries a template's category as a label value, for
// selectors.
const CategoryLabel = "stream.space/category"

var notSlug = regexp.MustCompile(`[^a-z0-9]+`)

// Slug is a category as a folder name or label value: "Audio & Video"
// becomes "audio-video".
func Slug(category string) string {
	s := strings.Trim(notSlug.ReplaceAllString(strings.ToLower(category), "-"), "-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	if s == "" {
		return "other"
	}
	return s
}

// closest is the model whose image repository shares the most path
// segments with repo, at least the registry and its first path segment.
func closest(repo string, models []streamv1.Template) *streamv1.Template {
	want := strings.Split(repo, "/")
	var best *streamv1.Template
	bestN := 1
	for i := range models {
		r, _, err := splitImage(models[i].Spec.BaseImage)
		if err != nil {
			continue
		}
		got := strings.Split(r, "/")
		n := 0
		for n < len(want)-1 && n < len(got)-1 && want[n] == got[n] {
			n++
		}
		if n < 2 || best != nil && n < bestN {
			continue
		}
		// Among equals, one that mounts the user's home is the better
		// model: a template without one loses the user's files.
		if best == nil || n > bestN || mountsHome(&models[i]) && !mountsHome(best) ||
			mountsHome(&models[i]) == mountsHome(best) && models[i].Name < best.Name {
			best, bestN = &models[i], n
		}
	}
	return best
}

func mountsHome(t *streamv1.Template) bool {
	return slices.ContainsFunc(t.Spec.VolumeMounts, func(m streamv1.VolumeMount) bool { return m.Name == "user-home" })
}

func registryPath(repo string) string {
	if i := strings.LastIndex(repo, "/"); i > 0 {
		return repo[:i] + "/"
	}
	return repo
}

// splitImage returns the repository (with registry, docker.io made
// explicit) and the tag ("" with only a digest) of an image reference.
func splitImage(image string) (string, string, error) {
	if image == "" || strings.ContainsAny(image, " \t\r\n") {
		return "", "", fmt.Errorf("image %q is not an image reference", image)
	}
	ref, _, _ := strings.Cut(image, "@")
	repo, tag := ref, ""
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo, tag = ref[:i], ref[i+1:]
	}
	if tag == "" && !strings.Contains(image, "@") {
		return "", "", fmt.Errorf("image %s carries neither a tag nor a digest; pin a version", image)
	}
	parts := strings.Split(repo, "/")
	if len(parts) == 1 || !strings.ContainsAny(parts[0], ".:") && parts[0] != "localhost" {
		if len(parts) == 1 {
			parts = append([]string{"library"}, parts...)
		}
		parts = append([]string{"docker.io"}, parts...)
	}
	return strings.Join(parts, "/"), tag, nil
}

// SplitImage is splitImage for the catalog import.
func SplitImage(image string) (repo, tag string, err error) { return splitImage(image) }

func title(name string) string {
	words := strings.FieldsFunc(name, func(r rune) bool { return r == '-' || r == '.' || r == '_' })
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}
