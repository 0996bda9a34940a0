package catalog

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// theCatalog is this folder's templates, as the models.
func theCatalog(t *testing.T) []streamv1.Template {
	var out []streamv1.Template
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") || d.Name() == "kustomization.yaml" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var tpl streamv1.Template
		if err := yaml.UnmarshalStrict(data, &tpl); err != nil {
			return err
		}
		out = append(out, tpl)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFromImage_followsTheCatalog(t *testing.T) {
	g := NewWithT(t)
	models := theCatalog(t)
	g.Expect(len(models)).To(BeNumerically(">", 50))
	tpl, notes, err := FromImage(Request{Image: "lscr.io/linuxserver/musescore:4.5.2-ls3", Category: "Audio & Video"}, models)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tpl.Name).To(Equal("musescore"))
	g.Expect(tpl.Spec.DisplayName).To(Equal("Musescore"))
	g.Expect(tpl.Spec.BaseImage).To(Equal("lscr.io/linuxserver/musescore:4.5.2-ls3"))
	g.Expect(tpl.Spec.Category).To(Equal("Audio & Video"))
	g.Expect(tpl.Labels).To(HaveKeyWithValue(CategoryLabel, "audio-video"))
	g.Expect(tpl.Spec.Stream).To(Equal(streamv1.StreamSpec{Protocol: streamv1.StreamSelkies, Port: 3000, Path: "/"}))
	g.Expect(tpl.Spec.Ports).To(ConsistOf(streamv1.TemplatePort{Name: "http", ContainerPort: 3000}))
	g.Expect(tpl.Spec.VolumeMounts).To(ConsistOf(streamv1.VolumeMount{Name: "user-home", MountPath: "/config"}))
	g.Expect(tpl.Spec.Env).To(ContainElement(streamv1.EnvVar{Name: "TITLE", Value: "Musescore"}))
	g.Expect(tpl.Spec.DefaultResources.Memory).NotTo(BeNil())
	g.Expect(tpl.Spec.Tags).To(BeEmpty(), "the model's own tags describe the model")
	g.Expect(notes).To(ConsistOf(ContainSubstring("follow template ")))
}

func TestFromImage_anotherFamilyNeedsItsStream(t *testing.T) {
	g := NewWithT(t)
	models := theCatalog(t)
	_, _, err := FromImage(Request{Image: "kasmweb/gimp:1.17.0", Category: "Graphics"}, models)
	g.Expect(err).To(MatchError(ContainSubstring("no template in the catalog comes from docker.io/kasmweb/")))

	tpl, _, err := FromImage(Request{Image: "kasmweb/gimp:1.17.0", Name: "gimp-kasm", Category: "Graphics",
		Stream: &streamv1.StreamSpec{Protocol: streamv1.StreamKasmVNC, Port: 6901}, HomePath: "/home/kasm-user"}, models)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tpl.Spec.Ports).To(Equal([]streamv1.TemplatePort{{Name: "http", ContainerPort: 6901}}))
	g.Expect(tpl.Spec.Stream.Path).To(Equal("/"))
	g.Expect(tpl.Spec.VolumeMounts).To(Equal([]streamv1.VolumeMount{{Name: "user-home", MountPath: "/home/kasm-user"}}))
	g.Expect(tpl.Labels).To(Equal(map[string]string{"app.kubernetes.io/part-of": "streamspace", CategoryLabel: "graphics"}))
}

func TestFromImage_refusals(t *testing.T) {
	models := theCatalog(t)
	for image, want := range map[string]string{
		"lscr.io/linuxserver/gimp:latest": "mutable :latest",
		"lscr.io/linuxserver/gimp":        "neither a tag nor a digest",
		"lscr.io/linuxserver/gimp 1.0":    "not an image reference",
		"":                                "not an image reference",
	} {
		if _, _, err := FromImage(Request{Image: image, Category: "Graphics"}, models); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", image, err, want)
		}
	}
	if _, _, err := FromImage(Request{Image: "lscr.io/linuxserver/gimp:3.0.4-ls1", Name: "Bad_Name"}, models); err == nil {
		t.Error("a name that is no DNS label was accepted")
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{"Audio & Video": "audio-video", "3D": "3d", "  ": "other", "Web Browsers": "web-browsers"} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}
