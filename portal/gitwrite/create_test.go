package gitwrite

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/streamspace/streamspace/agent/gitsync"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// checkout writes the tree of c into a new folder, to build it as the
// agent would.
func (p *platform) checkout(c *object.Commit) string {
	p.t.Helper()
	dir := p.t.TempDir()
	files, err := c.Files()
	if err != nil {
		p.t.Fatal(err)
	}
	err = files.ForEach(func(f *object.File) error {
		s, err := f.Contents()
		if err != nil {
			return err
		}
		abs := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			return err
		}
		return os.WriteFile(abs, []byte(s), 0o644)
	})
	if err != nil {
		p.t.Fatal(err)
	}
	return dir
}

// built is what the agent applies from the local environment at c, as
// "Kind/name".
func (p *platform) built(c *object.Commit) []string {
	p.t.Helper()
	objs, err := gitsync.Build(p.checkout(c), "environments/local")
	if err != nil {
		p.t.Fatalf("build environments/local at %s: %v", c.Hash, err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return out
}

func newTemplate(name, category string) *streamv1.Template {
	mem, cpu := resource.MustParse("2Gi"), resource.MustParse("1")
	return &streamv1.Template{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "streamspace", ResourceVersion: "7",
			Labels: map[string]string{"app.kubernetes.io/part-of": "streamspace"}},
		Spec: streamv1.TemplateSpec{
			DisplayName:      "Ardour",
			Category:         category,
			BaseImage:        "lscr.io/linuxserver/ardour:8.12.0-ls1",
			DefaultResources: streamv1.Resources{Memory: &mem, CPU: &cpu},
			Ports:            []streamv1.TemplatePort{{Name: "http", ContainerPort: 3000}},
			Stream:           streamv1.StreamSpec{Protocol: "Selkies", Port: 3000, Path: "/"},
			VolumeMounts:     []streamv1.VolumeMount{{Name: "user-home", MountPath: "/config"}},
		},
	}
}

func TestPropose_createTemplateInANewCategoryByPullRequest(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	p := newPlatform(t)
	w, gh := p.pullRequestWriter()
	mainBefore := p.head("main")

	tpl := newTemplate("ardour", "Audio & Video")
	res, err := w.Propose(ctxFor(t), Change{Op: OpCreate, Kind: "Template", Name: "ardour", Object: tpl, Actor: "alice", Reason: "Add Ardour for the music lab"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Mode).To(Equal(ModePullRequest))
	g.Expect(res.Branch).To(MatchRegexp(`^streamspace/create-template-ardour-\d{8}-\d{6}-[0-9a-f]{7}$`))
	// The catalog is grouped in folders below catalog/kustomization.yaml:
	// a new category gets a folder of its own beside browsers/.
	g.Expect(res.File).To(Equal("catalog/audio-video/ardour.yaml"))
	g.Expect(res.Changes).To(Equal([]string{
		"created catalog/audio-video/ardour.yaml (Template ardour)",
		"catalog/kustomization.yaml: resources + audio-video/ardour.yaml",
	}))

	g.Expect(p.head("main").Hash).To(Equal(mainBefore.Hash))
	c := p.head(res.Branch)
	g.Expect(c.ParentHashes).To(Equal([]plumbing.Hash{mainBefore.Hash}))
	g.Expect(p.changedFiles(c)).To(Equal([]string{"catalog/audio-video/ardour.yaml", "catalog/kustomization.yaml"}))
	g.Expect(p.file(c, "catalog/kustomization.yaml")).To(Equal(strings.Replace(p.file(mainBefore, "catalog/kustomization.yaml"),
		"  - browsers/firefox.yaml\n", "  - audio-video/ardour.yaml\n  - browsers/firefox.yaml\n", 1)), "inserted in sorted place, nothing else touched")

	// The file is the object, as the catalog writes one: no namespace, no
	// server fields, no empty blocks; and it reads back as the same spec.
	doc := p.file(c, "catalog/audio-video/ardour.yaml")
	g.Expect(doc).To(HavePrefix("---\napiVersion: stream.space/v1alpha1\nkind: Template\nmetadata:\n  name: ardour\n  labels:\n"))
	for _, absent := range []string{"namespace", "resourceVersion", "status", "{}", "null"} {
		g.Expect(doc).NotTo(ContainSubstring(absent))
	}
	var back streamv1.Template
	g.Expect(yaml.UnmarshalStrict([]byte(doc), &back)).To(Succeed())
	g.Expect(back.Spec).To(Equal(tpl.Spec))

	// The agent's own build of the environment now applies it.
	g.Expect(p.built(c)).To(ContainElement("Template/ardour"))
	g.Expect(p.built(mainBefore)).NotTo(ContainElement("Template/ardour"))

	calls := gh.PullRequests()
	g.Expect(calls).To(HaveLen(1))
	g.Expect(calls[0].Body.Title).To(Equal("Template ardour: Add Ardour for the music lab"))
	g.Expect(calls[0].Body.Body).To(ContainSubstring("**alice** asked to create Template `ardour`"))
	g.Expect(calls[0].Body.Body).To(ContainSubstring("+++ b/catalog/audio-video/ardour.yaml"))
	g.Expect(c.Message).To(ContainSubstring("Created Template ardour through the StreamSpace portal:\n- created catalog/audio-video/ardour.yaml"))
}

func TestPropose_createBesideItsKind(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	w, err := New(p.config())
	if err != nil {
		t.Fatal(err)
	}
	quota := &streamv1.Quota{Spec: streamv1.QuotaSpec{Groups: []string{"musicians"}, Limits: streamv1.QuotaLimits{MaxSessions: ptr(int32(2))}}}
	plugin := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "stream.space/v1alpha1", "kind": "Plugin", "metadata": map[string]any{"name": "audit-export"},
		"spec": map[string]any{"repository": map[string]any{"name": "official"}, "pluginName": "audit-export", "version": "1.2.0", "enabled": true},
	}}
	for _, tc := range []struct {
		change     Change
		file, kust string
		before     string // the kustomization entry the new one goes before
		entry      string
	}{{
		change: Change{Op: OpCreate, Kind: "Template", Name: "librewolf", Object: newTemplate("librewolf", "Web Browsers"), Actor: "bob"},
		file:   "catalog/browsers/librewolf.yaml", kust: "catalog/kustomization.yaml", entry: "browsers/librewolf.yaml",
	}, {
		change: Change{Op: OpCreate, Kind: "Quota", Name: "musicians", Object: quota, Actor: "bob"},
		file:   "policies/quotas/musicians.yaml", kust: "policies/kustomization.yaml", before: "quotas/teams.yaml", entry: "quotas/musicians.yaml",
	}, {
		// No Plugin in the repository yet: the project's own layout.
		change: Change{Op: OpCreate, Kind: "Plugin", Name: "audit-export", Object: plugin, Actor: "bob"},
		file:   "policies/plugins/audit-export.yaml", kust: "policies/kustomization.yaml", before: "quotas/default.yaml", entry: "plugins/audit-export.yaml",
	}} {
		t.Run(tc.change.Kind, func(t *testing.T) {
			g := NewWithT(t)
			start := p.head("main")
			res, err := w.Propose(ctxFor(t), tc.change)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.File).To(Equal(tc.file))
			head := p.head("main")
			g.Expect(p.changedFiles(head)).To(ConsistOf(tc.file, tc.kust))
			want := p.file(start, tc.kust)
			if tc.before != "" {
				want = strings.Replace(want, "  - "+tc.before+"\n", "  - "+tc.entry+"\n  - "+tc.before+"\n", 1)
			} else {
				want += "  - " + tc.entry + "\n"
			}
			g.Expect(p.file(head, tc.kust)).To(Equal(want))
			g.Expect(p.built(head)).To(ContainElement(tc.change.Kind + "/" + tc.change.Name))
		})
	}
}

