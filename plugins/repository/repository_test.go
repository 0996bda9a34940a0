// The plugins this project ships: their manifests, that each committed
// module is what its source builds to, and what each plugin does, run in
// the real sandbox.
package repository_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamspace/streamspace/plugins/event"
	"github.com/streamspace/streamspace/plugins/manifest"
	"github.com/streamspace/streamspace/plugins/wasm"
	"github.com/streamspace/streamspace/plugins/wasm/wasmbuild"
	"github.com/streamspace/streamspace/plugins/wasm/wasmtest"
)

func TestRepository_manifestsAreValid(t *testing.T) {
	dirs, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		file := filepath.Join(d.Name(), manifest.FileName)
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		m, problems := manifest.Parse(file, data)
		if len(problems) > 0 {
			t.Errorf("%v", problems)
			continue
		}
		if m.Name != d.Name() {
			t.Errorf("%s: name %q is not its folder's", file, m.Name)
		}
		if _, err := os.Stat(filepath.Join(d.Name(), "README.md")); err != nil {
			t.Errorf("%s has no README.md", d.Name())
		}
		names = append(names, m.Name)
	}
	if want := []string{"audit-exporter", "midnight-theme", "session-policy", "slack-notifier"}; !slices.Equal(names, want) {
		t.Errorf("plugins %v, want %v", names, want)
	}
}

// The committed modules and their pinned digests are what the sources
// build to (with wasmbuild.Toolchain): `make plugins-wasm` after a change.
func TestRepository_modulesAreFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every plugin")
	}
	plugins, err := wasmbuild.Plugins(context.Background(), ".", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(plugins) != 2 {
		t.Fatalf("built %d Go plugins, want slack-notifier and session-policy", len(plugins))
	}
	for _, p := range plugins {
		if stale := p.Stale(); stale != "" {
			t.Errorf("%s: %s: run make plugins-wasm", p.Dir, stale)
		}
	}
}

// load starts a shipped plugin from its committed module, with its
// manifest's permissions granted and cfg checked against its schema.
func load(t testing.TB, name string, cfg any, host wasm.Host) (event.Deliverer, *manifest.Manifest) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(name, manifest.FileName))
	if err != nil {
		t.Fatal(err)
	}
	m, problems := manifest.Parse(name, data)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	module, err := os.ReadFile(filepath.Join(name, m.Entry.Wasm.Module))
	if err != nil {
		t.Fatal(err)
	}
	config, _ := json.Marshal(cfg)
	if err := validate(m, config); err != nil {
		t.Fatalf("config %s: %v", config, err)
	}
	d, err := wasm.New(context.Background(), module, event.Plugin{Name: name, Config: config, Permissions: m.Permissions}, host, wasm.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	return d, m
}

func validate(m *manifest.Manifest, config []byte) error {
	schema, err := manifest.CompileSchema(m.ConfigSchema)
	if err != nil {
		return err
	}
	var v any
	if err := json.Unmarshal(config, &v); err != nil {
		return err
	}
	return schema.Validate(v)
}

func sessionEvent(id, typ, session, user string, at time.Time) event.Event {
	data, _ := json.Marshal(map[string]string{"session": session, "user": user, "template": "firefox", "phase": "Running"})
	return event.Event{ID: id, Type: typ, Source: "https://portal.test", Subject: session, Time: at, Data: data}
}

// slack is a Slack-compatible receiver over HTTPS.
type slack struct {
	*httptest.Server
	mu       sync.Mutex
	messages []string // host path body
	status   int
}

func newSlack(t testing.TB) *slack {
	s := &slack{status: http.StatusOK}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "not json", http.StatusBadRequest)
			return
		}
		s.messages = append(s.messages, r.Host+r.URL.Path+" "+string(body))
		w.WriteHeader(s.status)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *slack) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.messages...)
}

const webhook = "https://hooks.slack.com/services/T000/B000/XXXX"

