package manager_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/sessions"
	"github.com/streamspace/streamspace/agent/users"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

func newNamespace(t *testing.T) string {
	t.Helper()
	ns, err := env.Namespace(context.Background(), "ha")
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// push delivers a generic push notification signed with secret.
func push(t *testing.T, base, secret, repo, ref string) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"repository": repo, "ref": ref})
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	req, _ := http.NewRequest(http.MethodPost, base+"/hook/generic", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("push to %s: %v", base, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestHA_pushToTheFollower_annotatesTheGitSync: the agent Service spreads
// pushes over both replicas, so the one that does not lead must accept a
// signed push too (and refuse a forged one), and be ready to.
func TestHA_pushToTheFollower_annotatesTheGitSync(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	const secret = "push-secret"
	a, b := startAgent(t, "a", ns, secret), startAgent(t, "b", ns, secret)
	_, others := leader(t, 60*time.Second, a, b)
	follower := others[0]

	gs := &streamv1.GitSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "platform"}, Spec: streamv1.GitSyncSpec{
		URL: "https://git.example.test/org/platform.git", Ref: streamv1.GitReference{Branch: "main"}, Path: "environments/local"}}
	g.Expect(env.Client.Create(ctx, gs)).To(Succeed())
	annotation := func(g Gomega) string {
		got := &streamv1.GitSync{}
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(gs), got)).To(Succeed())
		return got.Annotations[streamv1.ReconcileRequestAnnotation]
	}

	// Ready: the Service may send it pushes.
	g.Eventually(func(g Gomega) {
		resp, err := http.Get(follower.probe + "/readyz/receiver")
		g.Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	}, 20*time.Second, 100*time.Millisecond).Should(Succeed())

	// A push signed with another secret is refused and changes nothing.
	code, body := push(t, follower.receiver, "not-the-secret", "https://git.example.test/org/platform", "refs/heads/main")
	g.Expect(code).To(Equal(http.StatusUnauthorized), "%v", body)
	g.Expect(annotation(g)).To(BeEmpty())

	// The signed push is accepted by the replica that does not lead.
	code, body = push(t, follower.receiver, secret, "https://git.example.test/org/platform", "refs/heads/main")
	g.Expect(code).To(Equal(http.StatusAccepted), "%v", body)
	g.Expect(body["triggered"]).To(ConsistOf(ns + "/platform"))
	g.Expect(annotation(g)).NotTo(BeEmpty())
	select {
	case <-follower.elected:
		t.Fatal("the follower became leader: the test proved nothing")
	default:
	}
}

