package gitsync_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/testenv"
)

// repo is a Git repository served by the test's git http-backend, with a
// working copy to commit to.
type repo struct {
	t    *testing.T
	url  string
	work string
}

// newRepo publishes this project's catalog/, policies/ and environments/
// (the real content) plus an overlay that puts them in namespace ns.
func newRepo(t *testing.T, ns string) *repo {
	t.Helper()
	name := ns + ".git"
	gitCmd(t, gitRoot, "init", "--bare", "--initial-branch=main", name)
	gitCmd(t, filepath.Join(gitRoot, name), "config", "http.receivepack", "true")
	r := &repo{t: t, url: gitURL + "/" + name, work: t.TempDir()}
	gitCmd(t, r.work, "init", "--initial-branch=main", ".")
	root := testenv.RepoRoot()
	for _, dir := range []string{"catalog", "policies", "environments"} {
		if out, err := exec.Command("cp", "-r", filepath.Join(root, dir), r.work).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v %s", dir, err, out)
		}
	}
	r.write("environments/test/kustomization.yaml", fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: %s
resources: [../local]
`, ns))
	r.commit("initial content")
	gitCmd(t, r.work, "remote", "add", "origin", r.url)
	gitCmd(t, r.work, "push", "-q", "origin", "main")
	return r
}

func (r *repo) write(path, content string) {
	r.t.Helper()
	p := filepath.Join(r.work, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *repo) remove(path string) {
	r.t.Helper()
	gitCmd(r.t, r.work, "rm", "-q", path)
}

// dropResource removes a line from a kustomization's resources.
func (r *repo) dropResource(kustomization, resource string) {
	r.t.Helper()
	p := filepath.Join(r.work, kustomization)
	data, err := os.ReadFile(p)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) != "- "+resource {
			out = append(out, line)
		}
	}
	r.write(kustomization, strings.Join(out, "\n"))
}

func (r *repo) commit(msg string) {
	r.t.Helper()
	gitCmd(r.t, r.work, "add", "-A")
	gitCmd(r.t, r.work, "-c", "user.name=Admin", "-c", "user.email=admin@example.com", "commit", "-q", "-m", msg)
}

func (r *repo) push(msg string) string {
	r.t.Helper()
	r.commit(msg)
	gitCmd(r.t, r.work, "push", "-q", "origin", "main")
	return "main@sha1:" + strings.TrimSpace(gitCmd(r.t, r.work, "rev-parse", "HEAD"))
}

func (r *repo) head() string {
	return "main@sha1:" + strings.TrimSpace(gitCmd(r.t, r.work, "rev-parse", "HEAD"))
}

// readFile returns a file of the working copy with old replaced by new.
func readFile(t *testing.T, r *repo, path, old, new string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(r.work, path))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	return strings.Replace(string(data), old, new, 1)
}

func gitCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func setup(t *testing.T) (string, *repo, *streamv1.GitSync) {
	t.Helper()
	ns, err := env.Namespace(context.Background(), "gs")
	if err != nil {
		t.Fatal(err)
	}
	r := newRepo(t, ns)
	gs := &streamv1.GitSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "platform"},
		Spec: streamv1.GitSyncSpec{
			URL: r.url, Path: "environments/test", Prune: true,
			Interval: metav1.Duration{Duration: time.Hour}, // the tests ask for syncs explicitly
		},
	}
	if err := env.Client.Create(context.Background(), gs); err != nil {
		t.Fatal(err)
	}
	return ns, r, gs
}

// syncNow asks for a sync, as the push webhook or the portal's button do.
func syncNow(t *testing.T, gs *streamv1.GitSync) string {
	t.Helper()
	token := time.Now().Format(time.RFC3339Nano)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, streamv1.ReconcileRequestAnnotation, token)
	if err := env.Client.Patch(context.Background(), gs, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
	return token
}

func waitHandled(t *testing.T, gs *streamv1.GitSync, token string) *streamv1.GitSync {
	t.Helper()
	got := &streamv1.GitSync{}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(gs), got)).To(Succeed())
		g.Expect(got.Status.LastHandledReconcileAt).To(Equal(token))
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	return got
}

func waitRevision(t *testing.T, gs *streamv1.GitSync, revision string) *streamv1.GitSync {
	t.Helper()
	got := &streamv1.GitSync{}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(gs), got)).To(Succeed())
		g.Expect(got.Status.LastAppliedRevision).To(Equal(revision), "conditions: %v", got.Status.Conditions)
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	return got
}

func cond(gs *streamv1.GitSync, t string) *metav1.Condition {
	for i := range gs.Status.Conditions {
		if gs.Status.Conditions[i].Type == t {
			return &gs.Status.Conditions[i]
		}
	}
	return nil
}

func exists(ns string, obj client.Object, name string) bool {
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
	return !apierrors.IsNotFound(err)
}

func TestGitSync_appliesOverlay_recordsInventory_skipsUnchangedFetch(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns, r, gs := setup(t)
	got := waitRevision(t, gs, r.head())

	g.Expect(cond(got, streamv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(got.Status.LastAttemptedRevision).To(Equal(r.head()))
	g.Expect(len(got.Status.Inventory)).To(BeNumerically(">=", 48), "templates, quotas, policies")
	g.Expect(got.Status.Inventory).To(ContainElement(streamv1.InventoryEntry{ID: ns + "_firefox_stream.space_Template", Version: "v1alpha1"}))

	tpl := &streamv1.Template{}
	g.Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "firefox"}, tpl)).To(Succeed())
	g.Expect(tpl.Labels).To(HaveKeyWithValue("stream.space/environment", "local"))
	managers := []string{}
	for _, mf := range tpl.ManagedFields {
		managers = append(managers, mf.Manager)
	}
	g.Expect(managers).To(ContainElement("streamspace-gitsync"))
	q := &streamv1.Quota{}
	g.Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "default"}, q)).To(Succeed())
	g.Expect(*q.Spec.Limits.MaxRunningSessions).To(BeEquivalentTo(2), "the local overlay's patch")
	g.Expect(exists(ns, &networkingv1.NetworkPolicy{}, "session-isolation")).To(BeTrue())

	// Nothing new in Git: a sync asks the remote for the ref and skips the
	// fetch.
	fetches := testutil.ToFloat64(metrics.Fetches.WithLabelValues(ns, "platform"))
	waitHandled(t, gs, syncNow(t, gs))
	g.Expect(testutil.ToFloat64(metrics.Fetches.WithLabelValues(ns, "platform"))).To(Equal(fetches))
}

func TestGitSync_prune_blockedWhileSessionsUseIt(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx := context.Background()
	ns, r, gs := setup(t)
	waitRevision(t, gs, r.head())

	live := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ann-ff"}, Spec: streamv1.SessionSpec{User: "ann", Template: "firefox"}}
	g.Expect(env.Client.Create(ctx, live)).To(Succeed())

	r.dropResource("catalog/kustomization.yaml", "browsers/firefox.yaml")
	r.dropResource("catalog/kustomization.yaml", "graphics/gimp.yaml")
	r.remove("catalog/browsers/firefox.yaml")
	r.remove("catalog/graphics/gimp.yaml")
	// The same commit adds a template.
	r.write("catalog/utilities/xterm.yaml", `apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: xterm}
