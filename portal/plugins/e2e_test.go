package plugins_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/event"
	"github.com/streamspace/streamspace/plugins/manifest"
	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/plugins"
	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/portal/store/postgres"
	"github.com/streamspace/streamspace/test/firstadmin"
	"github.com/streamspace/streamspace/test/freeport"
	"github.com/streamspace/streamspace/test/pgtest"
	"github.com/streamspace/streamspace/test/syncbuf"
	"github.com/streamspace/streamspace/test/testenv"
	"github.com/streamspace/streamspace/test/webhooktest"
)

var (
	env      *testenv.Env
	pg       *pgtest.Server
	receiver *webhooktest.Receiver
)

// TestMain starts a real API server with the CRDs, PostgreSQL, and an
// HTTPS receiver whose certificate the portal trusts the way an operator
// adds a private CA: SSL_CERT_FILE (set before anything reads the system
// roots).
func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "plugins-e2e")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if receiver, err = webhooktest.Start(); err != nil {
		return 0, err
	}
	defer receiver.Close()
	if err := receiver.WriteCA(filepath.Join(dir, "ca.pem")); err != nil {
		return 0, err
	}
	os.Setenv("SSL_CERT_FILE", filepath.Join(dir, "ca.pem"))
	if env, err = testenv.Start(false); err != nil {
		return 0, err
	}
	defer func() { _ = env.Stop() }()
	if pg, err = pgtest.Start(); err != nil {
		return 0, err
	}
	defer pg.Stop()
	return m.Run(), nil
}

func installPlugin(t *testing.T, ns, name string, enabled bool, events, asks, approved []string) {
	t.Helper()
	if err := receiver.Install(context.Background(), env.Client, ns, webhooktest.Plugin{Name: name, Enabled: enabled, Events: events, Asks: asks, ApprovedByAdmin: approved}); err != nil {
		t.Fatal(err)
	}
}

// setup gives a test its namespace and database, and the store on it.
func setup(t *testing.T, prefix string) (ns, dsn string, db store.Store) {
	t.Helper()
	ctx := context.Background()
	ns, err := env.Namespace(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if dsn, err = pg.NewDatabase(ctx); err != nil {
		t.Fatal(err)
	}
	pdb, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pdb.Close() })
	return ns, dsn, pdb
}

// portalProc is one run of the portal as its binary runs it.
type portalProc struct {
	base string
	out  *syncbuf.Buffer
	stop func()
}