func TestSlackNotifier_postsSessionAndUserEvents(t *testing.T) {
	srv := newSlack(t)
	p, _ := load(t, "slack-notifier", map[string]string{"webhookURL": webhook, "channel": "#desktops"}, wasmtest.NewHost(srv.Server))
	at := time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)
	login := event.Event{ID: "2", Type: event.UserLogin, Subject: "bob<@U1>", Time: at, Data: json.RawMessage(`{"username":"bob<@U1>","role":"user","source":"oidc"}`)}
	for _, e := range []event.Event{sessionEvent("1", event.SessionStarted, "alice-firefox-1", "alice", at), login} {
		if err := p.Deliver(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		`hooks.slack.com/services/T000/B000/XXXX {"text":"Session *alice-firefox-1* started (firefox for alice) at 2026-12-07 09:30 UTC","channel":"#desktops"}`,
		`hooks.slack.com/services/T000/B000/XXXX {"text":"User *bob\u0026lt;@U1\u0026gt;* (user, oidc) signed in at 2026-12-07 09:30 UTC","channel":"#desktops"}`,
	}
	if got := srv.got(); !slices.Equal(got, want) {
		t.Fatalf("Slack got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Slack down: the event is retried, not dropped.
	srv.mu.Lock()
	srv.status = http.StatusServiceUnavailable
	srv.mu.Unlock()
	err := p.Deliver(context.Background(), sessionEvent("3", event.SessionStopped, "alice-firefox-1", "alice", at))
	if err == nil || errors.Is(err, event.ErrPermanent) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Slack answering 503: got %v, want a retryable error saying 503", err)
	}
}

// The configuration schema allows only Slack's webhooks; a configuration
// that slipped past it still reaches nothing but the approved host.
func TestSlackNotifier_reachesOnlyTheApprovedHost(t *testing.T) {
	srv := newSlack(t)
	_, m := load(t, "slack-notifier", map[string]string{"webhookURL": webhook}, wasmtest.NewHost(srv.Server))
	evil, _ := json.Marshal(map[string]string{"webhookURL": "https://collector.example.com/hook"})
	if err := validate(m, evil); err == nil || !strings.Contains(err.Error(), "webhookURL") {
		t.Fatalf("schema: a non-Slack URL: got %v, want a refusal naming webhookURL", err)
	}
	module, _ := os.ReadFile(filepath.Join("slack-notifier", m.Entry.Wasm.Module))
	p, err := wasm.New(context.Background(), module, event.Plugin{Name: "s", Config: evil, Permissions: m.Permissions}, wasmtest.NewHost(srv.Server), wasm.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	err = p.Deliver(context.Background(), sessionEvent("1", event.SessionStarted, "s", "alice", time.Now()))
	if !errors.Is(err, wasm.ErrUnapprovedHost) || !strings.Contains(err.Error(), "collector.example.com") {
		t.Fatalf("got %v, want ErrUnapprovedHost naming collector.example.com", err)
	}
	if got := srv.got(); len(got) != 0 {
		t.Fatalf("a request reached the receiver: %v", got)
	}
}

func TestSessionPolicy_hibernatesOutsideHours(t *testing.T) {
	host := &wasmtest.Host{}
	cfg := map[string]any{"timeZone": "Europe/Paris", "days": []string{"mon", "tue", "wed", "thu", "fri"}, "from": "08:00", "until": "19:00", "exemptUsers": []string{"oncall"}}
	p, _ := load(t, "session-policy", cfg, host)
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	monday := func(hh, mm int) time.Time { return time.Date(2026, 12, 7, hh, mm, 0, 0, paris) } // a Monday
	for i, tc := range []struct {
		typ, session, user string
		at                 time.Time
		hibernate          bool
	}{
		{event.SessionStarted, "in-hours", "alice", monday(10, 0), false},
		{event.SessionStarted, "at-opening", "alice", monday(8, 0), false},
		{event.SessionStarted, "before-opening", "alice", monday(7, 59), true},
		{event.SessionStarted, "at-closing", "alice", monday(19, 0), true},
		{event.SessionWoken, "woken-at-night", "alice", monday(23, 30), true},
		{event.SessionWoken, "saturday", "alice", monday(10, 0).AddDate(0, 0, 5), true},
		// 07:30 UTC is 08:30 in Paris: the zone decides, not UTC.
		{event.SessionStarted, "utc-early", "alice", time.Date(2026, 12, 7, 7, 30, 0, 0, time.UTC), false},
		{event.SessionStarted, "exempt", "oncall", monday(23, 0), false},
		{event.SessionStopped, "stopped-at-night", "alice", monday(23, 0), false},
		{event.SessionCreated, "created-at-night", "alice", monday(23, 0), false},
	} {
		if err := p.Deliver(context.Background(), sessionEvent(fmt.Sprint(i), tc.typ, tc.session, tc.user, tc.at)); err != nil {
			t.Fatalf("%s: %v", tc.session, err)
		}
		hibernated, _ := host.Calls()
		if got := slices.Contains(hibernated, tc.session); got != tc.hibernate {
			t.Errorf("%s %s at %s: hibernated %v, want %v", tc.typ, tc.session, tc.at.In(paris).Format(time.RFC1123), got, tc.hibernate)
		}
	}

	// The platform failing to hibernate: the event is retried.
	host.Err = errors.New("the API server is unavailable")
	err = p.Deliver(context.Background(), sessionEvent("x", event.SessionStarted, "retry-me", "alice", monday(22, 0)))
	if err == nil || errors.Is(err, event.ErrPermanent) || !strings.Contains(err.Error(), "unavailable") {
		t.Fatalf("a failed hibernation: got %v, want a retryable error saying why", err)
	}
}

func TestSessionPolicy_badConfigurationFailsForGood(t *testing.T) {
	host := &wasmtest.Host{}
	p, _ := load(t, "session-policy", map[string]any{"timeZone": "Mars/Olympus_Mons", "days": []string{"mon"}, "from": "08:00", "until": "19:00"}, host)
	err := p.Deliver(context.Background(), sessionEvent("1", event.SessionStarted, "s", "alice", time.Now()))
	if !errors.Is(err, event.ErrPermanent) || !strings.Contains(err.Error(), "Mars/Olympus_Mons") {
		t.Fatalf("got %v, want a permanent error naming the time zone", err)
	}
	if hibernated, _ := host.Calls(); len(hibernated) > 0 {
		t.Fatalf("hibernated %v on a bad configuration", hibernated)
	}
}

// BenchmarkSlackNotifier delivers session events one after another to the
// Slack notifier, which posts each to a local HTTPS receiver; it prints
// events/s and the time per event (p50, p99).
func BenchmarkSlackNotifier(b *testing.B) {
	srv := newSlack(b)
	p, _ := load(b, "slack-notifier", map[string]string{"webhookURL": webhook}, wasmtest.NewHost(srv.Server))
	ctx := context.Background()
	at := time.Now()
	if err := p.Deliver(ctx, sessionEvent("warm", event.SessionStarted, "s", "alice", at)); err != nil {
		b.Fatal(err)
	}
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		t0 := time.Now()
		if err := p.Deliver(ctx, sessionEvent(fmt.Sprint(i), event.SessionStarted, "s", "alice", at)); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}
