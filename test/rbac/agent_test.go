package rbac_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/plugins"
	"github.com/streamspace/streamspace/agent/reconciler"
	"github.com/streamspace/streamspace/agent/sessions"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/artifact"
	"github.com/streamspace/streamspace/test/testenv"
)

// TestAgent_flowsWorkWithExactlyTheGeneratedRBAC: the agent, running as
// its ServiceAccount with only deploy/'s generated Role and ClusterRole,
// wins its leader lease, syncs this project's platform content from a real
// Git server (Templates, Quotas, NetworkPolicies, the plugin policy
// ConfigMap) and prunes what left Git, launches a Session to Running
// children, hibernates and wakes it, indexes a plugin repository and
// installs a plugin (its signing Secret created), records events, and
// serves its metrics; and the API server refused it nothing on the way.
func TestAgent_flowsWorkWithExactlyTheGeneratedRBAC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin := env.Client

	t.Run("leader lease", func(t *testing.T) {
		lease := &coordinationv1.Lease{}
		NewWithT(t).Eventually(func(g Gomega) {
			g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: platformNS, Name: reconciler.AgentName + ".stream.space"}, lease)).To(Succeed())
			g.Expect(lease.Spec.HolderIdentity).NotTo(BeNil())
		}, time.Minute, 100*time.Millisecond).Should(Succeed())
	})

	// The platform repository: this project's catalog, policies and
	// environments; the agent syncs the local overlay.
	repo := git.NewRepo(t, "platform")
	root := testenv.RepoRoot()
	for _, dir := range []string{"catalog", "policies", "environments"} {
		repo.CopyDir(filepath.Join(root, dir), dir)
	}
	rev := repo.Push("platform")
	gs := &streamv1.GitSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: platformNS, Name: "platform"},
		Spec: streamv1.GitSyncSpec{URL: repo.URL, Path: "environments/local", Prune: true,
			Interval: metav1.Duration{Duration: time.Hour}}, // the test asks for syncs
	}

	t.Run("git sync applies", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(admin.Create(ctx, gs)).To(Succeed())
		waitApplied(t, ctx, gs, rev)
		g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: platformNS, Name: "firefox"}, &streamv1.Template{})).To(Succeed())
		g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: platformNS, Name: "gimp"}, &streamv1.Template{})).To(Succeed())
		g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: platformNS, Name: "default"}, &streamv1.Quota{})).To(Succeed())
		g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: platformNS, Name: "session-isolation"}, &networkingv1.NetworkPolicy{})).To(Succeed())
		g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: platformNS, Name: "plugin-permission-policy"}, &corev1.ConfigMap{})).To(Succeed())
	})

	t.Run("git sync prunes", func(t *testing.T) {
		kust := filepath.Join(repo.Work, "catalog", "kustomization.yaml")
		data, err := os.ReadFile(kust)
		if err != nil {
			t.Fatal(err)
		}
		repo.Write("catalog/kustomization.yaml", strings.Replace(string(data), "  - graphics/gimp.yaml\n", "", 1))
		rev = repo.Push("gimp leaves the catalog")
		requestSync(t, ctx, gs)
		waitApplied(t, ctx, gs, rev)
		NewWithT(t).Eventually(func() bool {
			return apierrors.IsNotFound(admin.Get(ctx, client.ObjectKey{Namespace: platformNS, Name: "gimp"}, &streamv1.Template{}))
		}, 30*time.Second, 100*time.Millisecond).Should(BeTrue(), "the pruned template is still there")
	})

	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: platformNS, Name: "ann-firefox"},
		Spec: streamv1.SessionSpec{User: "ann", Template: "firefox"}}

	t.Run("session runs", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(admin.Create(ctx, s)).To(Succeed(), "the agent's admission webhook admits it")
		reportReplicas(t, ctx, s, 1)
		waitPhase(t, ctx, s, streamv1.PhaseRunning)
		name := sessions.ChildName(s)
		g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: platformNS, Name: name}, &corev1.Service{})).To(Succeed())
		var homes corev1.PersistentVolumeClaimList
		g.Expect(admin.List(ctx, &homes, client.InNamespace(platformNS))).To(Succeed())
		g.Expect(homes.Items).NotTo(BeEmpty(), "ann's home")
	})

	t.Run("session hibernates and wakes", func(t *testing.T) {
		setState(t, ctx, s, streamv1.StateHibernated)
		reportReplicas(t, ctx, s, 0)
		waitPhase(t, ctx, s, streamv1.PhaseHibernated)
		setState(t, ctx, s, streamv1.StateRunning)
		reportReplicas(t, ctx, s, 1)
		waitPhase(t, ctx, s, streamv1.PhaseRunning)
	})

	p := &streamv1.Plugin{ObjectMeta: metav1.ObjectMeta{Namespace: platformNS, Name: "notifier"},
		Spec: streamv1.PluginSpec{Repository: streamv1.LocalObjectReference{Name: "community"}, PluginName: "notifier",
			Version: "1.0.0", Enabled: true, ApprovedPermissions: []string{"events:session.*"},
			Config: &apiextensionsv1.JSON{Raw: []byte(`{}`)}}}

	t.Run("plugin installs", func(t *testing.T) {
		g := NewWithT(t)
		module := []byte("\x00asm\x01\x00\x00\x00 notifier")
		prepo := git.NewRepo(t, "plugins")
		prepo.Write("plugins/notifier/plugin.yaml", fmt.Sprintf(`name: notifier
version: 1.0.0
type: extension
events: [session.created]
permissions: ["events:session.*"]
configSchema: {type: object}
entry:
  wasm:
    module: notifier.wasm
    sha256: %s
`, artifact.Digest(module)))
		prepo.Write("plugins/notifier/notifier.wasm", string(module))
		prev := prepo.Push("notifier 1.0.0")
		pr := &streamv1.PluginRepository{ObjectMeta: metav1.ObjectMeta{Namespace: platformNS, Name: "community"},
			Spec: streamv1.PluginRepositorySpec{URL: prepo.URL, Path: "plugins", Interval: metav1.Duration{Duration: time.Hour}}}
		g.Expect(admin.Create(ctx, pr)).To(Succeed())
		g.Eventually(func(g Gomega) {
			g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
			g.Expect(pr.Status.LastSyncedRevision).To(Equal(prev), "%+v", pr.Status.Conditions)
			g.Expect(conditions.GetReason(pr, streamv1.ConditionReady)).To(Equal(streamv1.ReasonIndexed))
		}, 30*time.Second, 100*time.Millisecond).Should(Succeed())

		g.Expect(admin.Create(ctx, p)).To(Succeed(), "the agent's admission webhook admits it")
		g.Eventually(func(g Gomega) {
			g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
			g.Expect(conditions.GetReason(p, streamv1.ConditionReady)).To(Equal(streamv1.ReasonInstalled), "%+v", p.Status.Conditions)
			g.Expect(conditions.IsReady(p)).To(BeTrue())
		}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
		g.Expect(admin.Get(ctx, client.ObjectKey{Namespace: platformNS, Name: plugins.SigningSecretName(p.Name)}, &corev1.Secret{})).To(Succeed())
	})

	t.Run("events recorded", func(t *testing.T) {
		NewWithT(t).Eventually(func(g Gomega) {
			var list eventsv1.EventList
			g.Expect(admin.List(ctx, &list, client.InNamespace(platformNS))).To(Succeed())
			kinds := map[string]bool{}
			for _, e := range list.Items {
				if e.ReportingController == reconciler.AgentName || strings.HasPrefix(e.ReportingController, reconciler.AgentName) {
					kinds[e.Regarding.Kind] = true
				}
			}
			g.Expect(kinds).To(HaveKey("GitSync"))
			g.Expect(kinds).To(HaveKey("Session"))
			g.Expect(kinds).To(HaveKey("Plugin"))
		}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	})

	t.Run("metrics", func(t *testing.T) {
		// The session gauges count sessions and the nodes' capacity from
		// the cache (the ClusterRole's one rule).
		families, err := registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		NewWithT(t).Expect(families).NotTo(BeEmpty())
	})

	if n, first := refused(); n > 0 {
		t.Errorf("the API server refused the agent %d times: a rule its markers need is missing; the first:\n%s", n, strings.Join(first, "\n"))
	}
}

// waitApplied waits until the GitSync applied revision and is Ready.
func waitApplied(t *testing.T, ctx context.Context, gs *streamv1.GitSync, revision string) {
	t.Helper()
	got := &streamv1.GitSync{}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(gs), got)).To(Succeed())
		g.Expect(got.Status.LastAppliedRevision).To(Equal(revision), "%+v", got.Status.Conditions)
		g.Expect(conditions.IsReady(got)).To(BeTrue(), "%+v", got.Status.Conditions)
	}, time.Minute, 100*time.Millisecond).Should(Succeed())
}