// TestHA_leaderCrashes_followerTakesOver_nothingCreatedTwice: two agents
// with leader election, sessions launching; the leader is killed (SIGKILL,
// the lease not released); the other takes over once the lease runs out,
// every session reconciles to Running, each has exactly one Deployment and
// one Service (the ones made before the crash kept, not remade) and each
// user one home, and no create hits AlreadyExists.
func TestHA_leaderCrashes_followerTakesOver_nothingCreatedTwice(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // bounds the whole run
	defer cancel()
	ns := newNamespace(t)
	a, b := startAgent(t, "a", ns, "s"), startAgent(t, "b", ns, "s")
	first, others := leader(t, 60*time.Second, a, b)
	survivor := others[0]

	g.Expect(env.Client.Create(ctx, lightTemplate(ns))).To(Succeed())
	const n, perUser = 24, 4
	name := func(i int) string { return fmt.Sprintf("user%d-light-%d", i/perUser, i) }
	launch := func(i int) {
		s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name(i)},
			Spec: streamv1.SessionSpec{User: fmt.Sprintf("user%d", i/perUser), Template: "light"}}
		g.Expect(env.Client.Create(ctx, s)).To(Succeed())
	}

	// kube-controller-manager's part (envtest has none): a Deployment the
	// agent scales to 1 reports its replica available.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			var ds appsv1.DeploymentList
			_ = env.Client.List(ctx, &ds, client.InNamespace(ns))
			for i := range ds.Items {
				d := &ds.Items[i]
				if d.Spec.Replicas != nil && *d.Spec.Replicas == 1 && d.Status.AvailableReplicas == 0 {
					d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
					_ = env.Client.Status().Update(ctx, d)
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	defer wg.Wait()
	defer cancel()

	// Half launch under the first leader; it dies while they are being
	// made; the other half are asked for while nobody leads.
	for i := 0; i < n/2; i++ {
		launch(i)
	}
	g.Eventually(func(g Gomega) {
		var ds appsv1.DeploymentList
		g.Expect(env.Client.List(ctx, &ds, client.InNamespace(ns))).To(Succeed())
		g.Expect(len(ds.Items)).To(BeNumerically(">=", n/4))
	}, 30*time.Second, 20*time.Millisecond).Should(Succeed())
	killed := first.crash(t)
	before := uids(t, ctx, ns)
	for i := n / 2; i < n; i++ {
		launch(i)
	}
	made := 0
	for key := range before {
		if strings.HasPrefix(key, "Deployment/") {
			made++
		}
	}
	select {
	case at := <-survivor.elected:
		t.Logf("takeover: replica %s leads %v after replica %s was killed (lease %v, retry %v); %d of %d Deployments were made before the crash",
			survivor.name, at.Sub(killed).Round(time.Millisecond), first.name, leaseDuration, retryPeriod, made, n)
	case <-time.After(60 * time.Second):
		t.Fatal("the surviving replica did not take over")
	}

	g.Eventually(func(g Gomega) {
		var list streamv1.SessionList
		g.Expect(env.Client.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		running := 0
		for _, s := range list.Items {
			if s.Status.Phase == streamv1.PhaseRunning {
				running++
			}
		}
		g.Expect(running).To(Equal(n))
	}, 90*time.Second, 200*time.Millisecond).Should(Succeed())

	// Exactly one of each child, by label (a second one under a generated
	// name would show here), and what existed before the crash is the same
	// object (not deleted and made again).
	count := func(list client.ObjectList, label string) map[string]int {
		m := map[string]int{}
		for _, o := range listed(t, ctx, ns, list) {
			m[o.GetLabels()[label]]++
		}
		return m
	}
	want := map[string]int{}
	for i := 0; i < n; i++ {
		want[name(i)] = 1
	}
	g.Expect(count(&appsv1.DeploymentList{}, sessions.LabelSession)).To(Equal(want), "Deployments per session")
	g.Expect(count(&corev1.ServiceList{}, sessions.LabelSession)).To(Equal(want), "Services per session")
	homes := map[string]int{}
	for i := 0; i < n/perUser; i++ {
		homes[fmt.Sprintf("user%d", i)] = 1
	}
	g.Expect(count(&corev1.PersistentVolumeClaimList{}, users.LabelUser)).To(Equal(homes), "home volumes per user")
	after := uids(t, ctx, ns)
	for key, uid := range before {
		g.Expect(after[key]).To(Equal(uid), "%s was made again after the failover", key)
	}
	// (the lease's own "already exists", when both replicas first try to
	// create it, is leader election working, not a child made twice)
	storms := 0
	for _, line := range strings.Split(survivor.log.String(), "\n") {
		if strings.Contains(line, "already exists") && !strings.Contains(line, `"logger":"leaderelection"`) {
			storms++
		}
	}
	if storms != 0 {
		t.Errorf("%d AlreadyExists errors after the takeover:\n%s", storms, survivor.log.String())
	}
	t.Logf("the surviving replica logged %d reconcile errors", strings.Count(survivor.log.String(), "Reconciler error"))
}

// TestHA_gracefulStop_handsOverBeforeTheLeaseRunsOut: a replica stopped
// the way a rollout or a drain stops it (SIGTERM) releases its lease, so
// the other leads at once instead of after the lease runs out. The lease
// here is long (20 s) so that waiting it out cannot pass for a handover.
func TestHA_gracefulStop_handsOverBeforeTheLeaseRunsOut(t *testing.T) {
	const lease = 20 * time.Second
	ns := newNamespace(t)
	a, b := startAgentWithLease(t, "a", ns, "s", lease), startAgentWithLease(t, "b", ns, "s", lease)
	first, others := leader(t, 60*time.Second, a, b)
	next := others[0]
	stopped := first.stop(t)
	select {
	case at := <-next.elected:
		t.Logf("graceful handover: replica %s leads %v after SIGTERM to replica %s (lease %v)",
			next.name, at.Sub(stopped).Round(time.Millisecond), first.name, lease)
	case <-time.After(lease):
		t.Fatalf("replica %s did not lead within the lease (%v) of the stopped replica: it waited the lease out instead of receiving it", next.name, lease)
	}
}

func lightTemplate(ns string) *streamv1.Template {
	return &streamv1.Template{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "light"}, Spec: streamv1.TemplateSpec{
		DisplayName: "Light desktop", Category: "Utilities", BaseImage: "localhost/streamspace/light:1.0.0",
		Ports:        []streamv1.TemplatePort{{Name: "vnc-ws", ContainerPort: 6080}},
		Stream:       streamv1.StreamSpec{Protocol: streamv1.StreamWebsockifyVNC, Port: 6080},
		VolumeMounts: []streamv1.VolumeMount{{Name: streamv1.HomeVolumeName, MountPath: "/home/user"}}}}
}

// uids are the UIDs of the namespace's Deployments, Services and PVCs, by
// kind and name.
func uids(t *testing.T, ctx context.Context, ns string) map[string]types.UID {
	t.Helper()
	out := map[string]types.UID{}
	for kind, list := range map[string]client.ObjectList{
		"Deployment": &appsv1.DeploymentList{}, "Service": &corev1.ServiceList{}, "PVC": &corev1.PersistentVolumeClaimList{}} {
		for _, o := range listed(t, ctx, ns, list) {
			out[kind+"/"+o.GetName()] = o.GetUID()
		}
	}
	return out
}

// listed lists ns into list and returns its items.
func listed(t *testing.T, ctx context.Context, ns string, list client.ObjectList) []metav1.Object {
	t.Helper()
	if err := env.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []metav1.Object
	_ = apimeta.EachListItem(list, func(o runtime.Object) error {
		m, err := apimeta.Accessor(o)
		if err == nil {
			out = append(out, m)
		}
		return err
	})
	return out
}