func startPortal(t *testing.T, ns, dsn, stateDir string) *portalProc {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(freeport.For(t))
	ctx, cancel := context.WithCancel(context.Background())
	p := &portalProc{base: "http://" + addr, out: &syncbuf.Buffer{}}
	done := make(chan error, 1)
	go func() {
		done <- portal.Run(ctx, portal.Config{Addr: addr, Namespace: ns, Database: dsn, StateDir: stateDir, Out: p.out,
			PublicURL: "https://portal.example.com", ShutdownGrace: time.Second, Log: zap.New(zap.WriteTo(p.out))}, env.Config)
	}()
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("portal stopped with %v", err)
			}
		})
	}
	t.Cleanup(p.stop)
	eventually(t, 60*time.Second, "portal ready", func() bool {
		resp, err := http.Get(p.base + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

func (p *portalProc) call(t *testing.T, method, path, token string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, p.base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
	}
	return out
}

func eventually(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func setStatus(t *testing.T, ns, name string, edit func(*streamv1.Session)) {
	t.Helper()
	s := &streamv1.Session{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	edit(s)
	if err := env.Client.Status().Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func recorded(t *testing.T, db store.Store) int {
	t.Helper()
	evs, err := db.EventsAfter(context.Background(), 0, event.Types, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func inHistory(t *testing.T, db store.Store, session string) bool {
	t.Helper()
	records, err := db.SessionHistory(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records {
		if r.Session == session {
			return true
		}
	}
	return false
}

// TestDelivery_deletedBeforeTheAgentAnswered: a session announced
// (session.created) and deleted before the agent gave it a phase, so never
// in the session history, while no portal ran: the restarted portal still
// says it was deleted, once, with its user and template.
func TestDelivery_deletedBeforeTheAgentAnswered(t *testing.T) {
	ctx := context.Background()
	ns, dsn, db := setup(t, "plugins-unanswered")
	stateDir := t.TempDir()
	a := startPortal(t, ns, dsn, stateDir)
	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "carol-term-0"}, Spec: streamv1.SessionSpec{User: "carol", Template: "term"}}
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	created := func() bool {
		evs, err := db.EventsAfter(ctx, 0, []string{event.SessionCreated}, 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs) == 1
	}
	eventually(t, time.Minute, "session.created recorded", created)
	a.stop()
	if inHistory(t, db, s.Name) {
		t.Fatal("a session with no phase is in the history: this test no longer covers the outbox path")
	}
	if err := env.Client.Delete(ctx, s); err != nil {
		t.Fatal(err)
	}

	b := startPortal(t, ns, dsn, stateDir)
	var deleted []store.OutboxEvent
	eventually(t, time.Minute, "session.deleted recorded by the restarted portal", func() bool {
		var err error
		if deleted, err = db.EventsAfter(ctx, 0, []string{event.SessionDeleted}, 10); err != nil {
			t.Fatal(err)
		}
		return len(deleted) > 0
	})
	var d plugins.SessionData
	if err := json.Unmarshal(deleted[0].Data, &d); err != nil || d.Session != s.Name || d.User != "carol" || d.Template != "term" {
		t.Errorf("session.deleted payload %s (%v): want carol-term-0 of carol, template term", deleted[0].Data, err)
	}
	b.stop()
}

// TestDelivery_allEvents_portalRestartedReceiverFailing: the eleven events
// happen, partly while the portal is down and while the receiver answers
// 503; every one reaches the subscribed plugin once or more (none lost),
// each subject's in order; a disabled plugin gets nothing, a plugin gets
// no type it did not subscribe to, and no user event without
// events:user.* granted.
func TestDelivery_allEvents_portalRestartedReceiverFailing(t *testing.T) {
	ctx := context.Background()
	ns, dsn, db := setup(t, "plugins")
	both := []string{manifest.PermSessionEvents, manifest.PermUserEvents}
	sessionOnly := []string{manifest.PermSessionEvents}
	installPlugin(t, ns, "audit", true, event.Types, both, both)
	// approved events:user.* too, but its manifest never asked for it
	installPlugin(t, ns, "sessions", true, event.Types, sessionOnly, both)
	installPlugin(t, ns, "narrow", true, []string{event.SessionCreated}, sessionOnly, sessionOnly)
	installPlugin(t, ns, "off", false, event.Types, both, both)

	receiver.Failing.Store(true)
	stateDir := t.TempDir()
	a := startPortal(t, ns, dsn, stateDir)
	var user, password string
	eventually(t, 30*time.Second, "one-time admin password", func() bool {
		user, password, _, _ = firstadmin.OneTime(a.out.String())
		return password != ""
	})
	admin, err := firstadmin.Claim(ctx, a.base, user, password, "an-admin-password-chosen")
	if err != nil {
		t.Fatal(err)
	}
	a.call(t, http.MethodPost, "/api/v1/admin/users", admin, map[string]any{"username": "bob", "password": "bobs-long-password-1", "role": "user"})
	a.call(t, http.MethodPatch, "/api/v1/admin/users/bob", admin, map[string]any{"groups": []string{"developers"}})
	bob := a.call(t, http.MethodPost, "/api/v1/auth/login", "", map[string]any{"username": "bob", "password": "bobs-long-password-1"})

	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bob-firefox-1"}, Spec: streamv1.SessionSpec{User: "bob", Template: "firefox"}}
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	launched := metav1.NewTime(time.Now().Truncate(time.Second))
	setStatus(t, ns, s.Name, func(s *streamv1.Session) {
		s.Status.Phase = streamv1.PhaseRunning
		s.Status.LastStart = &streamv1.StartTimes{Kind: streamv1.StartLaunch, RequestedAt: launched, StreamReadyAt: &launched}
	})
	s0 := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bob-term-0"}, Spec: streamv1.SessionSpec{User: "bob", Template: "term"}}
	if err := env.Client.Create(ctx, s0); err != nil {
		t.Fatal(err)
	}
	// the agent's first word: from then on the session is in the history
	setStatus(t, ns, s0.Name, func(s *streamv1.Session) { s.Status.Phase = streamv1.PhasePending })
	// admin login, bob created, updated, login; sessions created (2), started
	eventually(t, time.Minute, "seven events recorded", func() bool { return recorded(t, db) >= 7 })
	// the other session's delete is found from the history (a session
	// never in it is found from the outbox: TestDelivery_deletedBeforeTheAgentAnswered)
	eventually(t, time.Minute, "bob-term-0 in the session history", func() bool { return inHistory(t, db, s0.Name) })
	a.stop()

	// while no portal runs: one session is deleted, the other hibernates
	if err := env.Client.Delete(ctx, s0); err != nil {
		t.Fatal(err)
	}
	setStatus(t, ns, s.Name, func(s *streamv1.Session) {
		s.Status.Phase = streamv1.PhaseHibernated
		s.Status.HibernatedAt = ptr.To(metav1.NewTime(time.Now().Truncate(time.Second)))
	})

	b := startPortal(t, ns, dsn, stateDir)
	for i := 0; i < 300 && recorded(t, db) < 9; i++ {
		time.Sleep(200 * time.Millisecond)
	}
	if n := recorded(t, db); n < 9 {
		evs, _ := db.EventsAfter(context.Background(), 0, event.Types, 1000)
		for _, e := range evs {
			t.Logf("event %v %v %v", e.ID, e.Type, e.Subject)
		}
		t.Fatalf("the missed hibernation and deletion recorded on restart: %d of 9 events after 1 min; the restarted portal said:\n%s", n, b.out.String())
	}
	woken := metav1.NewTime(time.Now().Truncate(time.Second).Add(time.Second))
	setStatus(t, ns, s.Name, func(s *streamv1.Session) {
		s.Status.Phase, s.Status.HibernatedAt = streamv1.PhasePending, nil
		s.Status.LastStart = &streamv1.StartTimes{Kind: streamv1.StartWake, RequestedAt: woken}
	})
	setStatus(t, ns, s.Name, func(s *streamv1.Session) {
		s.Status.Phase = streamv1.PhaseRunning
		s.Status.LastStart.StreamReadyAt = &woken
	})
	setStatus(t, ns, s.Name, func(s *streamv1.Session) {
		s.Status.Phase = streamv1.PhaseTerminated
		s.Status.TerminatedAt = ptr.To(metav1.Now())
	})
	if err := env.Client.Delete(ctx, s); err != nil {
		t.Fatal(err)
	}
	b.call(t, http.MethodPost, "/api/v1/auth/logout", bob["accessToken"].(string), map[string]any{"refreshToken": bob["refreshToken"]})
	b.call(t, http.MethodDelete, "/api/v1/admin/users/bob", admin, nil)
	// the admin login; bob created, updated, login, logout, deleted; the
	// session's six; the other session's created and deleted
	eventually(t, time.Minute, "all fourteen events recorded", func() bool { return recorded(t, db) >= 14 })
	receiver.Failing.Store(false) // the receiver is back

	wantSession := []string{event.SessionCreated, event.SessionStarted, event.SessionHibernated, event.SessionWoken, event.SessionStopped, event.SessionDeleted}
	wantBob := []string{event.UserCreated, event.UserUpdated, event.UserLogin, event.UserLogout, event.UserDeleted}
	bySubject := func(got []webhooktest.Got, subject string) []string {
		var types []string
		for _, g := range got {
			if g.Subject == subject {
				types = append(types, g.Type)
			}
		}
		return types
	}
	eventually(t, 90*time.Second, "every event delivered to audit", func() bool {
		u := webhooktest.Unique(receiver.Got("audit"))
		return len(bySubject(u, s.Name)) >= len(wantSession) && len(bySubject(u, "bob")) >= len(wantBob)
	})
	got := webhooktest.Unique(receiver.Got("audit"))
	if types := bySubject(got, s.Name); !slices.Equal(types, wantSession) {
		t.Errorf("session events, deduplicated by id, in arrival order: %v, want %v", types, wantSession)
	}
	if types := bySubject(got, s0.Name); !slices.Equal(types, []string{event.SessionCreated, event.SessionDeleted}) {
		t.Errorf("the session deleted while no portal ran: %v, want created, deleted", types)
	}
	if types := bySubject(got, "bob"); !slices.Equal(types, wantBob) {
		t.Errorf("bob's events: %v, want %v", types, wantBob)
	}
	if types := bySubject(got, user); len(types) == 0 || slices.ContainsFunc(types, func(t string) bool { return t != event.UserLogin }) {
		t.Errorf("the admin's events: %v, want logins", types)
	}
	for _, g := range got {
		if g.Source != "https://portal.example.com" {
			t.Errorf("event %s source %q", g.ID, g.Source)
		}
		if g.Type == event.UserCreated && (g.Data["username"] != "bob" || g.Data["role"] != "user" || g.Data["password"] != nil) {
			t.Errorf("user.created payload %v", g.Data)
		}
		if g.Type == event.SessionHibernated && (g.Data["user"] != "bob" || g.Data["template"] != "firefox") {
			t.Errorf("session.hibernated payload %v", g.Data)
		}
	}
	if n := receiver.Refusals.Load(); n == 0 {
		t.Error("the receiver never failed: retries untested")
	}
	if receiver.BadSigs.Load() != 0 || receiver.NotCE.Load() != 0 {
		t.Errorf("%d deliveries with a bad signature, %d not CloudEvents", receiver.BadSigs.Load(), receiver.NotCE.Load())
	}
	t.Logf("audit: %d deliveries, %d distinct events; the receiver refused %d while failing", len(receiver.Got("audit")), len(got), receiver.Refusals.Load())

	// each transition recorded once: one outbox id per (type, subject)
	evs, _ := db.EventsAfter(ctx, 0, event.Types, 1000)
	seen := map[string]bool{}
	for _, e := range evs {
		if e.Type == event.UserLogin {
			continue // every sign-in is its own event
		}
		k := e.Type + " " + e.Subject
		if seen[k] {
			t.Errorf("%s recorded twice", k)
		}
		seen[k] = true
	}

	eventually(t, 30*time.Second, "sessions plugin has its session events", func() bool {
		return len(bySubject(webhooktest.Unique(receiver.Got("sessions")), s.Name)) >= len(wantSession)
	})
	for _, g := range receiver.Got("sessions") {
		if strings.HasPrefix(g.Type, "user.") {
			t.Errorf("a plugin without events:user.* granted got %s", g.Type)
		}
	}
	eventually(t, 30*time.Second, "narrow plugin has session.created", func() bool { return len(receiver.Got("narrow")) > 0 })
	for _, g := range receiver.Got("narrow") {
		if g.Type != event.SessionCreated {
			t.Errorf("a plugin subscribed to session.created only got %s", g.Type)
		}
	}
	if got := receiver.Got("off"); len(got) != 0 {
		t.Errorf("a disabled plugin got %d events", len(got))
	}

	// the store's delivery state, as the API shows it
	eventually(t, 10*time.Second, "audit's delivery state saved", func() bool {
		ds, err := db.PluginDeliveries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Plugin == "audit" {
				return d.Pending == 0 && d.Delivered >= int64(len(got)) && d.Failed == 0 && d.LastSuccess != nil
			}
		}
		return false
	})

	// disabled mid-way: nothing more for it, from the moment the portal
	// says its deliveries stopped
	p := &streamv1.Plugin{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sessions"}, p); err != nil {
		t.Fatal(err)
	}
	p.Spec.Enabled = false
	if err := env.Client.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the portal stops delivering to the disabled plugin", func() bool {
		return strings.Contains(b.out.String(), `"Plugin deliveries stopped","plugin":"sessions"`)
	})
	before := len(receiver.Got("sessions"))
	s2 := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "carol-gimp-1"}, Spec: streamv1.SessionSpec{User: "carol", Template: "gimp"}}
	if err := env.Client.Create(ctx, s2); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "audit gets the new session", func() bool {
		return len(bySubject(receiver.Got("audit"), s2.Name)) > 0
	})
	if after := receiver.Got("sessions"); len(after) != before {
		t.Errorf("the disabled plugin got %v", after[before:])
	}
}