func TestPropose_createRefusals(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	w, err := New(p.config())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		change  Change
		is      error
		message string
	}{{
		name:    "a template of that name exists",
		change:  Change{Op: OpCreate, Kind: "Template", Name: "firefox", Object: newTemplate("firefox", "Web Browsers"), Actor: "eve"},
		is:      ErrAlreadyExists,
		message: `Template "firefox" is already defined in catalog/browsers/firefox.yaml`,
	}, {
		name:    "a quota of that name is one document of a shared file",
		change:  Change{Op: OpCreate, Kind: "Quota", Name: "ops", Object: &streamv1.Quota{Spec: streamv1.QuotaSpec{Default: true}}, Actor: "eve"},
		is:      ErrAlreadyExists,
		message: "policies/quotas/teams.yaml",
	}, {
		name:    "a name that climbs out of the folder",
		change:  Change{Op: OpCreate, Kind: "Quota", Name: "../../etc", Object: &streamv1.Quota{}, Actor: "eve"},
		is:      ErrInvalidChange,
		message: `Quota name "../../etc"`,
	}, {
		name:    "an object with nothing but metadata",
		change:  Change{Op: OpCreate, Kind: "Plugin", Name: "empty", Object: &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "empty"}}}, Actor: "eve"},
		is:      ErrInvalidChange,
		message: "no fields besides its metadata",
	}, {
		name:    "an unknown operation",
		change:  Change{Op: "rename", Kind: "Quota", Name: "designers", Actor: "eve"},
		is:      ErrInvalidChange,
		message: `unknown operation "rename"`,
	}, {
		name:    "delete of an object not in Git",
		change:  Change{Op: OpDelete, Kind: "Quota", Name: "nobody", Actor: "eve"},
		is:      ErrNotFound,
		message: `Quota "nobody"`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			refs := p.refs()
			res, err := w.Propose(ctxFor(t), tc.change)
			g.Expect(res).To(BeNil())
			g.Expect(err).To(MatchError(tc.is))
			g.Expect(err.Error()).To(ContainSubstring(tc.message))
			g.Expect(p.refs()).To(Equal(refs), "nothing pushed")
		})
	}
}

