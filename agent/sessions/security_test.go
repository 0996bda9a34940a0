package sessions

import (
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/streamspace/streamspace/agent/manifests"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// Every Template this repository ships — the catalog and the local
// environment's — gives its pod no capability but those it names, no
// privilege escalation, RuntimeDefault seccomp and bounded scratch volumes,
// with and without a persistent home.
func TestPodTemplate_everyShippedTemplateDropsAllCapabilities(t *testing.T) {
	root := filepath.Join("..", "..") // go test runs in the package's folder
	var templates []streamv1.Template
	for _, dir := range []string{"catalog", "environments/local/templates"} {
		objs, err := manifests.ReadDir(filepath.Join(root, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.GetKind() != "Template" {
				continue
			}
			var tpl streamv1.Template
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &tpl); err != nil {
				t.Fatalf("%s: %v", o.Source, err)
			}
			templates = append(templates, tpl)
		}
	}
	if len(templates) < 60 {
		t.Fatalf("read %d templates, want the whole catalog", len(templates))
	}
	roots := 0
	for _, tpl := range templates {
		for _, home := range []bool{true, false} {
			s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Name: "s1"}, Spec: streamv1.SessionSpec{User: "alice", Template: tpl.Name, PersistentHome: ptr.To(home)}}
			pod := podTemplate(s, &tpl).Spec
			if p := pod.SecurityContext.SeccompProfile; p == nil || p.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("%s: seccomp %v, want RuntimeDefault", tpl.Name, p)
			}
			c := pod.Containers[0].SecurityContext
			if c == nil || c.Capabilities == nil || !slices.Equal(c.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Fatalf("%s: container security %+v, want capabilities dropped: ALL", tpl.Name, c)
			}
			var want []corev1.Capability
			for _, a := range tpl.Spec.Security.AddCapabilities {
				want = append(want, corev1.Capability(a))
			}
			if !slices.Equal(c.Capabilities.Add, want) {
				t.Errorf("%s: capabilities added %v, want exactly the template's %v", tpl.Name, c.Capabilities.Add, want)
			}
			if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
				t.Errorf("%s: allowPrivilegeEscalation %v, want false", tpl.Name, c.AllowPrivilegeEscalation)
			}
			for _, v := range pod.Volumes {
				if v.EmptyDir != nil && (v.EmptyDir.SizeLimit == nil || v.EmptyDir.SizeLimit.IsZero()) {
					t.Errorf("%s (home %v): emptyDir %s has no sizeLimit", tpl.Name, home, v.Name)
				}
			}
			if !home && !slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == streamv1.HomeVolumeName && v.EmptyDir != nil }) && tpl.HomeMountPath() != "" {
				t.Errorf("%s: no scratch home without a persistent home", tpl.Name)
			}
		}
		if !ptr.Deref(tpl.Spec.Security.RunAsNonRoot, true) {
			roots++
		}
	}
	t.Logf("%d templates (%d start as root), each with and without a home: drop ALL, only their own capabilities, no escalation", len(templates), roots)
}

// A template's own scratch sizeLimit wins over the default; an opt-in to
// privilege escalation is passed through (for an image that needs sudo).
func TestPodTemplate_scratchSizeAndEscalationFromTheTemplate(t *testing.T) {
	tpl := &streamv1.Template{Spec: streamv1.TemplateSpec{
		BaseImage: "x/y:1", Stream: streamv1.StreamSpec{Port: 6080},
		VolumeMounts: []streamv1.VolumeMount{{Name: "cache", MountPath: "/cache", SizeLimit: ptr.To(resource.MustParse("300Mi"))}, {Name: "tmp", MountPath: "/tmp"}},
		Security:     streamv1.TemplateSecurity{RunAsNonRoot: ptr.To(false), AllowPrivilegeEscalation: ptr.To(true), AddCapabilities: []streamv1.LinuxCapability{"SETUID"}},
	}}
	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Name: "s1"}, Spec: streamv1.SessionSpec{User: "alice"}}
	pod := podTemplate(s, tpl).Spec
	sizes := map[string]string{}
	for _, v := range pod.Volumes {
		sizes[v.Name] = v.EmptyDir.SizeLimit.String()
	}
	if sizes["cache"] != "300Mi" || sizes["tmp"] != DefaultScratchSize.String() {
		t.Errorf("scratch sizes %v, want cache 300Mi and tmp %s", sizes, DefaultScratchSize.String())
	}
	c := pod.Containers[0].SecurityContext
	if !*c.AllowPrivilegeEscalation || !slices.Equal(c.Capabilities.Add, []corev1.Capability{"SETUID"}) || pod.SecurityContext.RunAsNonRoot != nil {
		t.Errorf("container security %+v, pod %+v", c, pod.SecurityContext)
	}
}
