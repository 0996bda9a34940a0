package plugins_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/manifest"
	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/test/gitserver"
)

// wasmPlugin installs a shipped WebAssembly plugin as the agent leaves it
// Ready: its folder of plugins/repository pushed to a real Git server
// (the PluginRepository "official"), the Plugin pinned to that commit and
// the module's digest. asks replaces the manifest's network permission
// (the test's receiver is no Slack); approved is what the admin approved.
func wasmPlugin(t *testing.T, ns, name string, config any, asks func([]string) []string, approved []string) {
	t.Helper()
	ctx := context.Background()
	root, err := os.OpenRoot("../../plugins/repository")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	m, problems := manifest.Load(root.FS(), name)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	m.Permissions = asks(m.Permissions)
	gs, err := gitserver.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gs.Close)
	repo := gs.NewRepo(t, "plugins")
	repo.CopyDir("../../plugins/repository/"+name, name)
	revision := repo.Push("the plugin")
	if err := env.Client.Create(ctx, &streamv1.PluginRepository{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "official"},
		Spec: streamv1.PluginRepositorySpec{URL: repo.URL, Ref: streamv1.GitReference{Branch: "main"}}}); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	p := &streamv1.Plugin{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: streamv1.PluginSpec{Repository: streamv1.LocalObjectReference{Name: "official"}, PluginName: name, Version: m.Version,
			Enabled: true, ApprovedPermissions: approved, Config: &apiextensionsv1.JSON{Raw: conf}}}
	if err := env.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.Status.Manifest = &apiextensionsv1.JSON{Raw: raw}
	p.Status.Revision = revision
	p.Status.Artifact = &streamv1.PluginArtifact{Path: name + "/" + m.Entry.Wasm.Module, SHA256: m.Entry.Wasm.SHA256}
	apimeta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: streamv1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: streamv1.ReasonInstalled, Message: "installed", ObservedGeneration: p.Generation})
	if err := env.Client.Status().Update(ctx, p); err != nil {
		t.Fatal(err)
	}
}

// startSession creates a session and reports it streaming: the portal
// records session.created and session.started.
func startSession(t *testing.T, ns, name, user string) {
	t.Helper()
	if err := env.Client.Create(context.Background(), &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: streamv1.SessionSpec{User: user, Template: "term", State: streamv1.StateRunning}}); err != nil {
		t.Fatal(err)
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	setStatus(t, ns, name, func(s *streamv1.Session) {
		s.Status.Phase = streamv1.PhaseRunning
		s.Status.LastStart = &streamv1.StartTimes{Kind: streamv1.StartLaunch, RequestedAt: now, StreamReadyAt: &now}
	})
}

// runPortal starts the portal and shows its log when the test fails; with
// started, it waits until the dispatcher started the plugin (which
// receives what happens from then on).
func runPortal(t *testing.T, ns, dsn string, db store.Store, started bool) {
	t.Helper()
	p := startPortal(t, ns, dsn, t.TempDir())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("portal log:\n%s", p.out.String())
		}
	})
	if started {
		eventually(t, 60*time.Second, "the dispatcher started the plugin", func() bool {
			ds, _ := db.PluginDeliveries(context.Background())
			return len(ds) == 1
		})
	}
}

func delivering(t *testing.T, ns, name string) *metav1.Condition {
	t.Helper()
	p := &streamv1.Plugin{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, p); err != nil {
		t.Fatal(err)
	}
	return apimeta.FindStatusCondition(p.Status.Conditions, streamv1.ConditionDelivering)
}