// TestDelivery_refused_marksPlugin: a receiver that refuses an event for
// good (422) fails it at once, counts it, and marks the plugin with
// Delivering=False RuntimeStopped and the reason; the agent's Ready stays.
func TestDelivery_refused_marksPlugin(t *testing.T) {
	ctx := context.Background()
	ns, dsn, db := setup(t, "refused")
	receiver.Refuse("refuser", http.StatusUnprocessableEntity)
	installPlugin(t, ns, "refuser", true, event.Types, []string{manifest.PermSessionEvents}, []string{manifest.PermSessionEvents})
	startPortal(t, ns, dsn, t.TempDir())
	eventually(t, time.Minute, "the dispatcher started the plugin", func() bool {
		ds, _ := db.PluginDeliveries(ctx)
		return len(ds) == 1
	})
	if err := env.Client.Create(ctx, &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dan-term-1"},
		Spec: streamv1.SessionSpec{User: "dan", Template: "term"}}); err != nil {
		t.Fatal(err)
	}
	var cond *metav1.Condition
	p := &streamv1.Plugin{}
	eventually(t, time.Minute, "the Delivering condition", func() bool {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "refuser"}, p); err != nil {
			t.Fatal(err)
		}
		cond = apimeta.FindStatusCondition(p.Status.Conditions, streamv1.ConditionDelivering)
		return cond != nil
	})
	if cond.Status != metav1.ConditionFalse || cond.Reason != streamv1.ReasonRuntimeStopped ||
		!strings.Contains(cond.Message, "refused the event: 422: schema mismatch: no field subject") {
		t.Errorf("Delivering condition %+v", cond)
	}
	if r := apimeta.FindStatusCondition(p.Status.Conditions, streamv1.ConditionReady); r == nil || r.Status != metav1.ConditionTrue {
		t.Errorf("the agent's Ready condition was touched: %+v", r)
	}
	eventually(t, 10*time.Second, "the failure counted", func() bool {
		ds, _ := db.PluginDeliveries(ctx)
		return len(ds) == 1 && ds[0].Failed == 1 && ds[0].Delivered == 0 && strings.Contains(ds[0].LastError, "422") && ds[0].Attempts == 1
	})
}