// requestSync asks for a sync now, as the push receiver and the portal do.
func requestSync(t *testing.T, ctx context.Context, gs *streamv1.GitSync) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, streamv1.ReconcileRequestAnnotation, time.Now().Format(time.RFC3339Nano))
	if err := env.Client.Patch(ctx, gs, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

// reportReplicas does kube-controller-manager's part (envtest runs none):
// once the agent scaled the session's Deployment to replicas, its status
// says they are there.
func reportReplicas(t *testing.T, ctx context.Context, s *streamv1.Session, replicas int32) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		d := &appsv1.Deployment{}
		g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: sessions.ChildName(s)}, d)).To(Succeed())
		g.Expect(d.Spec.Replicas).To(HaveValue(Equal(replicas)))
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: replicas, UpdatedReplicas: replicas,
			ReadyReplicas: replicas, AvailableReplicas: replicas}
		g.Expect(env.Client.Status().Update(ctx, d)).To(Succeed())
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
}

func waitPhase(t *testing.T, ctx context.Context, s *streamv1.Session, phase streamv1.SessionPhase) {
	t.Helper()
	got := &streamv1.Session{}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(s), got)).To(Succeed())
		g.Expect(got.Status.Phase).To(Equal(phase), "%+v", got.Status.Conditions)
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
}

func setState(t *testing.T, ctx context.Context, s *streamv1.Session, state streamv1.SessionState) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"state":%q}}`, state)
	if err := env.Client.Patch(ctx, s.DeepCopy(), client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
}
