// Command plugins benchmarks plugin event delivery: events recorded in the
// outbox by the portal's producer (as the account handlers record them),
// delivered by the dispatcher to a webhook plugin at a real local HTTPS
// receiver that checks each signature, against a real API server (the
// Plugin object) and each store (the embedded SQLite, PostgreSQL).
//
// It prints events per second end to end (first record to last delivery)
// and the latency from each event's time (when it was recorded) to its
// arrival at the receiver, p50 and p99, against the targets: 1,000
// events/s and p99 <= 100 ms.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"

	"github.com/streamspace/streamspace/plugins/event"
	"github.com/streamspace/streamspace/plugins/manifest"
	"github.com/streamspace/streamspace/plugins/wasm"
	"github.com/streamspace/streamspace/plugins/wasm/wasmtest"
	"github.com/streamspace/streamspace/plugins/webhook"
	"github.com/streamspace/streamspace/portal/plugins"
	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/portal/store/postgres"
	"github.com/streamspace/streamspace/portal/store/sqlite"
	"github.com/streamspace/streamspace/test/pgtest"
	"github.com/streamspace/streamspace/test/testenv"
	"github.com/streamspace/streamspace/test/webhooktest"
)

var lanes int

func main() {
	n := flag.Int("events", 10000, "Events to record and deliver, per store.")
	producers := flag.Int("producers", 8, "Goroutines recording events at once (requests being served).")
	subjects := flag.Int("subjects", 200, "Distinct users the events are about.")
	flag.IntVar(&lanes, "lanes", 0, "Dispatcher lanes per plugin (0: the portal's default).")
	profile := flag.String("cpuprofile", "", "Write this process's CPU profile (producer, dispatcher, receiver) to this file.")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*n, *producers, *subjects); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(n, producers, subjects int) error {
	ctx := context.Background()
	fmt.Println("==> Starting kube-apiserver + etcd, PostgreSQL and an HTTPS receiver")
	env, err := testenv.Start(false)
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	pg, err := pgtest.Start()
	if err != nil {
		return err
	}
	defer pg.Stop()
	recv, err := webhooktest.Start()
	if err != nil {
		return err
	}
	defer recv.Close()
	dir, err := os.MkdirTemp("", "bench-plugins")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Printf("%-10s %8s %10s %10s %12s %9s %9s\n", "store", "events", "recorded/s", "delivered/s", "end-to-end", "p50", "p99")
	for _, name := range []string{"sqlite", "postgres"} {
		var db store.Store
		if name == "sqlite" {
			db, err = sqlite.Open(ctx, filepath.Join(dir, "portal.db"))
		} else {
			var dsn string
			if dsn, err = pg.NewDatabase(ctx); err == nil {
				db, err = postgres.Open(ctx, dsn)
			}
		}
		if err != nil {
			return err
		}
		err = once(ctx, env, recv, db, name, n, producers, subjects)
		_ = db.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	// the Slack-compatible notifier (WebAssembly, HTTP to its approved
	// host, here a local HTTPS server), from the SQLite store
	db, err := sqlite.Open(ctx, filepath.Join(dir, "wasm.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := wasmOnce(ctx, env, db, n, producers, subjects); err != nil {
		return fmt.Errorf("wasm: %w", err)
	}
	fmt.Println("targets: >= 1000 events/s end to end, p99 <= 100ms")
	return nil
}

// wasmOnce delivers n events to plugins/repository/slack-notifier run in
// the wazero sandbox. Its posts carry no event id, so its latency is read
// from the dispatcher's histogram (record -> delivered), to bucket bounds.
func wasmOnce(ctx context.Context, env *testenv.Env, db store.Store, n, producers, subjects int) error {
	dir := filepath.Join(testenv.RepoRoot(), "plugins", "repository", "slack-notifier")
	raw, err := os.ReadFile(filepath.Join(dir, manifest.FileName))
	if err != nil {
		return err
	}
	m, problems := manifest.Parse(manifest.FileName, raw)
	if len(problems) > 0 {
		return fmt.Errorf("%v", problems)
	}
	module, err := os.ReadFile(filepath.Join(dir, m.Entry.Wasm.Module))
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(module); hex.EncodeToString(sum[:]) != m.Entry.Wasm.SHA256 {
		return fmt.Errorf("%s does not have its manifest's digest", m.Entry.Wasm.Module)
	}
	var posts atomic.Int64
	slack := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		posts.Add(1)
	}))
	defer slack.Close()
	ns, err := env.Namespace(ctx, "bench-wasm")
	if err != nil {
		return err
	}
	mj, _ := json.Marshal(m)
	p := &streamv1.Plugin{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "slack"},
		Spec: streamv1.PluginSpec{Repository: streamv1.LocalObjectReference{Name: "bench"}, PluginName: m.Name, Version: m.Version, Enabled: true,
			ApprovedPermissions: m.Permissions, Config: &apiextensionsv1.JSON{Raw: []byte(`{"webhookURL":"https://hooks.slack.com/services/T0/B0/x"}`)}}}
	if err := env.Client.Create(ctx, p); err != nil {
		return err
	}
	p.Status.Manifest = &apiextensionsv1.JSON{Raw: mj}
	apimeta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: streamv1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: streamv1.ReasonInstalled, Message: "installed", ObservedGeneration: p.Generation})
	if err := env.Client.Status().Update(ctx, p); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	metrics, err := plugins.NewMetrics(reg)
	if err != nil {
		return err
	}
	host := wasmtest.NewHost(slack) // every request to the local server, whatever host it names
	events := plugins.NewEvents(db, metrics, logr.Discard())
	d := &plugins.Dispatcher{Client: env.Client, Namespace: ns, Store: db, Events: events, Metrics: metrics, Log: logr.Discard(), Lanes: lanes,
		Runtime: &plugins.Runtime{Reader: env.Client, Namespace: ns,
			LoadModule: func(context.Context, *streamv1.Plugin) ([]byte, error) { return module, nil },
			Host:       func(event.Plugin) wasm.Host { return host }}}
	start, recorded, stop, err := drive(ctx, d, db, n, producers, subjects)
	if err != nil {
		return err
	}
	defer stop()
	for deadline := time.Now().Add(5 * time.Minute); posts.Load() < int64(n); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			ds, _ := db.PluginDeliveries(ctx)
			return fmt.Errorf("%d of %d events posted after 5 minutes: %+v", posts.Load(), n, ds)
		}
	}
	total := time.Since(start)
	p50, p99 := quantiles(reg)
	fmt.Printf("%-10s %8d %10.0f %10.0f %12s %9s %9s  (latency: <= histogram bucket bound)\n", "wasm", n, float64(n)/recorded.Seconds(), float64(n)/total.Seconds(),
		total.Round(time.Millisecond), p50, p99)
	return nil
}