spec:
  displayName: XTerm
  category: Utilities
  baseImage: localhost/streamspace/light:1.0.0
  ports: [{name: vnc-ws, containerPort: 6080}]
  stream: {protocol: WebsockifyVNC, port: 6080}
`)
	data, err := os.ReadFile(filepath.Join(r.work, "catalog/kustomization.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	r.write("catalog/kustomization.yaml", strings.Replace(string(data), "resources:\n", "resources:\n  - utilities/xterm.yaml\n", 1))
	rev := r.push("remove firefox and gimp, add xterm")
	syncNow(t, gs)
	got := waitRevision(t, gs, rev)

	g.Expect(exists(ns, &streamv1.Template{}, "xterm")).To(BeTrue(), "added")
	g.Expect(exists(ns, &streamv1.Template{}, "gimp")).To(BeFalse(), "unused: pruned")
	g.Expect(exists(ns, &streamv1.Template{}, "firefox")).To(BeTrue(), "in use: kept")
	blocked := cond(got, streamv1.ConditionPruneBlocked)
	g.Expect(blocked).NotTo(BeNil())
	g.Expect(blocked.Message).To(ContainSubstring("Template/firefox is used by session ann-ff"))
	g.Expect(got.Status.Inventory).To(ContainElement(HaveField("ID", ns+"_firefox_stream.space_Template")))
	g.Expect(got.Status.Inventory).NotTo(ContainElement(HaveField("ID", ns+"_gimp_stream.space_Template")))

	// The session ends: the next sync prunes firefox, without a new commit.
	g.Expect(env.Client.Patch(ctx, live, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"state":"terminated"}}`)))).To(Succeed())
	got = waitHandled(t, gs, syncNow(t, gs))
	g.Expect(exists(ns, &streamv1.Template{}, "firefox")).To(BeFalse())
	g.Expect(cond(got, streamv1.ConditionPruneBlocked)).To(BeNil())
	g.Expect(got.Status.Inventory).NotTo(ContainElement(HaveField("ID", ns+"_firefox_stream.space_Template")))
}

