package gitwrite

import (
	"os"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsyaml "sigs.k8s.io/yaml"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

func fixture(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile("testdata/platform/" + path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// live decodes a document as the portal would get the object from the API
// server: with the overlay's namespace and labels, server-set metadata,
// kubectl's annotation and a status.
func live[T runtime.Object](t *testing.T, doc string, obj T) T {
	t.Helper()
	if err := sigsyaml.Unmarshal([]byte(doc), obj); err != nil {
		t.Fatal(err)
	}
	u, ok := any(obj).(*unstructured.Unstructured)
	var m metav1.Object
	if ok {
		m = u
	} else {
		m = any(obj).(metav1.Object)
	}
	m.SetNamespace("streamspace")
	m.SetResourceVersion("4711")
	m.SetUID("0b9f2a7e-5c1d-4e0a-9c39-6f1f6a1b2c3d")
	m.SetGeneration(3)
	m.SetCreationTimestamp(metav1.Now())
	m.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "streamspace-agent", Operation: metav1.ManagedFieldsOperationApply}})
	labels := m.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels["stream.space/environment"] = "local"
	m.SetLabels(labels)
	m.SetAnnotations(map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"})
	switch o := any(obj).(type) {
	case *streamv1.Quota:
		o.Status.ObservedGeneration = 3
	case *streamv1.Template:
		o.Status.ObservedGeneration = 3
	}
	return obj
}

// edited runs the editor on doc for obj and checks that the result reads
// back as exactly the desired object, whatever its text.
func edited(t *testing.T, doc string, obj runtime.Object) (string, []string) {
	t.Helper()
	g := NewWithT(t)
	var node yaml.Node
	g.Expect(yaml.Unmarshal([]byte(doc), &node)).To(Succeed())
	canon, err := canonical([]byte(doc), obj)
	g.Expect(err).NotTo(HaveOccurred())
	want, err := desired(obj)
	g.Expect(err).NotTo(HaveOccurred())
	changes := fieldChanges(canon, want)
	out, err := editDocument([]byte(doc), &node, canon, want)
	g.Expect(err).NotTo(HaveOccurred())
	got, err := canonical(out, obj)
	g.Expect(err).NotTo(HaveOccurred(), "edited document:\n%s", out)
	g.Expect(got).To(Equal(want), "edited document:\n%s", out)
	return string(out), changes
}

func TestEdit_liveMetadataAndSpellingAreNoChange(t *testing.T) {
	g := NewWithT(t)
	doc := fixture(t, "catalog/browsers/firefox.yaml")
	// "cpu: 1000m" reads back as "1": the same quantity, so no change.
	tpl := live(t, doc, &streamv1.Template{})
	out, changes := edited(t, doc, tpl)
	g.Expect(changes).To(BeEmpty())
	g.Expect(out).To(Equal(doc))
}

func TestEdit_scalarInListItemKeepsStyle(t *testing.T) {
	g := NewWithT(t)
	doc := fixture(t, "catalog/browsers/firefox.yaml")
	tpl := live(t, doc, &streamv1.Template{})
	for i := range tpl.Spec.Env {
		if tpl.Spec.Env[i].Name == "TZ" {
			tpl.Spec.Env[i].Value = "Europe/Berlin"
		}
	}
	q := resource.MustParse("2")
	tpl.Spec.DefaultResources.CPU = &q
	out, changes := edited(t, doc, tpl)
	g.Expect(changes).To(ConsistOf("spec.defaultResources.cpu: 1 → 2", "spec.env[2].value: Etc/UTC → Europe/Berlin"))
	want := strings.Replace(doc, `      value: "Etc/UTC"`, `      value: "Europe/Berlin"`, 1)
	want = strings.Replace(want, "    cpu: 1000m\n", "    cpu: \"2\"\n", 1)
	g.Expect(out).To(Equal(want))
}

func TestEdit_removedFieldLosesItsLine(t *testing.T) {
	g := NewWithT(t)
	doc := fixture(t, "catalog/browsers/firefox.yaml")
	tpl := live(t, doc, &streamv1.Template{})
	tpl.Spec.DataPolicy.Audio = false
	out, _ := edited(t, doc, tpl)
	g.Expect(out).To(Equal(strings.Replace(doc, "    audio: true\n", "", 1)))
}

func TestEdit_grownListAndFoldedStringAreReEmittedAlone(t *testing.T) {
	g := NewWithT(t)
	doc := fixture(t, "catalog/browsers/firefox.yaml")
	tpl := live(t, doc, &streamv1.Template{})
	tpl.Spec.Tags = append(tpl.Spec.Tags, "extensions")
	tpl.Spec.Description = "Firefox, with its profile kept in your home."
	out, _ := edited(t, doc, tpl)
	want := strings.Replace(doc, "    - privacy\n", "    - privacy\n    - extensions\n", 1)
	want = strings.Replace(want, `  description: >-
    Mozilla Firefox, the free and open-source web browser built on the Gecko
    engine, with its profile kept in your home.
`, `  description: >-
    Firefox, with its profile kept in your home.
`, 1)
	g.Expect(out).To(Equal(want))
	// The comment inside security is untouched.
	g.Expect(out).To(ContainSubstring("    # linuxserver.io images start as root (s6-overlay) and drop to PUID/PGID.\n    runAsNonRoot: false\n"))
}

func TestEdit_newFieldIsAppendedToItsMapping(t *testing.T) {
	g := NewWithT(t)
	doc := fixture(t, "catalog/browsers/firefox.yaml")
	tpl := live(t, doc, &streamv1.Template{})
	tpl.Spec.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(3000)}}}
	out, changes := edited(t, doc, tpl)
	g.Expect(changes).To(HaveLen(1))
	g.Expect(changes[0]).To(HavePrefix("spec.readinessProbe: (unset) → "))
	g.Expect(out).To(Equal(doc + "  readinessProbe:\n    httpGet:\n      path: /\n      port: 3000\n"))
}