// drive runs d until the plugin has started, records n user.login events
// from producers goroutines, and returns when they were all recorded and
// a stop for the dispatcher.
func drive(ctx context.Context, d *plugins.Dispatcher, db store.Store, n, producers, subjects int) (start time.Time, recorded time.Duration, stop func(), err error) {
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Start(dctx) }()
	stop = func() {
		cancel()
		<-done
	}
	// the dispatcher has started the plugin once its delivery state exists
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ds, _ := db.PluginDeliveries(ctx); len(ds) > 0 {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return start, 0, nil, fmt.Errorf("the dispatcher did not start the plugin")
		}
	}
	start = time.Now()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < n; i += producers {
				d.Events.User(ctx, event.UserLogin, &store.User{Username: fmt.Sprintf("user-%d", i%subjects), Role: "user", Source: "local"})
			}
		}()
	}
	wg.Wait()
	return start, time.Since(start), stop, nil
}

// quantiles reads p50 and p99 of the delivery latency histogram as the
// upper bound of the bucket each falls in.
func quantiles(reg *prometheus.Registry) (p50, p99 string) {
	families, _ := reg.Gather()
	for _, f := range families {
		if f.GetName() != "streamspace_plugin_delivery_latency_seconds" {
			continue
		}
		h := f.GetMetric()[0].GetHistogram()
		bound := func(q float64) string {
			want := uint64(q * float64(h.GetSampleCount()))
			for _, b := range h.GetBucket() {
				if b.GetCumulativeCount() >= want {
					return (time.Duration(b.GetUpperBound() * float64(time.Second))).String()
				}
			}
			return "+Inf"
		}
		return bound(0.5), bound(0.99)
	}
	return "?", "?"
}

func once(ctx context.Context, env *testenv.Env, recv *webhooktest.Receiver, db store.Store, name string, n, producers, subjects int) error {
	ns, err := env.Namespace(ctx, "bench-plugins")
	if err != nil {
		return err
	}
	plugin := "bench-" + name
	perms := []string{manifest.PermUserEvents}
	if err := recv.Install(ctx, env.Client, ns, webhooktest.Plugin{Name: plugin, Enabled: true, Events: []string{event.UserLogin}, Asks: perms, ApprovedByAdmin: perms}); err != nil {
		return err
	}
	metrics, err := plugins.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		return err
	}
	events := plugins.NewEvents(db, metrics, logr.Discard())
	d := &plugins.Dispatcher{Client: env.Client, Namespace: ns, Store: db, Events: events, Metrics: metrics, Log: logr.Discard(), Lanes: lanes,
		Source: "https://portal.example.com", Runtime: &plugins.Runtime{Reader: env.Client, Namespace: ns, Webhook: webhook.Options{RootCAs: recv.Roots}}}
	start, recorded, stop, err := drive(ctx, d, db, n, producers, subjects)
	if err != nil {
		return err
	}
	defer stop()
	for deadline := time.Now().Add(5 * time.Minute); len(recv.Got(plugin)) < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d events delivered after 5 minutes", len(recv.Got(plugin)), n)
		}
	}
	got := recv.Got(plugin)
	total := got[len(got)-1].At.Sub(start)
	lat := make([]time.Duration, 0, len(got))
	for _, g := range got {
		lat = append(lat, g.At.Sub(g.Time))
	}
	slices.Sort(lat)
	if bad := recv.BadSigs.Load() + recv.NotCE.Load(); bad > 0 {
		return fmt.Errorf("%d deliveries failed the receiver's checks", bad)
	}
	fmt.Printf("%-10s %8d %10.0f %10.0f %12s %9s %9s\n", name, n, float64(n)/recorded.Seconds(), float64(n)/total.Seconds(),
		total.Round(time.Millisecond), lat[len(lat)/2].Round(100*time.Microsecond), lat[len(lat)*99/100].Round(100*time.Microsecond))
	return nil
}