func TestGitSync_brokenBuild_keepsTheLastGoodState(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns, r, gs := setup(t)
	good := waitRevision(t, gs, r.head())

	r.write("catalog/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - browsers/no-such-file.yaml\n")
	bad := r.push("break the catalog")
	syncNow(t, gs)
	var got *streamv1.GitSync
	g.Eventually(func(g Gomega) {
		got = &streamv1.GitSync{}
		g.Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(gs), got)).To(Succeed())
		g.Expect(got.Status.LastAttemptedRevision).To(Equal(bad))
		g.Expect(cond(got, streamv1.ConditionReady).Reason).To(Equal("BuildFailed"))
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	g.Expect(cond(got, streamv1.ConditionReady).Message).To(ContainSubstring("no-such-file.yaml"))
	g.Expect(got.Status.LastAppliedRevision).To(Equal(good.Status.LastAppliedRevision))
	g.Expect(got.Status.Inventory).To(Equal(good.Status.Inventory), "an empty or failed build never prunes")
	g.Expect(exists(ns, &streamv1.Template{}, "firefox")).To(BeTrue())
}

func TestGitSync_disallowedKinds_areRejectedByName_nothingApplied(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns, r, gs := setup(t)
	good := waitRevision(t, gs, r.head())

	r.write("catalog/evil.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: miner}
spec:
  selector: {matchLabels: {app: miner}}
  template:
    metadata: {labels: {app: miner}}
    spec: {containers: [{name: m, image: "evil/miner:1"}]}
`)
	data, err := os.ReadFile(filepath.Join(r.work, "catalog/kustomization.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	r.write("catalog/kustomization.yaml", strings.Replace(string(data), "resources:\n", "resources:\n  - evil.yaml\n", 1))
	// The same commit also changes a template: it must not be applied either.
	tplData, err := os.ReadFile(filepath.Join(r.work, "catalog/browsers/firefox.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	r.write("catalog/browsers/firefox.yaml", strings.Replace(string(tplData), `displayName: "Firefox"`, `displayName: "Firefox (changed)"`, 1))
	bad := r.push("sneak a deployment in")
	syncNow(t, gs)

	g.Eventually(func(g Gomega) {
		got := &streamv1.GitSync{}
		g.Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(gs), got)).To(Succeed())
		g.Expect(got.Status.LastAttemptedRevision).To(Equal(bad))
		c := cond(got, streamv1.ConditionReady)
		g.Expect(c.Reason).To(Equal("ValidationFailed"))
		g.Expect(c.Message).To(ContainSubstring("objects the agent may not apply: Deployment.apps miner"))
		g.Expect(got.Status.LastAppliedRevision).To(Equal(good.Status.LastAppliedRevision))
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	tpl := &streamv1.Template{}
	g.Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "firefox"}, tpl)).To(Succeed())
	g.Expect(tpl.Spec.DisplayName).To(Equal("Firefox"))
}
