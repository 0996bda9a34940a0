package sessions_test

import (
	"context"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

func getTemplate(g Gomega, ns, name string) *streamv1.Template {
	t := &streamv1.Template{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	get(g, t)
	return t
}

func TestTemplateStatus_countsSessions_andVerifiesTheImageFromRealStarts(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := newNamespace(t)
	mustCreate(t, template(ns, "light"))
	g.Eventually(func(g Gomega) {
		tpl := getTemplate(g, ns, "light")
		g.Expect(conditions.GetReason(tpl, streamv1.ConditionImageVerified)).To(Equal(streamv1.ReasonNotYetStarted))
		g.Expect(tpl.Status.Sessions).To(Equal(streamv1.TemplateSessions{}))
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())

	// Running with a pod whose container started: the image is verified.
	amy := session(ns, "amy-light", "amy", "light")
	mustCreate(t, amy)
	g.Eventually(func(g Gomega) { deploymentOf(g, amy) }, 10*time.Second).Should(Succeed())
	createReadyPod(t, ns, amy)
	markAvailable(t, ns, amy.Name)
	waitPhase(t, ns, amy.Name, streamv1.PhaseRunning)
	// Another one, hibernated.
	launchRunning(t, ns, "bob-light", "bob", "light")
	g.Expect(setState(t, ns, "bob-light", streamv1.StateHibernated)).To(Succeed())
	markScaledDown(t, ns, "bob-light")
	waitPhase(t, ns, "bob-light", streamv1.PhaseHibernated)

	var started metav1.Time
	g.Eventually(func(g Gomega) {
		tpl := getTemplate(g, ns, "light")
		g.Expect(tpl.Status.Sessions).To(Equal(streamv1.TemplateSessions{Total: 2, Running: 1, Hibernated: 1}))
		g.Expect(conditions.IsTrue(tpl, streamv1.ConditionImageVerified)).To(BeTrue(), "%v", tpl.Status.Conditions)
		g.Expect(tpl.Status.LastImageStart).NotTo(BeNil())
		g.Expect(tpl.Status.LastImageStart.Session).To(Equal("amy-light"))
		g.Expect(tpl.Status.LastImageStart.Image).To(Equal("localhost/streamspace/light:1.0.0"))
		g.Expect(tpl.Status.ObservedGeneration).To(Equal(tpl.Generation))
		started = tpl.Status.LastImageStart.At
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())

	// The evidence outlives the session; the counts do not.
	g.Expect(env.Client.Delete(context.Background(), amy)).To(Succeed())
	g.Eventually(func(g Gomega) {
		tpl := getTemplate(g, ns, "light")
		g.Expect(tpl.Status.Sessions).To(Equal(streamv1.TemplateSessions{Total: 1, Hibernated: 1}))
		g.Expect(conditions.IsTrue(tpl, streamv1.ConditionImageVerified)).To(BeTrue())
		g.Expect(tpl.Status.LastImageStart.At.Equal(&started)).To(BeTrue())
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())

	// A new image has not been seen yet; a session that cannot start it
	// makes it False with the runtime's words.
	tpl := getTemplate(g, ns, "light")
	tpl.Spec.BaseImage = "localhost/streamspace/light:9.9.9"
	g.Expect(env.Client.Update(context.Background(), tpl)).To(Succeed())
	g.Eventually(func(g Gomega) {
		tpl := getTemplate(g, ns, "light")
		g.Expect(conditions.GetReason(tpl, streamv1.ConditionImageVerified)).To(Equal(streamv1.ReasonNotYetStarted))
		g.Expect(conditions.GetMessage(tpl, streamv1.ConditionImageVerified)).To(ContainSubstring("light:9.9.9"))
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
	cy := session(ns, "cy-light", "cy", "light")
	mustCreate(t, cy)
	g.Eventually(func(g Gomega) { deploymentOf(g, cy) }, 10*time.Second).Should(Succeed())
	createWaitingPod(t, cy, "localhost/streamspace/light:9.9.9", "ErrImageNeverPull", "image is not present")
	g.Eventually(func(g Gomega) {
		tpl := getTemplate(g, ns, "light")
		c := conditions.Get(tpl, streamv1.ConditionImageVerified)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(streamv1.ReasonImageCannotStart))
		g.Expect(c.Message).To(ContainSubstring("cy-light"))
		g.Expect(c.Message).To(ContainSubstring("ErrImageNeverPull"))
	}, 15*time.Second, 100*time.Millisecond).Should(Succeed())
}

func getQuota(g Gomega, ns, name string) *streamv1.Quota {
	q := &streamv1.Quota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	get(g, q)
	return q
}

func TestQuotaStatus_namesItsUsers_withTheirUseAndLimitsReached(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := newNamespace(t)
	mustCreate(t, template(ns, "light")) // 1Gi, 500m per session
	mustCreate(t, &streamv1.Quota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"},
		Spec: streamv1.QuotaSpec{Default: true, Limits: streamv1.QuotaLimits{MaxRunningSessions: ptr.To[int32](1)}}})
	mem := resource.MustParse("4Gi")
	mustCreate(t, &streamv1.Quota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "designers"},
		Spec: streamv1.QuotaSpec{Groups: []string{"design"}, Limits: streamv1.QuotaLimits{MaxSessions: ptr.To[int32](3), Memory: &mem}}})
	mustCreate(t, &streamv1.User{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dee"}, Spec: streamv1.UserSpec{Groups: []string{"design"}}})

	launchRunning(t, ns, "dee-1", "dee", "light")
	launchRunning(t, ns, "dee-2", "dee", "light")
	launchRunning(t, ns, "ed-1", "ed", "light") // no User object: the default applies

	oneGi, twoGi := resource.MustParse("1Gi"), resource.MustParse("2Gi")
	g.Eventually(func(g Gomega) {
		d := getQuota(g, ns, "designers")
		g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
		g.Expect(d.Status.Users).To(HaveLen(1))
		u := d.Status.Users[0]
		g.Expect(u.Name).To(Equal("dee"))
		g.Expect(u.Via).To(Equal("group design"))
		g.Expect(u.Sessions).To(BeEquivalentTo(2))
		g.Expect(u.RunningSessions).To(BeEquivalentTo(2))
		g.Expect(u.Memory.Cmp(twoGi)).To(BeZero(), "2 × 1Gi, got %s", u.Memory)
		g.Expect(u.AtLimit).To(BeEmpty())

		def := getQuota(g, ns, "default")
		g.Expect(def.Status.Users).To(HaveLen(1))
		e := def.Status.Users[0]
		g.Expect(e.Name).To(Equal("ed"))
		g.Expect(e.Via).To(Equal("default"))
		g.Expect(e.RunningSessions).To(BeEquivalentTo(1))
		g.Expect(e.Memory.Cmp(oneGi)).To(BeZero())
		g.Expect(e.AtLimit).To(ConsistOf("maxRunningSessions"))
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())

	// Dee leaves the group: the default quota now applies to both.
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"groups":[]}}`))
	g.Expect(env.Client.Patch(context.Background(), &streamv1.User{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dee"}}, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(getQuota(g, ns, "designers").Status.Users).To(BeEmpty())
		def := getQuota(g, ns, "default")
		g.Expect(def.Status.Users).To(HaveLen(2))
		g.Expect(def.Status.Users[0].Name).To(Equal("dee"))
		g.Expect(def.Status.Users[0].AtLimit).To(ConsistOf("maxRunningSessions"), "2 running, limit 1")
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())

	// A session ends: its user's use goes down.
	g.Expect(setState(t, ns, "ed-1", streamv1.StateTerminated)).To(Succeed())
	g.Eventually(func(g Gomega) {
		def := getQuota(g, ns, "default")
		g.Expect(def.Status.Users).To(HaveLen(1), "ed has no User object and no session that counts")
		g.Expect(def.Status.Users[0].Name).To(Equal("dee"))
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
}
