package portal_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/streamspace/streamspace/agent/gitsync"
	"github.com/streamspace/streamspace/agent/manager"
	agentplugins "github.com/streamspace/streamspace/agent/plugins"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/trust"
	"github.com/streamspace/streamspace/plugins/webhook"
	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/plugins"
	"github.com/streamspace/streamspace/portal/web"
	"github.com/streamspace/streamspace/test/freeport"
	"github.com/streamspace/streamspace/test/gitserver"
	"github.com/streamspace/streamspace/test/testenv"
)

// mergingGitHub answers POST .../pulls like GitHub and then merges the pull
// request at once, as an admin would (main moves to its branch: every
// write-back branches from main); the agent's GitSync takes it from there.
type mergingGitHub struct {
	t    *testing.T
	repo *git.Repository
	mu   sync.Mutex
	n    int
}

func (g *mergingGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	if r.Method != http.MethodPost || r.URL.Path != "/api/v3/repos/acme/platform/pulls" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	head, _ := body["head"].(string)
	ref, err := g.repo.Reference(plumbing.NewBranchReferenceName(head), true)
	if err != nil {
		g.t.Errorf("pull request of an unknown branch %s: %v", head, err)
		w.WriteHeader(http.StatusUnprocessableEntity)
		return
	}
	if err := g.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName("main"), ref.Hash())); err != nil {
		g.t.Errorf("merge %s: %v", head, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"number":%d,"state":"open","html_url":"https://github.example.com/acme/platform/pull/%d","head":{"ref":%q},"base":{"ref":"main"}}`, g.n, g.n, head)
}

// TestPlugins_inChromium_browseInstallApproveConfigureDeliverDisable: an
// admin in the real UI sees the sign-in page in the enabled theme (its name
// and its logo, served from the plugin repository), browses the catalog
// the real agent published from a plugin repository on a real Git server,
// installs the audit exporter, approves its permissions, enables it,
// configures it through the form its schema generates (the form's refusal
// first) to send to a real HTTPS receiver, signs out and in again, sees the
// deliveries of those events and disables it. Each change is a pull
// request on a real Git server, merged by the GitHub stand-in; everything
// after is the system's own: the agent's GitSync applies the merged Plugin
// YAML, its Plugin and PluginRepository controllers resolve, verify and
// set status (and the signing Secret), and the portal's dispatcher
// delivers the portal's own user events, signed, to the receiver.
func TestPlugins_inChromium_browseInstallApproveConfigureDeliverDisable(t *testing.T) {
	uiDir := filepath.Join(testenv.RepoRoot(), "portal", "web")
	if why := whyNoBrowser(uiDir); why != "" {
		t.Skip("skipped: " + why)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	// this project's plugin repository on a real Git server, with a broken
	// manifest beside it, trusted up to medium risk (personal data)
	gs, err := gitserver.Start()
	if err != nil {
		t.Skip("skipped: " + err.Error())
	}
	t.Cleanup(gs.Close)
	plugRepo := gs.NewRepo(t, "browser-plugins")
	for _, name := range []string{"audit-exporter", "midnight-theme", "session-policy", "slack-notifier"} {
		plugRepo.CopyDir(filepath.Join(testenv.RepoRoot(), "plugins", "repository", name), "plugins/"+name)
	}
	plugRepo.Write("plugins/half-done/plugin.yaml", "name: half-done\nversion: 0.1.0\ntype: x\n")
	plugRepo.Push("plugins")
	policy := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: trust.ConfigMapName},
		Data: map[string]string{trust.Key: "version: 2\ndefaultMaxRisk: low\nrepositories:\n  - name: browser-plugins\n    maxRisk: medium\n"}}
	pluginRepo := &streamv1.PluginRepository{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "browser-plugins"},
		Spec: streamv1.PluginRepositorySpec{URL: plugRepo.URL, Path: "plugins", Interval: metav1.Duration{Duration: time.Minute}}}
	theme := &streamv1.Plugin{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "midnight-theme"}, Spec: streamv1.PluginSpec{
		Repository: streamv1.LocalObjectReference{Name: "browser-plugins"}, PluginName: "midnight-theme", Version: "0.1.0", Enabled: true}}
	for _, o := range []client.Object{policy, pluginRepo, theme} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		bg := context.Background()
		_ = env.Client.DeleteAllOf(bg, &streamv1.Plugin{}, client.InNamespace(ns))
		_ = env.Client.Delete(bg, pluginRepo)
		_ = env.Client.Delete(bg, policy)
	})

	// the receiver: HTTPS, checks each event's signature with the key the
	// agent made for the plugin
	var (
		recvMu   sync.Mutex
		received []string // event types, in arrival order
		recvErrs []string
	)
	receiver := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var s corev1.Secret
		err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: plugins.SigningSecret("audit-exporter")}, &s)
		if err == nil {
			err = webhook.Verify(s.Data["secret"], body, r.Header.Get(webhook.SignatureHeader))
		}
		recvMu.Lock()
		defer recvMu.Unlock()
		if err != nil {
			recvErrs = append(recvErrs, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ce struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(body, &ce)
		received = append(received, ce.Type)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	roots := x509.NewCertPool()
	roots.AddCert(receiver.Certificate())

	// the agent's plugin controllers and the portal's dispatcher, on the
	// test's API server and store
	ctrl.SetLogger(logr.Discard()) // the controllers' logs are not this test's
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: manager.Scheme(), Logger: logr.Discard(),
		Cache:   cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		t.Fatal(err)
	}
	agentMetrics, err := agentplugins.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := (&agentplugins.RepositoryReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("streamspace-agent"), Metrics: agentMetrics}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	if err := (&agentplugins.PluginReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("streamspace-agent")}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	syncMetrics, err := gitsync.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := (&gitsync.GitSyncReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("streamspace-agent"), Metrics: syncMetrics,
		Desired: gitsync.NewDesiredStore()}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	portalMetrics, err := plugins.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	events := plugins.NewEvents(db, portalMetrics, logr.Discard())
	runtime := plugins.NewRuntime(mgr.GetClient(), mgr.GetAPIReader(), ns, logr.Discard())
	runtime.Webhook = webhook.Options{RootCAs: roots}
	if err := mgr.Add(&plugins.Dispatcher{Client: mgr.GetClient(), Namespace: ns, Cache: mgr.GetCache(), Store: db, Events: events,
		Runtime: runtime, Source: "http://portal.test", Metrics: portalMetrics, Log: logr.Discard()}); err != nil {
		t.Fatal(err)
	}
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(ctx) }()
	t.Cleanup(func() { stop(); <-mgrDone })
	waitReady := func(what string, get func() []metav1.Condition) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !meta.IsStatusConditionTrue(get(), "Ready") {
			if time.Now().After(deadline) {
				t.Fatalf("%s not Ready within a minute: %+v", what, get())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitReady("PluginRepository browser-plugins", func() []metav1.Condition {
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(pluginRepo), pluginRepo)
		return pluginRepo.Status.Conditions
	})
	waitReady("the theme", func() []metav1.Condition {
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(theme), theme)
		return theme.Status.Conditions
	})

	// (a sync applies nothing rather than an empty set: one object that
	// selects no pod stands for the rest of a platform)
	gitURL, repo := platformRepo(t, map[string]string{
		"policies/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - placeholder.yaml\n",
		"policies/placeholder.yaml":   "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: browser-placeholder\nspec:\n  podSelector:\n    matchLabels:\n      nothing: here\n",
	})
	// the agent syncs the platform repository's policies, as a real
	// installation's GitSync would (token auth, every few seconds)
	gitCreds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "browser-platform-git"}, StringData: map[string]string{"token": "git-write-token"}}
	platform := &streamv1.GitSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "browser-platform"}, Spec: streamv1.GitSyncSpec{
		URL: gitURL, Ref: streamv1.GitReference{Branch: "main"}, Path: "policies", SecretRef: &streamv1.LocalObjectReference{Name: gitCreds.Name},
		Interval: metav1.Duration{Duration: 2 * time.Second}, Prune: true, DriftMode: streamv1.DriftWarn}}
	for _, o := range []client.Object{gitCreds, platform} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		bg := context.Background()
		_ = env.Client.Delete(bg, platform)
		_ = env.Client.Delete(bg, gitCreds)
		_ = env.Client.Delete(bg, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "browser-placeholder"}})
	})
	waitReady("the GitSync of the platform repository", func() []metav1.Condition {
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(platform), platform)
		return platform.Status.Conditions
	})
	gh := &mergingGitHub{t: t, repo: repo}
	w := writerTo(t, gitURL, gh)

	port := freeport.For(t)
	public := fmt.Sprintf("http://localhost:%d", port)
	h := newHandlers(func(c *portal.Components) { c.Writer = w; c.Events = events })
	h.UI = web.Handler()
	pl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: portal.Handler(h)}
	go func() { _ = srv.Serve(pl) }()
	t.Cleanup(func() { _ = srv.Close() })
	if resp, body := (&appsPortal{t: t, srv: &httptest.Server{URL: public}}).do(http.MethodGet, "", "/", nil); resp.StatusCode != http.StatusOK || strings.Contains(body, "not built into this binary") {
		t.Skipf("skipped: this test binary's portal has no web UI (%d %.80q): go test -tags ui ./portal (after make ui)", resp.StatusCode, body)
	}

	run, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(run, "node", "e2e/plugins.mjs")
	cmd.Dir = uiDir
	cmd.Env = append(os.Environ(), "PORTAL_URL="+public, "USER_NAME=root", "USER_PASSWORD=password-of-root", "OUT_DIR="+t.TempDir(),
		"RECEIVER_URL="+receiver.URL+"/events")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Chromium is node's child
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("plugins.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("plugins.mjs: %v", err)
	}

	// what the browser did, as Git, the cluster and the receiver saw it
	gh.mu.Lock()
	defer gh.mu.Unlock()
	if gh.n != 5 {
		t.Errorf("%d pull requests merged; want 5 (install, approve, enable, configure, disable)", gh.n)
	}
	p := &streamv1.Plugin{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "audit-exporter"}, p); err != nil {
		t.Fatal(err)
	}
	if p.Spec.Enabled || !slices.Equal(p.Spec.ApprovedPermissions, []string{"events:session.*", "events:user.*"}) || p.Spec.Config == nil ||
		string(p.Spec.Config.Raw) != fmt.Sprintf(`{"endpoint":%q}`, receiver.URL+"/events") {
		t.Errorf("the Plugin after the flow: %+v %s", p.Spec, p.Spec.Config.Raw)
	}
	recvMu.Lock()
	defer recvMu.Unlock()
	if !slices.Contains(received, "user.logout") || !slices.Contains(received, "user.login") || len(recvErrs) > 0 {
		t.Errorf("the receiver got %v (refused: %v); want the sign-out and sign-in, signed", received, recvErrs)
	}
}
