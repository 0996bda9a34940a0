package sessions_test

import (
	"context"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/streamspace/streamspace/agent/manager"
	"github.com/streamspace/streamspace/agent/sessions"
	"github.com/streamspace/streamspace/agent/users"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// staleCache is a client on the real API server that, like an informer
// cache lagging behind a burst of launches, does not see home volumes (nor
// the session's Deployment) yet. It keeps the status patches the
// reconciler sent (the patch helper sends conditions and the rest of the
// status apart).
type staleCache struct {
	client.Client
	mu      sync.Mutex
	patches []*streamv1.Session
}

// condition is the latest patched state of a condition.
func (sc *staleCache) condition(t string) *metav1.Condition {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for i := len(sc.patches) - 1; i >= 0; i-- {
		if c := condition(sc.patches[i], t); c != nil {
			return c
		}
	}
	return nil
}

// status is the latest patched status other than conditions.
func (sc *staleCache) status() streamv1.SessionStatus {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for i := len(sc.patches) - 1; i >= 0; i-- {
		if sc.patches[i].Status.Phase != "" {
			return sc.patches[i].Status
		}
	}
	return streamv1.SessionStatus{}
}

func newStaleCache(c client.WithWatch) *staleCache {
	sc := &staleCache{}
	sc.Client = interceptor.NewClient(c, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			switch obj.(type) {
			case *corev1.PersistentVolumeClaim, *appsv1.Deployment:
				return apierrors.NewNotFound(corev1.Resource("object"), key.Name)
			}
			return c.Get(ctx, key, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			if s, ok := obj.(*streamv1.Session); ok {
				sc.mu.Lock()
				sc.patches = append(sc.patches, s.DeepCopy())
				sc.mu.Unlock()
			}
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	return sc
}

// TestSession_homeNotVisibleYet_isAWaitNotAnError: during a burst of
// launches the home volume exists on the API server (another reconcile
// created it) but the cache does not show it yet. That is a requeue with
// HomeReady=False/WaitingForHome, not a "Reconciler error" with a trace.
func TestSession_homeNotVisibleYet_isAWaitNotAnError(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	mustCreate(t, template(ns, "light"))
	mustCreate(t, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: streamv1.HomeVolumeNameFor("kim"), Labels: map[string]string{users.LabelUser: "kim"}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	})
	s := session(ns, "kim-light", "kim", "light")
	mustCreate(t, s)

	// A reconciler of its own, wired as in production but on the lagging
	// client, driven directly so its result can be read.
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: manager.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	g.Expect(err).NotTo(HaveOccurred())
	c, err := client.NewWithWatch(env.Config, client.Options{Scheme: manager.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	lagging := newStaleCache(c)
	m, err := sessions.NewMetrics(prometheus.NewRegistry(), c)
	g.Expect(err).NotTo(HaveOccurred())
	r := &sessions.SessionReconciler{Client: lagging, Metrics: m, Options: sessions.Options{Home: users.HomeOptions{DefaultSize: resource.MustParse("1Gi")}}}
	g.Expect(r.SetupWithManager(ctx, mgr, controller.Options{SkipNameValidation: ptr.To(true)})).To(Succeed())

	res, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(s)})
	g.Expect(err).NotTo(HaveOccurred(), "an expected wait is not an error")
	g.Expect(res.RequeueAfter).To(BeNumerically(">", 0))
	g.Expect(res.RequeueAfter).To(BeNumerically("<=", 10*time.Second))

	home := lagging.condition(streamv1.ConditionHomeReady)
	g.Expect(home).NotTo(BeNil(), "HomeReady was patched")
	g.Expect(home.Status).To(Equal(metav1.ConditionFalse))
	g.Expect(home.Reason).To(Equal(streamv1.ReasonWaitingForHome))
	g.Expect(home.Message).To(ContainSubstring("home volume home-kim"))
	g.Expect(lagging.condition(streamv1.ConditionReady).Reason).To(Equal(streamv1.ReasonWaitingForHome))
	g.Expect(lagging.condition(streamv1.ConditionReconciling).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(lagging.condition(streamv1.ConditionStalled)).To(BeNil())
	status := lagging.status()
	g.Expect(status.Phase).To(Equal(streamv1.PhasePending))
	g.Expect(status.ObservedGeneration).To(BeZero(), "a wait has not handled the generation")
}

// TestSession_homeNotVisibleYet_readPastTheCache: with an API reader (as
// the agent is wired), the volume the cache does not show yet is read from
// the API server, and the launch goes on in the same reconcile instead of
// going round the work queue again.
func TestSession_homeNotVisibleYet_readPastTheCache(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	mustCreate(t, template(ns, "light"))
	mustCreate(t, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: streamv1.HomeVolumeNameFor("lee"), Labels: map[string]string{users.LabelUser: "lee"}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	})
	s := session(ns, "lee-light", "lee", "light")
	mustCreate(t, s)

	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: manager.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	g.Expect(err).NotTo(HaveOccurred())
	c, err := client.NewWithWatch(env.Config, client.Options{Scheme: manager.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	lagging := newStaleCache(c)
	m, err := sessions.NewMetrics(prometheus.NewRegistry(), c)
	g.Expect(err).NotTo(HaveOccurred())
	r := &sessions.SessionReconciler{Client: lagging, APIReader: c, Metrics: m, Options: sessions.Options{Home: users.HomeOptions{DefaultSize: resource.MustParse("1Gi")}}}
	g.Expect(r.SetupWithManager(ctx, mgr, controller.Options{SkipNameValidation: ptr.To(true)})).To(Succeed())

	// The suite's own controller reconciles this session too, and the
	// lagging client hides its Deployment: the launch step may then meet
	// "already exists". What matters here is the home step before it.
	_, _ = r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(s)})
	home := lagging.condition(streamv1.ConditionHomeReady)
	g.Expect(home).NotTo(BeNil(), "HomeReady was patched")
	g.Expect(home.Status).To(Equal(metav1.ConditionTrue), home.Message)
	g.Expect(home.Reason).To(Equal(streamv1.ReasonHomeProvisioned))
}
