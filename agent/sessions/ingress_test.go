package sessions_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/streamspace/streamspace/agent/gitsync"
	"github.com/streamspace/streamspace/agent/manager"
	"github.com/streamspace/streamspace/agent/sessions"
	"github.com/streamspace/streamspace/agent/users"
	"github.com/streamspace/streamspace/test/testenv"
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

// TestIngressMode_networkPolicyComponent: the overlay of an agent in
// ingress mode includes policies/network/ingress-mode, which admits the
// Ingress controller to session pods; without it only the portal is
// admitted. Built by the agent's own confined kustomize, and accepted by
// the API server.
func TestIngressMode_networkPolicyComponent(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := newNamespace(t)
	root := t.TempDir()
	g.Expect(os.CopyFS(filepath.Join(root, "policies"), os.DirFS(filepath.Join(testenv.RepoRoot(), "policies")))).To(Succeed())
	overlay := func(name, extra string) {
		g.Expect(os.MkdirAll(filepath.Join(root, name), 0o755)).To(Succeed())
		g.Expect(os.WriteFile(filepath.Join(root, name, "kustomization.yaml"), []byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: "+ns+"\nresources:\n  - ../policies\n"+extra), 0o644)).To(Succeed())
	}
	overlay("ingress", "components:\n  - ../policies/network/ingress-mode\n")
	overlay("portal-only", "")

	find := func(dir string) *unstructured.Unstructured {
		objs, err := gitsync.Build(root, dir)
		g.Expect(err).NotTo(HaveOccurred())
		for _, o := range objs {
			if o.GetKind() == "NetworkPolicy" && o.GetName() == "session-from-ingress-controller" {
				return o
			}
		}
		return nil
	}
	g.Expect(find("portal-only")).To(BeNil(), "without ingress mode only the portal reaches sessions")
	u := find("ingress")
	g.Expect(u).NotTo(BeNil())
	g.Expect(env.Client.Patch(context.Background(), u, client.Apply, client.FieldOwner("test"), client.DryRunAll)).To(Succeed())
	np := &networkingv1.NetworkPolicy{}
	g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, np)).To(Succeed())
	g.Expect(np.Namespace).To(Equal(ns))
	g.Expect(np.Spec.PodSelector.MatchLabels).To(Equal(map[string]string{sessions.LabelApp: sessions.AppSession}))
	g.Expect(np.Spec.Ingress).To(HaveLen(1))
	g.Expect(np.Spec.Ingress[0].From).To(HaveLen(1))
	g.Expect(np.Spec.Ingress[0].From[0].PodSelector).To(BeNil(), "the controller's pods, not every pod of the cluster")
	g.Expect(np.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels).To(Equal(map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"}))
	g.Expect(np.Spec.Egress).To(BeEmpty(), "it opens nothing outwards")
}
