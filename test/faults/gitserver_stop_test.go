package faults

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/manager"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/gitserver"
	"github.com/streamspace/streamspace/test/testenv"
)

// stoppableGit is Git's own smart-HTTP server (git http-backend) on a
// fixed loopback address that can be stopped — listener and open
// connections closed, as when the server's process dies — and started
// again on the same address and repositories.
type stoppableGit struct {
	*gitserver.Server // Root and URL; its repositories and working copies
	addr              string
	handler           http.Handler
	// dieOnClone: the next clone's pack request stops the whole server
	// while the agent waits for the pack (mid-sync).
	dieOnClone atomic.Bool
	mu         sync.Mutex
	srv        *http.Server
}

func startGit(t *testing.T) *stoppableGit {
	t.Helper()
	backend, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Skipf("git is needed: %v", err)
	}
	g := &stoppableGit{Server: &gitserver.Server{Root: t.TempDir()}}
	cgiHandler := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(backend)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + g.Root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	g.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The ref listing (GET info/refs) succeeded; the pack (POST
		// git-upload-pack) is where the server dies.
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack") && g.dieOnClone.CompareAndSwap(true, false) {
			go g.stop()
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = conn.Close()
			}
			return
		}
		cgiHandler.ServeHTTP(w, r)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = l.Addr().String()
	g.URL = "http://" + g.addr
	g.serve(l)
	t.Cleanup(g.stop)
	return g
}

func (g *stoppableGit) serve(l net.Listener) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.srv = &http.Server{Handler: g.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = g.srv.Serve(l) }()
}

// stop closes the listener and every connection at once.
func (g *stoppableGit) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.srv != nil {
		_ = g.srv.Close()
		g.srv = nil
	}
}

// restart listens again on the same address.
func (g *stoppableGit) restart(t *testing.T) {
	t.Helper()
	var l net.Listener
	var err error
	// The address was just released; another process may not take it on
	// loopback, but the kernel may need a moment.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if l, err = net.Listen("tcp", g.addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("listen again on %s: %v", g.addr, err)
	}
	g.serve(l)
}

// TestFault_gitServerStopsMidSync_readyFalseNamesIt_nothingPruned_nextSyncApplies:
// the real agent (its whole manager) syncs this project's catalog and
// policies from a real Git server. The server dies while the agent clones
// a new commit (after the ref listing, during the pack), and stays down
// for a second sync. Each time the GitSync says Ready=False, FetchFailed,
// naming the server; every object it applied before still exists and the
// applied revision stays. Once the server is back, the agent's own retry
// applies the new commit.
func TestFault_gitServerStopsMidSync_readyFalseNamesIt_nothingPruned_nextSyncApplies(t *testing.T) {
	ctx := context.Background()
	ns, err := env.Namespace(ctx, "gitfault")
	if err != nil {
		t.Fatal(err)
	}
	git := startGit(t)
	repo := git.NewRepo(t, "platform")
	root := testenv.RepoRoot()
	for _, dir := range []string{"catalog", "policies", "environments"} {
		repo.CopyDir(filepath.Join(root, dir), dir)
	}
	repo.Write("environments/test/kustomization.yaml", fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: %s\nresources: [../local]\n", ns))
	first := repo.Push("platform")

	mctx, cancel := context.WithCancel(ctx)
	mgr, err := manager.New(mctx, env.Config, manager.Config{Namespace: ns, MetricsAddr: "0", ProbeAddr: "0", DisableWebhooks: true,
		SyncAllowedKinds: "ConfigMap", // as the agent's binary defaults: the plugin permission policy is one
		Registry:         prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(mctx) }()
	defer func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("agent: %v", err)
		}
	}()

	gs := &streamv1.GitSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "platform"},
		Spec: streamv1.GitSyncSpec{URL: repo.URL, Path: "environments/test", Prune: true,
			Interval: metav1.Duration{Duration: time.Hour}}, // syncs are asked for, or the agent's own retries
	}
	if err := env.Client.Create(ctx, gs); err != nil {
		t.Fatal(err)
	}
	applied := waitGitSync(t, gs, "the first sync", func(s *streamv1.GitSync) bool {
		return s.Status.LastAppliedRevision == first && readyIs(s, metav1.ConditionTrue)
	})
	inventory := applied.Status.Inventory
	if len(inventory) < 5 {
		t.Fatalf("the first sync applied only %d objects: %v", len(inventory), inventory)
	}
	if lost := missing(t, inventory); len(lost) > 0 {
		t.Fatalf("objects in the inventory but not in the cluster after the first sync: %v", lost)
	}

	// A new commit, which the agent is asked to sync; the server dies
	// when the agent fetches its pack. It adds a template: a copy of a
	// real one under a new name.
	firefox, err := os.ReadFile(filepath.Join(root, "catalog", "browsers", "firefox.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	probe := strings.Replace(string(firefox), "\n  name: firefox\n", "\n  name: fault-probe\n", 1)
	if probe == string(firefox) {
		t.Fatal("catalog/browsers/firefox.yaml is not named firefox")
	}
	repo.Write("environments/test/probe.yaml", probe)
	repo.Write("environments/test/kustomization.yaml", fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: %s\nresources: [../local, probe.yaml]\n", ns))
	second := repo.Push("a template added while the server is about to fail")
	faults, checks, lost := 0, 0, 0
	// check waits for Ready=False with a message saying what failed
	// against which server (want), then counts the applied objects.
	check := func(when, want string) {
		t.Helper()
		s := waitGitSync(t, gs, when, func(s *streamv1.GitSync) bool {
			return readyIs(s, metav1.ConditionFalse) && strings.Contains(readyCondition(s).Message, want)
		})
		ready := readyCondition(s)
		t.Logf("%s: Ready=%s %s: %s", when, ready.Status, ready.Reason, ready.Message)
		if ready.Reason != streamv1.ReasonFetchFailed {
			t.Errorf("%s: Ready reason %s, want %s", when, ready.Reason, streamv1.ReasonFetchFailed)
		}
		if s.Status.LastAppliedRevision != first {
			t.Errorf("%s: applied revision %s, want %s kept", when, s.Status.LastAppliedRevision, first)
		}
		gone := missing(t, inventory)
		checks += len(inventory)
		lost += len(gone)
		if len(gone) > 0 {
			t.Errorf("%s: objects of the last good sync are gone: %v", when, gone)
		}
		if len(s.Status.Inventory) != len(inventory) {
			t.Errorf("%s: inventory of %d objects, was %d", when, len(s.Status.Inventory), len(inventory))
		}
	}
	git.dieOnClone.Store(true)
	syncNow(t, gs)
	faults++
	// The clone's own error ("clone <url>: … EOF") may already be
	// replaced by the retry's ("list refs of <url>: … connection refused")
	// when a loaded machine polls: either names the server.
	check("server stopped mid-sync", repo.URL)
	if git.dieOnClone.Load() {
		t.Error("the agent never fetched the pack: the server was not stopped mid-sync")
	}
	if s := waitGitSync(t, gs, "", func(*streamv1.GitSync) bool { return true }); s.Status.LastAttemptedRevision != second {
		t.Errorf("attempted revision %s, want %s: the sync the server died in was not the new commit's", s.Status.LastAttemptedRevision, second)
	}
	// Still down: the next attempt cannot even list the refs.
	syncNow(t, gs)
	faults++
	check("server still down", "list refs of "+repo.URL+": Get \""+git.URL)
	if ready := readyCondition(waitGitSync(t, gs, "", func(*streamv1.GitSync) bool { return true })); !strings.Contains(ready.Message, "connection refused") {
		t.Errorf("server down: %q does not say the server is unreachable", ready.Message)
	}

	git.restart(t)
	back := time.Now()
	s := waitGitSync(t, gs, "the retry once the server is back", func(s *streamv1.GitSync) bool {
		return s.Status.LastAppliedRevision == second && readyIs(s, metav1.ConditionTrue)
	})
	t.Logf("the agent applied %s %v after the server came back", second, time.Since(back).Round(time.Millisecond))
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "fault-probe"}, &streamv1.Template{}); err != nil {
		t.Errorf("the new commit's template: %v", err)
	}
	gone := missing(t, inventory)
	checks += len(inventory)
	lost += len(gone)
	if len(gone) > 0 {
		t.Errorf("objects of the first sync gone after recovery: %v", gone)
	}
	t.Logf("faults injected: %d (Git server stopped mid-sync, then still down); objects checked: %d (%d per check); objects lost: %d; inventory now %d objects",
		faults, checks, len(inventory), lost, len(s.Status.Inventory))
}