// TestWasm_slackNotifier_postsSessionEventsToItsApprovedHost: the
// portal fetches the committed slack-notifier module from the plugin
// repository at the pinned commit and runs it; its messages reach a real
// HTTP receiver on the host its network:<host> permission grants.
func TestWasm_slackNotifier_postsSessionEventsToItsApprovedHost(t *testing.T) {
	ns, dsn, db := setup(t, "wasm-slack")
	var mu sync.Mutex
	var texts []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			Text string `json:"text"`
		}
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/services/T0/B0/x" || json.Unmarshal(body, &msg) != nil {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		texts = append(texts, msg.Text)
		mu.Unlock()
	}))
	t.Cleanup(recv.Close)
	u, _ := url.Parse(recv.URL)
	grant := manifest.NetworkPermission(u.Host)
	wasmPlugin(t, ns, "slack-notifier", map[string]any{"webhookURL": recv.URL + "/services/T0/B0/x"},
		func(asks []string) []string {
			return append(slices.DeleteFunc(asks, func(p string) bool { return strings.HasPrefix(p, manifest.NetworkPermission("")) }), grant)
		},
		[]string{manifest.PermSessionEvents, manifest.PermUserEvents, grant})
	runPortal(t, ns, dsn, db, true)
	startSession(t, ns, "erin-term-1", "erin")
	eventually(t, 60*time.Second, "the session's start posted", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.ContainsFunc(texts, func(s string) bool { return strings.Contains(s, "erin-term-1") && strings.Contains(s, "start") })
	})
	eventually(t, time.Minute, "the deliveries counted", func() bool {
		ds, _ := db.PluginDeliveries(context.Background())
		return len(ds) == 1 && ds[0].Delivered >= 2 && ds[0].Failed == 0 // created, started
	})
	if c := delivering(t, ns, "slack-notifier"); c != nil && c.Status != metav1.ConditionTrue {
		t.Errorf("Delivering condition %+v", c)
	}
}

// outsideHours is a session-policy config under which neither today nor
// tomorrow (UTC) is a working day: any event of this test is outside.
func outsideHours() map[string]any {
	now := time.Now().UTC()
	var days []string
	for _, d := range []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"} {
		if d != strings.ToLower(now.Weekday().String()[:3]) && d != strings.ToLower(now.AddDate(0, 0, 1).Weekday().String()[:3]) {
			days = append(days, d)
		}
	}
	return map[string]any{"timeZone": "UTC", "days": days, "from": "00:00", "until": "24:00"}
}

// TestWasm_sessionPolicy_hibernatesOutsideHours: the committed
// session-policy module, granted sessions:hibernate, hibernates a session
// that starts outside its hours, as the portal's hibernate action does.
func TestWasm_sessionPolicy_hibernatesOutsideHours(t *testing.T) {
	ctx := context.Background()
	ns, dsn, db := setup(t, "wasm-policy")
	wasmPlugin(t, ns, "session-policy", outsideHours(), func(asks []string) []string { return asks },
		[]string{manifest.PermSessionEvents, manifest.PermSessionsHibernate})
	runPortal(t, ns, dsn, db, true)
	startSession(t, ns, "fay-term-1", "fay")
	s := &streamv1.Session{}
	eventually(t, 60*time.Second, "the session hibernated", func() bool {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "fay-term-1"}, s); err != nil {
			t.Fatal(err)
		}
		return s.Spec.State == streamv1.StateHibernated
	})
	if r := s.Annotations[streamv1.StateReasonAnnotation]; r != streamv1.ReasonPluginRequest {
		t.Errorf("state reason %q, want %s", r, streamv1.ReasonPluginRequest)
	}
}

// TestWasm_sessionPolicy_withoutHibernatePermission_cannot: the same
// plugin marked Ready (as a stale or forged status would) but not granted
// sessions:hibernate is refused before it runs, names the permission, and
// the session keeps running.
func TestWasm_sessionPolicy_withoutHibernatePermission_cannot(t *testing.T) {
	ctx := context.Background()
	ns, dsn, db := setup(t, "wasm-nohib")
	wasmPlugin(t, ns, "session-policy", outsideHours(), func(asks []string) []string { return asks },
		[]string{manifest.PermSessionEvents})
	runPortal(t, ns, dsn, db, false)
	startSession(t, ns, "gus-term-1", "gus")
	var c *metav1.Condition
	eventually(t, 60*time.Second, "the plugin marked", func() bool {
		c = delivering(t, ns, "session-policy")
		return c != nil
	})
	if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, manifest.PermSessionsHibernate) {
		t.Errorf("Delivering condition %+v, want False naming %s", c, manifest.PermSessionsHibernate)
	}
	s := &streamv1.Session{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gus-term-1"}, s); err != nil {
		t.Fatal(err)
	}
	if s.Spec.State == streamv1.StateHibernated {
		t.Errorf("a plugin without sessions:hibernate hibernated the session")
	}
}
