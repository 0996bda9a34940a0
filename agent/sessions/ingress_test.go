package sessions_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/streamspace/streamspace/agent/manager"
	"github.com/streamspace/streamspace/agent/sessions"
	"github.com/streamspace/streamspace/agent/users"
)

// TestSession_ingress_asksThePortalsForwardAuth: in ingress mode the
// Ingress the API server stores sends every request to the portal's
// forward auth first, and an anonymous browser to the session's page on
// the portal.
func TestSession_ingress_asksThePortalsForwardAuth(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	mustCreate(t, template(ns, "light"))
	s := session(ns, "kim-light-ing", "kim", "light")
	s.Spec.PersistentHome = ptr.To(false)
	mustCreate(t, s)

	o := sessions.IngressOptions{ClassName: "nginx", HostPattern: "{session}.apps.example.com",
		ForwardAuth: sessions.ForwardAuthOptions{Kind: sessions.ForwardAuthNginx, URL: "http://streamspace-portal.streamspace.svc/api/v1/auth/forward"}}
	g.Expect(o.Validate()).To(Succeed())
	// A reconciler of its own (the package's agent runs without an
	// Ingress), driven directly against the real API server.
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: manager.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	g.Expect(err).NotTo(HaveOccurred())
	c, err := client.New(env.Config, client.Options{Scheme: manager.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	m, err := sessions.NewMetrics(prometheus.NewRegistry(), c)
	g.Expect(err).NotTo(HaveOccurred())
	r := &sessions.SessionReconciler{Client: c, Metrics: m, Options: sessions.Options{Ingress: o, PortalURL: "https://portal.example.com",
		Home: users.HomeOptions{DefaultSize: resource.MustParse("1Gi")}}}
	g.Expect(r.SetupWithManager(ctx, mgr, controller.Options{SkipNameValidation: ptr.To(true)})).To(Succeed())

	ing := &networkingv1.Ingress{}
	g.Eventually(func(g Gomega) {
		_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(s)})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: sessions.ChildName(s)}, ing)).To(Succeed())
	}, 10*time.Second, 200*time.Millisecond).Should(Succeed())

	g.Expect(ing.Spec.Rules[0].Host).To(Equal("kim-light-ing.apps.example.com"))
	g.Expect(ing.Annotations).To(HaveKeyWithValue("nginx.ingress.kubernetes.io/auth-url", "http://streamspace-portal.streamspace.svc/api/v1/auth/forward"))
	g.Expect(ing.Annotations).To(HaveKeyWithValue("nginx.ingress.kubernetes.io/auth-signin", "https://portal.example.com/session/kim-light-ing"))
	g.Expect(ing.Annotations).To(HaveKeyWithValue("nginx.ingress.kubernetes.io/auth-response-headers", "X-StreamSpace-User"))
}
