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
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamspace/streamspace/plugins/event"
	"github.com/streamspace/streamspace/plugins/manifest"
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
	fmt.Println("targets: >= 1000 events/s end to end, p99 <= 100ms")
	return nil
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
	dctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Start(dctx) }()
	defer func() {
		stop()
		<-done
	}()
	// the dispatcher has started the plugin once its delivery state exists
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ds, err := db.PluginDeliveries(ctx)
		if err != nil {
			return err
		}
		if len(ds) > 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the dispatcher did not start plugin %s", plugin)
		}
	}

	start := time.Now()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < n; i += producers {
				events.User(ctx, event.UserLogin, &store.User{Username: fmt.Sprintf("user-%d", i%subjects), Role: "user", Source: "local"})
			}
		}()
	}
	wg.Wait()
	recorded := time.Since(start)
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