func TestPropose_deleteTemplateInUseByPullRequest(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	p := newPlatform(t)
	w, gh := p.pullRequestWriter()
	start := p.head("main")

	res, err := w.Propose(ctxFor(t), Change{Op: OpDelete, Kind: "Template", Name: "firefox", Actor: "alice",
		UsedBy: []string{"alice/firefox-1 (Running)", "bob/firefox-2 (Hibernated)"}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Branch).To(MatchRegexp(`^streamspace/delete-template-firefox-`))
	g.Expect(res.Changes).To(Equal([]string{
		"deleted catalog/browsers/firefox.yaml (Template firefox)",
		"catalog/kustomization.yaml: resources - browsers/firefox.yaml",
	}))
	c := p.head(res.Branch)
	g.Expect(p.changedFiles(c)).To(Equal([]string{"catalog/browsers/firefox.yaml", "catalog/kustomization.yaml"}))
	_, err = c.File("catalog/browsers/firefox.yaml")
	g.Expect(err).To(MatchError(object.ErrFileNotFound))
	// Its only entry: the list is left empty rather than null.
	g.Expect(p.file(c, "catalog/kustomization.yaml")).To(Equal(strings.Replace(p.file(start, "catalog/kustomization.yaml"), "resources:\n  - browsers/firefox.yaml\n", "resources: []\n", 1)))
	g.Expect(p.built(start)).To(ContainElement("Template/firefox"))
	g.Expect(p.built(c)).NotTo(ContainElement("Template/firefox"))

	body := gh.PullRequests()[0].Body.Body
	g.Expect(body).To(ContainSubstring("**alice** asked to delete Template `firefox`"))
	g.Expect(body).To(ContainSubstring("These sessions use Template `firefox`:\n\n- alice/firefox-1 (Running)\n- bob/firefox-2 (Hibernated)\n"))
	g.Expect(body).To(ContainSubstring("prune keeps Template `firefox` in the cluster while they exist"))
	g.Expect(gh.PullRequests()[0].Body.Title).To(Equal("Template firefox: delete"))
	g.Expect(c.Message).To(ContainSubstring("\nStill used by: alice/firefox-1 (Running), bob/firefox-2 (Hibernated)\n"))
}

func TestPropose_deleteOneDocumentOfASharedFile(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	p := newPlatform(t)
	w, err := New(p.config())
	g.Expect(err).NotTo(HaveOccurred())
	start := p.head("main")
	before := p.file(start, "policies/quotas/teams.yaml")

	res, err := w.Propose(ctxFor(t), Change{Op: OpDelete, Kind: "Quota", Name: "ops", Actor: "carol"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Changes).To(Equal([]string{"removed Quota ops from policies/quotas/teams.yaml (its other documents stay)"}))
	head := p.head("main")
	g.Expect(p.changedFiles(head)).To(Equal([]string{"policies/quotas/teams.yaml"}))
	b := strings.Split(before, "---\n")
	g.Expect(p.file(head, "policies/quotas/teams.yaml")).To(Equal(strings.Join(append(b[:2:2], b[3:]...), "---\n")), "the ops document and its separator are gone, the rest byte for byte")
	built := p.built(head)
	g.Expect(built).NotTo(ContainElement("Quota/ops"))
	g.Expect(built).To(ContainElements("Quota/lab", "Quota/research"))

	// A document with a head comment: the comment is part of it and goes
	// too; the file's leading comment stays.
	res, err = w.Propose(ctxFor(t), Change{Op: OpDelete, Kind: "Quota", Name: "lab", Actor: "carol"})
	g.Expect(err).NotTo(HaveOccurred())
	after := p.file(p.head("main"), "policies/quotas/teams.yaml")
	g.Expect(after).To(Equal(strings.Join(append(b[:1:1], b[3:]...), "---\n")))
	g.Expect(bytes.Count([]byte(after), []byte("kind: Quota"))).To(Equal(1))
}

// The session-facing fields of Template must survive the round trip
// through YAML exactly, e.g. an env var whose value reads as a number.
func TestNewDocument_keepsValuesThatLookLikeOtherTypes(t *testing.T) {
	g := NewWithT(t)
	tpl := newTemplate("x", "Office")
	tpl.Spec.Env = []streamv1.EnvVar{{Name: "PUID", Value: "1000"}, {Name: "FLAG", Value: "true"}}
	tpl.Spec.ImagePullPolicy = corev1.PullIfNotPresent
	out, _, err := newDocument(Change{Kind: "Template", Name: "x", Object: tpl})
	g.Expect(err).NotTo(HaveOccurred())
	var back streamv1.Template
	g.Expect(yaml.UnmarshalStrict(out, &back)).To(Succeed())
	g.Expect(back.Spec).To(Equal(tpl.Spec))
}
