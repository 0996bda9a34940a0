package gitsync_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// kubectlEdit changes a Template the way `kubectl edit` does: a patch of
// the edited fields under the field manager kubectl-edit.
func kubectlEdit(t *testing.T, ns, name, mergePatch string) {
	t.Helper()
	tpl := &streamv1.Template{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := env.Client.Patch(context.Background(), tpl, client.RawPatch("application/merge-patch+json", []byte(mergePatch)), client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatalf("edit %s: %v", name, err)
	}
}

func TestDrift_warnMode_reportsWithinSeconds_andLeavesIt(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns, r, gs := setup(t)
	waitRevision(t, gs, r.head())

	// What Git does not set is not drift: a new annotation.
	kubectlEdit(t, ns, "gimp", `{"metadata":{"annotations":{"note.example.com/owner":"design team"}}}`)
	// What Git sets is.
	edited := time.Now()
	kubectlEdit(t, ns, "firefox", `{"spec":{"displayName":"Firefox (hacked)"}}`)

	var got *streamv1.GitSync
	g.Eventually(func(g Gomega) {
		got = &streamv1.GitSync{}
		g.Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(gs), got)).To(Succeed())
		g.Expect(cond(got, streamv1.ConditionDrifted)).NotTo(BeNil())
		// Conditions are patched just before the rest of the status.
		g.Expect(got.Status.Drift).NotTo(BeEmpty())
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
	t.Logf("drift reported %.1fs after the edit", time.Since(edited).Seconds())

	g.Expect(got.Status.Drift).To(HaveLen(1), "only firefox drifted: %+v", got.Status.Drift)
	d := got.Status.Drift[0]
	g.Expect(d.ID).To(Equal(ns + "_firefox_stream.space_Template"))
	g.Expect(d.Fields).To(Equal([]string{"spec.displayName"}))
	g.Expect(d.Manager).To(Equal("kubectl-edit"))
	g.Expect(d.Corrected).To(BeFalse())
	g.Expect(testutil.ToFloat64(metrics.DriftDetected.WithLabelValues(ns, "platform", "Template", "firefox"))).To(Equal(1.0))
	g.Expect(testutil.ToFloat64(metrics.Drifted.WithLabelValues(ns, "platform"))).To(Equal(1.0))

	g.Consistently(func(g Gomega) {
		tpl := &streamv1.Template{}
		g.Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "firefox"}, tpl)).To(Succeed())
		g.Expect(tpl.Spec.DisplayName).To(Equal("Firefox (hacked)"), "warn mode leaves the drift")
	}, time.Second, 200*time.Millisecond).Should(Succeed())

	// Put back by hand: the drift is gone.
	kubectlEdit(t, ns, "firefox", `{"spec":{"displayName":"Firefox"}}`)
	g.Eventually(func(g Gomega) {
		got = &streamv1.GitSync{}
		g.Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(gs), got)).To(Succeed())
		g.Expect(got.Status.Drift).To(BeEmpty())
		g.Expect(cond(got, streamv1.ConditionDrifted)).To(BeNil())
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
}

func TestDrift_correctMode_revertsTheEdit(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns, r, gs := setup(t)
	waitRevision(t, gs, r.head())
	g.Expect(env.Client.Patch(context.Background(), gs, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"driftMode":"correct"}}`)))).To(Succeed())

	kubectlEdit(t, ns, "blender", `{"spec":{"baseImage":"evil/blender:6.6.6"}}`)
	g.Eventually(func(g Gomega) {
		tpl := &streamv1.Template{}
		g.Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "blender"}, tpl)).To(Succeed())
		g.Expect(tpl.Spec.BaseImage).NotTo(Equal("evil/blender:6.6.6"))
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
	g.Eventually(func(g Gomega) {
		got := &streamv1.GitSync{}
		g.Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(gs), got)).To(Succeed())
		g.Expect(got.Status.Drift).To(ContainElement(And(
			HaveField("ID", ns+"_blender_stream.space_Template"), HaveField("Corrected", true),
			HaveField("Manager", "kubectl-edit"), HaveField("Fields", []string{"spec.baseImage"}))))
		g.Expect(cond(got, streamv1.ConditionDrifted)).To(BeNil(), "corrected drift is not open drift")
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
	g.Expect(testutil.ToFloat64(metrics.DriftCorrected.WithLabelValues(ns, "platform", "Template", "blender"))).To(Equal(1.0))

	// A deleted object comes back too.
	tpl := &streamv1.Template{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "krita"}}
	g.Expect(env.Client.Delete(context.Background(), tpl)).To(Succeed())
	g.Eventually(func() error {
		return env.Client.Get(context.Background(), client.ObjectKeyFromObject(tpl), &streamv1.Template{})
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
}