func TestEdit_commentsQuotesAndFlowStyle(t *testing.T) {
	g := NewWithT(t)
	doc := strings.SplitN(fixture(t, "policies/quotas/teams.yaml"), "---\n", 3)[1]
	g.Expect(doc).To(ContainSubstring("name: lab"))

	// Unstructured objects are compared with the document as written.
	q := live(t, doc, &unstructured.Unstructured{})
	g.Expect(unstructured.SetNestedField(q.Object, "16Gi", "spec", "limits", "memory")).To(Succeed())
	g.Expect(unstructured.SetNestedField(q.Object, "6", "spec", "limits", "cpu")).To(Succeed())
	out, changes := edited(t, doc, q)
	g.Expect(changes).To(Equal([]string{"spec.limits.cpu: 4 → 6", "spec.limits.memory: 8Gi → 16Gi"}))
	g.Expect(out).To(Equal(strings.NewReplacer(
		"    memory: 8Gi # what the box can spare\n", "    memory: 16Gi # what the box can spare\n",
		"    cpu: '4'\n", "    cpu: '6'\n",
	).Replace(doc)))

	// A flow list is re-emitted as one, with its comment.
	q = live(t, doc, &unstructured.Unstructured{})
	g.Expect(unstructured.SetNestedStringSlice(q.Object, []string{"lab", "staff", "guests"}, "spec", "groups")).To(Succeed())
	out, _ = edited(t, doc, q)
	g.Expect(out).To(Equal(strings.Replace(doc, "  groups: [lab, staff] # both share the box\n", "  groups: [lab, staff, guests] # both share the box\n", 1)))
}

func TestEdit_blankLinesAndHeadCommentsStay(t *testing.T) {
	g := NewWithT(t)
	doc := strings.SplitN(fixture(t, "policies/quotas/teams.yaml"), "---\n", 4)[2]
	g.Expect(doc).To(ContainSubstring("name: ops"))
	q := live(t, doc, &streamv1.Quota{})
	q.Spec.Groups = append(q.Spec.Groups, "sre")
	// Typed durations print as "8h0m0s"; an unchanged one keeps its spelling.
	q.Spec.Limits.MaxSessions = nil
	out, _ := edited(t, doc, q)
	g.Expect(out).To(Equal(strings.NewReplacer(
		"    - ops\n", "    - ops\n    - sre\n",
		"    maxSessions: 6\n", "",
	).Replace(doc)))
	g.Expect(out).To(ContainSubstring("    # Ops keep consoles open all day.\n    memory: 12Gi\n"))
}
