package quota_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/quota"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// race runs f(0..n-1) at once (released together) and returns each error.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	release := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-release
			errs[i] = f(i)
		}()
	}
	ready.Wait()
	close(release)
	done.Wait()
	return errs
}

// admitted counts the nil errors and fails t on any error that is not a
// quota refusal (the race must be lost to the quota, not to an error).
func admitted(t *testing.T, errs []error) int {
	t.Helper()
	n := 0
	for _, err := range errs {
		switch {
		case err == nil:
			n++
		case quota.RefusalCause(err) != quota.CauseQuotaExceeded:
			t.Errorf("not a quota refusal: %v", err)
		}
	}
	return n
}

// Many creates by one user at once, served by two webhook replicas whose
// caches lag: no more than the limit may ever exist. Each round starts
// from an empty namespace; the limit must hold in every one.
func TestWebhook_concurrentCreates_neverExceedMaxSessions(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	for round := range 4 {
		ns := setup(t, streamv1.QuotaLimits{MaxSessions: ptr.To[int32](3)})
		before := [2]int64{connections[0].Load(), connections[1].Load()}
		defer func() {
			t.Logf("round %d: new webhook connections per replica: %d, %d", round, connections[0].Load()-before[0], connections[1].Load()-before[1])
		}()
		errs := race(24, func(i int) error {
			return env.Client.Create(ctx, newSession(ns, fmt.Sprintf("s%02d", i), streamv1.StateHibernated))
		})
		g.Expect(admitted(t, errs)).To(Equal(3), "round %d: admitted", round)
		var list streamv1.SessionList
		g.Expect(env.Client.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		g.Expect(list.Items).To(HaveLen(3), "round %d: sessions that exist", round)
	}
	g.Expect(connections[0].Load()).To(BeNumerically(">", 0), "replica 0 served")
	g.Expect(connections[1].Load()).To(BeNumerically(">", 0), "replica 1 served")
}

// Many wakes at once against maxRunningSessions, and running creates
// against memory: the same.
func TestWebhook_concurrentWakesAndRunningCreates_neverExceedTheLimits(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	for round := range 3 {
		ns := setup(t, streamv1.QuotaLimits{MaxRunningSessions: ptr.To[int32](1)})
		for i := range 8 {
			g.Expect(env.Client.Create(ctx, newSession(ns, fmt.Sprintf("s%d", i), streamv1.StateHibernated))).To(Succeed())
		}
		errs := race(8, func(i int) error { return setState(ns, fmt.Sprintf("s%d", i), streamv1.StateRunning) })
		g.Expect(admitted(t, errs)).To(Equal(1), "round %d: wakes admitted", round)
		var list streamv1.SessionList
		g.Expect(env.Client.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		running := 0
		for _, s := range list.Items {
			if s.DesiredState() == streamv1.StateRunning {
				running++
			}
		}
		g.Expect(running).To(Equal(1), "round %d: sessions running", round)
	}

	// The template asks 2Gi a session; 5Gi admits two.
	ns := setup(t, streamv1.QuotaLimits{Memory: ptr.To(resource.MustParse("5Gi"))})
	errs := race(12, func(i int) error {
		return env.Client.Create(ctx, newSession(ns, fmt.Sprintf("r%02d", i), streamv1.StateRunning))
	})
	g.Expect(admitted(t, errs)).To(Equal(2), "running creates admitted under 5Gi")
}

// A dry run is checked but holds no place: after any number of them the
// last place is still free.
func TestWebhook_dryRun_reservesNothing(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx := context.Background()
	ns := setup(t, streamv1.QuotaLimits{MaxSessions: ptr.To[int32](1)})
	for i := range 3 {
		g.Expect(env.Client.Create(ctx, newSession(ns, fmt.Sprintf("d%d", i), streamv1.StateRunning), client.DryRunAll)).To(Succeed())
	}
	g.Expect(env.Client.Create(ctx, newSession(ns, "real", streamv1.StateRunning))).To(Succeed())
	g.Expect(env.Client.Create(ctx, newSession(ns, "one-too-many", streamv1.StateRunning), client.DryRunAll)).
		To(MatchError(ContainSubstring("maxSessions: 1 sessions, limit 1")))
}

// A session deleted frees its place at once: its start, still in the
// ledger, counts no more once the caches saw it go (not after the
// ledger's two minutes). Both replicas must have seen it, whichever
// serves the next create, so each of several creates is tried in turn.
func TestWebhook_deletedSession_freesItsPlace(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx := context.Background()
	ns := setup(t, streamv1.QuotaLimits{MaxSessions: ptr.To[int32](1)})
	for i := range 4 {
		name := fmt.Sprintf("s%d", i)
		g.Eventually(func() error { return env.Client.Create(ctx, newSession(ns, name, streamv1.StateRunning)) }).
			WithTimeout(10*time.Second).Should(Succeed(), "start %s after the one before was deleted", name)
		g.Expect(env.Client.Create(ctx, newSession(ns, name+"-more", streamv1.StateRunning))).
			To(MatchError(ContainSubstring("maxSessions: 1 sessions, limit 1")), "the limit still holds")
		g.Expect(env.Client.Delete(ctx, newSession(ns, name, ""))).To(Succeed())
	}
}