// syncNow asks for a sync as the push webhook or the portal's button do.
func syncNow(t *testing.T, gs *streamv1.GitSync) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, streamv1.ReconcileRequestAnnotation, time.Now().Format(time.RFC3339Nano))
	if err := env.Client.Patch(context.Background(), gs, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

// waitGitSync waits up to a minute for cond on the GitSync's status.
func waitGitSync(t *testing.T, gs *streamv1.GitSync, what string, cond func(*streamv1.GitSync) bool) *streamv1.GitSync {
	t.Helper()
	got := &streamv1.GitSync{}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(gs), got); err != nil {
			t.Fatal(err)
		}
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in a minute; status: %+v", what, got.Status)
		}
	}
}

func readyCondition(gs *streamv1.GitSync) metav1.Condition {
	for _, c := range gs.Status.Conditions {
		if c.Type == streamv1.ConditionReady {
			return c
		}
	}
	return metav1.Condition{}
}

func readyIs(gs *streamv1.GitSync, status metav1.ConditionStatus) bool {
	return readyCondition(gs).Status == status
}

// missing returns the inventory entries whose object is not in the
// cluster (or is being deleted).
func missing(t *testing.T, inventory []streamv1.InventoryEntry) []string {
	t.Helper()
	var gone []string
	for _, e := range inventory {
		// <namespace>_<name>_<group>_<kind>
		parts := strings.Split(e.ID, "_")
		if len(parts) != 4 {
			t.Fatalf("inventory entry %q is not <namespace>_<name>_<group>_<kind>", e.ID)
		}
		gv, err := schema.ParseGroupVersion(e.Version)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: parts[2], Version: gv.Version, Kind: parts[3]})
		err = env.Client.Get(context.Background(), client.ObjectKey{Namespace: parts[0], Name: parts[1]}, u)
		switch {
		case apierrors.IsNotFound(err):
			gone = append(gone, e.ID)
		case err != nil:
			t.Fatal(err)
		case u.GetDeletionTimestamp() != nil:
			gone = append(gone, e.ID+" (being deleted)")
		}
	}
	return gone
}
