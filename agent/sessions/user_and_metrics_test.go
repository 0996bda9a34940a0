package sessions_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

func TestUser_homeSizedByUserThenQuota_growsNeverShrinks(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	mustCreate(t, &streamv1.Quota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "designers"},
		Spec: streamv1.QuotaSpec{Groups: []string{"designers"}, Limits: streamv1.QuotaLimits{HomeStorage: ptr.To(resource.MustParse("100Gi"))}}})
	mustCreate(t, &streamv1.User{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ida"}, Spec: streamv1.UserSpec{Groups: []string{"designers"}}})

	home := &corev1.PersistentVolumeClaim{}
	g.Eventually(func() error {
		return env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "home-ida"}, home)
	}, 10*time.Second).Should(Succeed())
	g.Expect(home.Spec.Resources.Requests.Storage().String()).To(Equal("100Gi"), "the group quota's homeStorage")
	g.Eventually(func(g Gomega) {
		u := &streamv1.User{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ida"}}
		get(g, u)
		g.Expect(u.Status.Quota).To(Equal("designers"))
		g.Expect(u.Status.HomeVolume).To(Equal("home-ida"))
	}, 10*time.Second).Should(Succeed())

	// A provisioner binds the claim (envtest has none); only a bound claim
	// can grow.
	home.Status.Phase = corev1.ClaimBound
	g.Expect(env.Client.Status().Update(ctx, home)).To(Succeed())

	// The User's own size wins and the volume grows …
	u := &streamv1.User{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ida"}}
	setHomeSize(t, u, "150Gi")
	g.Eventually(func(g Gomega) {
		get(g, home)
		g.Expect(home.Spec.Resources.Requests.Storage().String()).To(Equal("150Gi"))
	}, 10*time.Second).Should(Succeed())

	// … but never shrinks: the user's files might not fit.
	setHomeSize(t, u, "5Gi")
	g.Eventually(func(g Gomega) {
		get(g, u)
		c := &metav1.Condition{}
		for i := range u.Status.Conditions {
			if u.Status.Conditions[i].Type == streamv1.ConditionHomeReady {
				c = &u.Status.Conditions[i]
			}
		}
		g.Expect(c.Message).To(ContainSubstring("volumes never shrink"))
	}, 10*time.Second).Should(Succeed())
	get(g, home)
	g.Expect(home.Spec.Resources.Requests.Storage().String()).To(Equal("150Gi"))

	// Deleting the User keeps the home volume.
	g.Expect(env.Client.Delete(ctx, u)).To(Succeed())
	g.Consistently(func() error {
		return env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "home-ida"}, &corev1.PersistentVolumeClaim{})
	}, time.Second, 200*time.Millisecond).Should(Succeed())
}

// setHomeSize updates the User as a person would, retrying on conflicts
// with the controller's status writes.
func setHomeSize(t *testing.T, u *streamv1.User, size string) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		get(g, u)
		u.Spec.Home.Size = ptr.To(resource.MustParse(size))
		g.Expect(env.Client.Update(context.Background(), u)).To(Succeed())
	}, 5*time.Second).Should(Succeed())
}

// TestMetrics_recordedFromRealState runs first (it is not parallel), so the
// session gauges it reads count only its own sessions.
func TestMetrics_recordedFromRealState(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	mustCreate(t, template(ns, "metered"))
	launchRunning(t, ns, "m1", "mia", "metered")
	launchRunning(t, ns, "m2", "mia", "metered")
	launchRunning(t, ns, "m3", "max", "metered")
	g.Expect(setState(t, ns, "m3", streamv1.StateHibernated)).To(Succeed())
	markScaledDown(t, ns, "m3")
	waitPhase(t, ns, "m3", streamv1.PhaseHibernated)

	g.Eventually(func(g Gomega) {
		families := gather(g)
		g.Expect(value(families, "streamspace_active_sessions_total", nil)).To(Equal(2.0))
		g.Expect(value(families, "streamspace_hibernated_sessions_total", nil)).To(Equal(1.0))
		g.Expect(value(families, "streamspace_resource_usage_bytes", map[string]string{"template": "metered"})).To(Equal(2.0 * (1 << 30)))
		g.Expect(value(families, "streamspace_session_starts_total", map[string]string{"template": "metered", "kind": "Launch"})).To(Equal(3.0))
		g.Expect(value(families, "streamspace_session_hibernations_total", map[string]string{"reason": "UserRequest"})).To(BeNumerically(">=", 1))
		g.Expect(histogramCount(families, "streamspace_session_start_latency_seconds", map[string]string{"phase": "stream_ready", "kind": "Launch"})).To(BeNumerically(">=", 3))
	}, 10*time.Second, 200*time.Millisecond).Should(Succeed())
}

// TestRealUse_absentWithoutMetricsAPI: envtest's API server has no
// metrics.k8s.io, so the real-use gauge reports nothing (not zeros) beside
// the requests of running sessions; and an APIService registered for it
// whose server is not there (metrics-server down) is the same.
func TestRealUse_absentWithoutMetricsAPI(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	mustCreate(t, template(ns, "unmetered"))
	launchRunning(t, ns, "u1", "uma", "unmetered")
	waitPhase(t, ns, "u1", streamv1.PhaseRunning)

	noRealUse := func(g Gomega) {
		families := gather(g)
		g.Expect(value(families, "streamspace_session_resource_requests", map[string]string{"template": "unmetered", "resource": "memory"})).To(BeNumerically(">", 0))
		g.Expect(families).NotTo(HaveKey("streamspace_session_resource_used"))
	}
	g.Eventually(noRealUse, 10*time.Second, 200*time.Millisecond).Should(Succeed())

	// Registered, but nothing serves it: the API server answers 503.
	api := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata":   map[string]any{"name": "v1beta1.metrics.k8s.io"},
		"spec": map[string]any{
			"group": "metrics.k8s.io", "version": "v1beta1",
			"groupPriorityMinimum": int64(100), "versionPriority": int64(100),
			"service":               map[string]any{"namespace": "kube-system", "name": "metrics-server", "port": int64(443)},
			"insecureSkipTLSVerify": true,
		},
	}}
	ctx := context.Background()
	g.Expect(env.Client.Create(ctx, api)).To(Succeed())
	t.Cleanup(func() { _ = env.Client.Delete(ctx, api) })
	g.Consistently(noRealUse, 3*time.Second, 500*time.Millisecond).Should(Succeed())
}

func gather(g Gomega) map[string]*dto.MetricFamily {
	mfs, err := registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func find(families map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	mf := families[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		for k, v := range labels {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

func value(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	m := find(families, name, labels)
	switch {
	case m == nil:
		return -1
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	}
	return -1
}

func histogramCount(families map[string]*dto.MetricFamily, name string, labels map[string]string) uint64 {
	if m := find(families, name, labels); m != nil {
		return m.GetHistogram().GetSampleCount()
	}
	return 0
}
