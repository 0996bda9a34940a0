package gitsync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	. "github.com/onsi/gomega"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/gitsync"
	"github.com/streamspace/streamspace/agent/manager"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// TestGitSync_reconcilingIsPatchedWhileASyncRuns: what `kubectl get gitsync
// -w` shows during a sync — Reconciling=True with the step at hand — then
// Ready without Reconciling.
func TestGitSync_reconcilingIsPatchedWhileASyncRuns(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ns, err := env.Namespace(ctx, "gs")
	g.Expect(err).NotTo(HaveOccurred())
	r := newRepo(t, ns)

	c, err := client.NewWithWatch(env.Config, client.Options{Scheme: manager.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	w, err := c.Watch(ctx, &streamv1.GitSyncList{}, client.InNamespace(ns))
	g.Expect(err).NotTo(HaveOccurred())
	defer w.Stop()

	gs := &streamv1.GitSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "platform"},
		Spec:       streamv1.GitSyncSpec{URL: r.url, Path: "environments/test", Prune: true, Interval: metav1.Duration{Duration: time.Hour}},
	}
	g.Expect(env.Client.Create(ctx, gs)).To(Succeed())

	var progress []string
	var last *streamv1.GitSync
	// Conditions are patched just before the rest of the status: done once
	// both say so.
	for last == nil || !conditions.IsReady(last) || last.Status.ObservedGeneration != last.Generation {
		select {
		case ev := <-w.ResultChan():
			if ev.Type != watch.Modified && ev.Type != watch.Added {
				continue
			}
			last = ev.Object.(*streamv1.GitSync)
			if c := conditions.Get(last, streamv1.ConditionReconciling); c != nil && c.Status == metav1.ConditionTrue {
				progress = append(progress, c.Message)
			}
		case <-ctx.Done():
			t.Fatalf("no Ready GitSync seen; progress seen: %q", progress)
		}
	}
	g.Expect(strings.Join(progress, "\n")).To(And(
		ContainSubstring("Fetching revision "+r.head()),
		ContainSubstring("Building environments/test"),
		ContainSubstring("Applying"),
	))
	g.Expect(conditions.Has(last, streamv1.ConditionReconciling)).To(BeFalse(), "done: no longer reconciling")
	g.Expect(last.Status.LastAppliedRevision).To(Equal(r.head()))
	g.Expect(last.Finalizers).To(ContainElement(gitsync.Finalizer))
}

// waitGone waits until the GitSync has left the API server (its finalizer
// released it).
func waitGone(t *testing.T, gs *streamv1.GitSync) {
	t.Helper()
	NewWithT(t).Eventually(func() bool {
		return !exists(gs.Namespace, &streamv1.GitSync{}, gs.Name)
	}, 30*time.Second, 100*time.Millisecond).Should(BeTrue())
}

func TestGitSync_delete_orphansWhatItAppliedByDefault(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns, r, gs := setup(t)
	got := waitRevision(t, gs, r.head())
	g.Expect(got.Spec.DeletionPolicy).To(Equal(streamv1.DeletionOrphan), "the default")

	g.Expect(env.Client.Delete(context.Background(), gs)).To(Succeed())
	waitGone(t, gs)
	g.Expect(exists(ns, &streamv1.Template{}, "firefox")).To(BeTrue())
	g.Expect(exists(ns, &streamv1.Template{}, "gimp")).To(BeTrue())
	g.Expect(exists(ns, &streamv1.Quota{}, "default")).To(BeTrue())
	g.Expect(exists(ns, &networkingv1.NetworkPolicy{}, "session-isolation")).To(BeTrue())
}

func TestGitSync_delete_withDeletionPolicyDelete_prunesAllButWhatSessionsUse(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx := context.Background()
	ns, r, gs := setup(t)
	waitRevision(t, gs, r.head())
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"deletionPolicy":"Delete"}}`))
	g.Expect(env.Client.Patch(ctx, gs, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		got := &streamv1.GitSync{}
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(gs), got)).To(Succeed())
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())

	live := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ann-ff"}, Spec: streamv1.SessionSpec{User: "ann", Template: "firefox"}}
	g.Expect(env.Client.Create(ctx, live)).To(Succeed())

	g.Expect(env.Client.Delete(ctx, gs)).To(Succeed())
	waitGone(t, gs)
	g.Expect(exists(ns, &streamv1.Template{}, "firefox")).To(BeTrue(), "a live session uses it")
	g.Expect(exists(ns, &streamv1.Quota{}, "default")).To(BeTrue(), "it applies to the live session's user")
	g.Expect(exists(ns, &streamv1.Template{}, "gimp")).To(BeFalse(), "unused: deleted with the GitSync")
	g.Expect(exists(ns, &networkingv1.NetworkPolicy{}, "session-isolation")).To(BeFalse())
}

func TestGitSync_suspendedBeforeItsFirstSync_isNotReady_appliesNothing(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx := context.Background()
	ns, err := env.Namespace(ctx, "gs")
	g.Expect(err).NotTo(HaveOccurred())
	r := newRepo(t, ns)
	gs := &streamv1.GitSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "platform"},
		Spec: streamv1.GitSyncSpec{
			URL: r.url, Path: "environments/test", Suspend: true,
			Interval: metav1.Duration{Duration: time.Hour},
		},
	}
	g.Expect(env.Client.Create(ctx, gs)).To(Succeed())

	got := &streamv1.GitSync{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(gs), got)).To(Succeed())
		ready := cond(got, streamv1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Status).To(Equal(metav1.ConditionUnknown), "a GitSync that never synced is not Ready: %+v", ready)
		g.Expect(ready.Reason).To(Equal(streamv1.ReasonSuspended))
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	g.Expect(got.Status.LastAppliedRevision).To(BeEmpty())
	g.Expect(exists(ns, &streamv1.Template{}, "firefox")).To(BeFalse(), "suspended: nothing applied")
}
