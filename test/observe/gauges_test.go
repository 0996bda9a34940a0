package observe

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/sessions"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// TestSessionGauges_countRealObjects writes sessions in every phase and
// nodes (one cordoned) to a real API server and reads the gauges the
// collector computes from them, first as a follower (nothing), then as the
// leader.
func TestSessionGauges_countRealObjects(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns, err := env.Namespace(ctx, "gauges")
	g.Expect(err).NotTo(HaveOccurred())
	now := time.Now().Truncate(time.Second)
	at := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: now.Add(d)} }

	type fixture struct {
		name, user, template string
		status               streamv1.SessionStatus
	}
	for _, f := range []fixture{
		{"long", "mia", "firefox", streamv1.SessionStatus{Phase: streamv1.PhaseRunning,
			ResourceUsage: &streamv1.ResourceUsage{Memory: "2Gi", CPU: "1"},
			LastStart:     &streamv1.StartTimes{Kind: "Launch", RequestedAt: *at(-13 * time.Hour)},
			IdleDeadline:  at(-5 * time.Minute)}},
		{"fresh", "max", "gimp", streamv1.SessionStatus{Phase: streamv1.PhaseRunning,
			ResourceUsage: &streamv1.ResourceUsage{Memory: "1Gi", CPU: "500m"},
			LastStart:     &streamv1.StartTimes{Kind: "Wake", RequestedAt: *at(-time.Hour)},
			IdleDeadline:  at(10 * time.Minute)}},
		// Just past its deadline: within the grace the controller needs.
		{"due", "max", "gimp", streamv1.SessionStatus{Phase: streamv1.PhaseRunning,
			ResourceUsage: &streamv1.ResourceUsage{Memory: "1Gi", CPU: "500m"},
			LastStart:     &streamv1.StartTimes{Kind: "Launch", RequestedAt: *at(-2 * time.Hour)},
			IdleDeadline:  at(-10 * time.Second)}},
		// Hibernated: its last start and usage are history, not load.
		{"asleep", "mia", "firefox", streamv1.SessionStatus{Phase: streamv1.PhaseHibernated,
			ResourceUsage: &streamv1.ResourceUsage{Memory: "8Gi"},
			LastStart:     &streamv1.StartTimes{Kind: "Launch", RequestedAt: *at(-20 * time.Hour)}}},
		{"starting", "zoe", "firefox", streamv1.SessionStatus{Phase: streamv1.PhasePending}},
		{"broken", "eve", "firefox", streamv1.SessionStatus{Phase: streamv1.PhaseFailed}},
	} {
		s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: f.name},
			Spec: streamv1.SessionSpec{User: f.user, Template: f.template}}
		g.Expect(env.Client.Create(ctx, s)).To(Succeed())
		s.Status = f.status
		g.Expect(env.Client.Status().Update(ctx, s)).To(Succeed())
	}
	for _, n := range []struct {
		name     string
		cordoned bool
	}{{"gauges-node-a", false}, {"gauges-node-b", true}} {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.name}, Spec: corev1.NodeSpec{Unschedulable: n.cordoned}}
		g.Expect(env.Client.Create(ctx, node)).To(Succeed())
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), node) })
		node.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")}
		g.Expect(env.Client.Status().Update(ctx, node)).To(Succeed())
	}

	reg := prometheus.NewRegistry()
	elected := make(chan struct{})
	_, err = sessions.NewLeaderMetrics(reg, client.NewNamespacedClient(env.Client, ns), elected)
	g.Expect(err).NotTo(HaveOccurred())

	// A follower reports that it does not lead, and nothing from its cache.
	got := gather(g, reg)
	g.Expect(got).To(HaveKeyWithValue(`streamspace_agent_leader{}`, 0.0))
	g.Expect(got).To(HaveLen(1), "a follower reports only streamspace_agent_leader: %v", got)

	close(elected)
	got = gather(g, reg)
	const gi = 1 << 30
	g.Expect(got).To(Equal(map[string]float64{
		`streamspace_agent_leader{}`:                                                  1,
		`streamspace_active_sessions_total{}`:                                         3,
		`streamspace_hibernated_sessions_total{}`:                                     1,
		`streamspace_sessions{phase="Pending"}`:                                       1,
		`streamspace_sessions{phase="Running"}`:                                       3,
		`streamspace_sessions{phase="Hibernated"}`:                                    1,
		`streamspace_sessions{phase="Failed"}`:                                        1,
		`streamspace_sessions{phase="Terminated"}`:                                    0,
		`streamspace_active_users{}`:                                                  3, // mia, max, zoe; not eve (Failed)
		`streamspace_sessions_past_idle_deadline{}`:                                   1, // "long"; "due" is within the grace
		`streamspace_session_resource_requests{resource="memory",template="firefox"}`: 2 * gi,
		`streamspace_session_resource_requests{resource="cpu",template="firefox"}`:    1,
		`streamspace_session_resource_requests{resource="memory",template="gimp"}`:    2 * gi,
		`streamspace_session_resource_requests{resource="cpu",template="gimp"}`:       1,
		`streamspace_resource_usage_bytes{template="firefox"}`:                        2 * gi,
		`streamspace_resource_usage_bytes{template="gimp"}`:                           2 * gi,
		// The cordoned node takes no new sessions: not capacity.
		`streamspace_cluster_allocatable{resource="cpu"}`:    4,
		`streamspace_cluster_allocatable{resource="memory"}`: 8 * gi,
		// One series per running session, none for the hibernated one.
		`streamspace_session_start_time_seconds{namespace="` + ns + `",session="long",template="firefox",user="mia"}`: float64(now.Add(-13 * time.Hour).Unix()),
		`streamspace_session_start_time_seconds{namespace="` + ns + `",session="fresh",template="gimp",user="max"}`:   float64(now.Add(-time.Hour).Unix()),
		`streamspace_session_start_time_seconds{namespace="` + ns + `",session="due",template="gimp",user="max"}`:     float64(now.Add(-2 * time.Hour).Unix()),
	}))
}

// gather returns every sample of reg as name{sorted labels} → value (the
// controller-runtime counters and histograms are not registered here).
func gather(g Gomega, reg *prometheus.Registry) map[string]float64 {
	mfs, err := reg.Gather()
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetType() != dto.MetricType_GAUGE {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := mf.GetName() + "{"
			for i, lp := range m.GetLabel() {
				if i > 0 {
					key += ","
				}
				key += lp.GetName() + `="` + lp.GetValue() + `"`
			}
			out[key+"}"] = m.GetGauge().GetValue()
		}
	}
	return out
}
