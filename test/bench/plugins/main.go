// Command plugins benchmarks plugin event delivery: events recorded in the
// outbox by the portal's producer (as the account handlers record them),
// delivered by the dispatcher to a webhook plugin at a real local HTTPS
// receiver that checks each signature, against a real API server (the
// Plugin object) and each store (the embedded SQLite, PostgreSQL), and to
// the Slack-compatible notifier run in the WebAssembly sandbox.
//
// Each row runs two phases. Flat out: events are recorded as fast as the
// producers go, and it prints events per second end to end (first record
// to last delivery) and the p99 latency then (when recording outruns
// delivery this is the backlog, and it grows with -events). Paced: events
// are recorded at -rate per second (the 1,000/s target) for -seconds, and
// it prints the latency from each event's time (when it was recorded) to
// its arrival at the receiver, p50 and p99, against p99 <= 100 ms.
//
// The first row is the same run's baseline: the webhook runtime posting
// straight to the same receiver from as many goroutines as the
// dispatcher has lanes, with no outbox and no dispatcher: what this
// machine, loaded as it is now, can deliver at all.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
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

// flags
var (
	nEvents       = flag.Int("events", 10000, "Events to record and deliver flat out, per row.")
	rate          = flag.Int("rate", 1000, "Events per second recorded in the paced phase.")
	seconds       = flag.Int("seconds", 5, "Length of the paced phase.")
	producers     = flag.Int("producers", 8, "Goroutines recording events at once (requests being served).")
	subjects      = flag.Int("subjects", 200, "Distinct users the events are about (a multiple of -producers).")
	lanes         = flag.Int("lanes", 0, "Dispatcher lanes per plugin (0: the portal's default).")
	wasmInstances = flag.Int("wasm-instances", 0, "Instances of the WebAssembly plugin (0: the runtime's default).")
	only          = flag.String("only", "", "Rows to run, comma separated (direct, sqlite, postgres, wasm); all when empty.")
	profile       = flag.String("cpuprofile", "", "Write this process's CPU profile (producer, dispatcher, receiver) to this file.")
	blockProfile  = flag.String("blockprofile", "", "Write this process's block profile (where goroutines waited) to this file.")
)

func main() {
	flag.Parse()
	if *subjects <= 0 || *producers <= 0 || *subjects%*producers != 0 {
		// each subject's events then come from one producer, one after
		// another, so their order is known (the wasm row needs it)
		fmt.Fprintf(os.Stderr, "-subjects (%d) must be a positive multiple of -producers (%d)\n", *subjects, *producers)
		os.Exit(2)
	}
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
	if *blockProfile != "" {
		runtime.SetBlockProfileRate(int(100 * time.Microsecond))
		defer writeBlockProfile()
	}
	if err := run(); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func writeBlockProfile() {
	f, err := os.Create(*blockProfile)
	if err == nil {
		err = pprof.Lookup("block").WriteTo(f, 0)
		_ = f.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "block profile:", err)
	}
}

func want(row string) bool {
	return *only == "" || slices.Contains(strings.Split(*only, ","), row)
}

func run() error {
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

	fmt.Printf("%-9s %7s %10s %11s %12s | %6s %9s %9s\n", "row", "events", "recorded/s", "delivered/s", "p99 flat out", "paced", "p50", "p99")
	if want("direct") {
		if err := direct(ctx, recv); err != nil {
			return fmt.Errorf("direct: %w", err)
		}
	}
	for _, name := range []string{"sqlite", "postgres"} {
		if !want(name) {
			continue
		}
		var db store.Store
		var trips *roundTrips
		if name == "sqlite" {
			db, err = sqlite.Open(ctx, filepath.Join(dir, "portal.db"))
		} else {
			var dsn string
			if dsn, err = pg.NewDatabase(ctx); err == nil {
				db, trips, err = openCounted(ctx, dsn)
			}
		}
		if err != nil {
			return err
		}
		err = webhookRow(ctx, env, recv, db, name, trips)
		_ = db.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if want("wasm") {
		// from the SQLite store
		db, err := sqlite.Open(ctx, filepath.Join(dir, "wasm.db"))
		if err != nil {
			return err
		}
		defer db.Close()
		if err := wasmRow(ctx, env, db); err != nil {
			return fmt.Errorf("wasm: %w", err)
		}
	}
	fmt.Println("targets: >= 1000 events/s delivered flat out, p99 <= 100ms at 1000 events/s")
	return nil
}

// result is one row's figures.
type result struct {
	n                  int
	recorded, total    time.Duration // flat out: recording, first record to last delivery
	flat, paced        []time.Duration
	pacedRate          float64 // events/s the paced phase actually recorded
	recordedNotCounted bool    // the direct row records nothing
}

func (r result) print(name string) {
	recorded := fmt.Sprintf("%.0f", float64(r.n)/r.recorded.Seconds())
	if r.recordedNotCounted {
		recorded = "-"
	}
	p := func(ds []time.Duration, q int) string {
		return percentile(ds, q).Round(100 * time.Microsecond).String()
	}
	fmt.Printf("%-9s %7d %10s %11.0f %12s | %4.0f/s %9s %9s\n", name, r.n, recorded, float64(r.n)/r.total.Seconds(),
		p(r.flat, 99), r.pacedRate, p(r.paced, 50), p(r.paced, 99))
}

func percentile(ds []time.Duration, q int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[min(len(ds)*q/100, len(ds)-1)]
}

// record calls each(i) for i in [0, n) from -producers goroutines, event i
// on goroutine i % producers (so, with subjects a multiple of producers,
// each subject's events one after another), flat out when perSecond is 0,
// else event i at start + i/perSecond (or at once when behind). It returns
// when every call returned, with the time it took.
func record(n, perSecond int, each func(i int)) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for p := range *producers {
		wg.Go(func() {
			for i := p; i < n; i += *producers {
				if perSecond > 0 {
					time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(perSecond))))
				}
				each(i)
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

func paced() int { return *rate * *seconds }

// waitFor polls done until it is true, for at most 5 minutes.
func waitFor(what string, done func() (bool, string)) error {
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		ok, state := done()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s after 5 minutes: %s", what, state)
		}
	}
}

// direct is the baseline: the webhook runtime posting straight to the
// receiver, from as many goroutines as the dispatcher has lanes.
func direct(ctx context.Context, recv *webhooktest.Receiver) error {
	const name = "direct"
	secret := []byte(strings.Repeat("b", 64))
	recv.Expect(name, secret)
	d, err := webhook.New(event.Plugin{Name: name}, recv.URL(name), secret, webhook.Options{RootCAs: recv.Roots})
	if err != nil {
		return err
	}
	conc := *lanes
	if conc == 0 {
		conc = plugins.DefaultLanes
	}
	post := func(sem chan struct{}, i int) {
		sem <- struct{}{}
		defer func() { <-sem }()
		e := event.Event{ID: fmt.Sprint(i), Type: event.UserLogin, Source: "https://portal.example.com", Subject: fmt.Sprintf("user-%d", i%*subjects),
			Time: time.Now(), Data: json.RawMessage(`{"username":"u","role":"user","source":"local"}`)}
		if err := d.Deliver(ctx, e); err != nil {
			fmt.Fprintln(os.Stderr, "direct:", err)
		}
	}
	// flat out: conc goroutines posting one event after another
	var r result
	r.n, r.recordedNotCounted = *nEvents, true
	sem := make(chan struct{}, conc)
	r.total = record(r.n, 0, func(i int) { post(sem, i) })
	got := webhooktest.Unique(recv.Got(name))
	if len(got) != r.n {
		return fmt.Errorf("%d of %d events delivered", len(got), r.n)
	}
	r.flat = latencies(got)
	// paced: at most conc under way, as the lanes
	start := time.Now()
	record(paced(), *rate, func(i int) { post(sem, r.n+i) })
	r.pacedRate = float64(paced()) / time.Since(start).Seconds()
	r.paced = latencies(webhooktest.Unique(recv.Got(name))[r.n:])
	if bad := recv.BadSigs.Load() + recv.NotCE.Load(); bad > 0 {
		return fmt.Errorf("%d deliveries failed the receiver's checks", bad)
	}
	r.print(name)
	return nil
}

func latencies(got []webhooktest.Got) []time.Duration {
	lat := make([]time.Duration, 0, len(got))
	for _, g := range got {
		lat = append(lat, g.At.Sub(g.Time))
	}
	return lat
}

// dispatch runs d until the plugin has started; stop ends it.
func dispatch(ctx context.Context, d *plugins.Dispatcher, db store.Store) (stop func(), err error) {
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
			return stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, errors.New("the dispatcher did not start the plugin")
		}
	}
}

// login records the user.login event i, as the login handler does.
func login(ctx context.Context, ev *plugins.Events, i int) string {
	user := fmt.Sprintf("user-%d", i%*subjects)
	ev.User(ctx, event.UserLogin, &store.User{Username: user, Role: "user", Source: "local"})
	return user
}

// roundTrips counts the round trips a store makes to PostgreSQL: each
// statement (pgx sends one it has prepared before in one go), by its first
// word, and each pipeline of statements (PIPELINE).
type roundTrips struct {
	mu sync.Mutex
	n  map[string]int
}

func (t *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	verb, _, _ := strings.Cut(strings.TrimSpace(d.SQL), " ")
	t.mu.Lock()
	t.n[strings.ToUpper(verb)]++
	t.mu.Unlock()
	return ctx
}

func (t *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart counts a pipeline of statements: one round trip.
func (t *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	t.mu.Lock()
	t.n["PIPELINE"]++
	t.mu.Unlock()
	return ctx
}

func (t *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (t *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// take returns the counts since the last take, and resets them.
func (t *roundTrips) take() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.n
	t.n = map[string]int{}
	return n
}

func (t *roundTrips) print(phase string, events int) {
	n := t.take()
	total := 0
	verbs := make([]string, 0, len(n))
	for v, c := range n {
		total += c
		verbs = append(verbs, fmt.Sprintf("%s %d", v, c))
	}
	slices.Sort(verbs)
	fmt.Printf("  postgres %s: %d round trips for %d events (%.2f per event): %s\n", phase, total, events,
		float64(total)/float64(events), strings.Join(verbs, ", "))
}

// openCounted opens the PostgreSQL store with a tracer counting its
// statements.
func openCounted(ctx context.Context, dsn string) (store.Store, *roundTrips, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, nil, err
	}
	t := &roundTrips{n: map[string]int{}}
	cfg.Tracer = t
	db, err := postgres.OpenDB(ctx, stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(func(context.Context, *pgx.Conn) error {
		t.mu.Lock()
		t.n["CONNECT"]++ // a new server connection: a backend process forked, statements prepared again
		t.mu.Unlock()
		return nil
	})))
	if err != nil {
		return nil, nil, err
	}
	return db, t, nil
}

func webhookRow(ctx context.Context, env *testenv.Env, recv *webhooktest.Receiver, db store.Store, name string, trips *roundTrips) error {
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
	d := &plugins.Dispatcher{Client: env.Client, Namespace: ns, Store: db, Events: events, Metrics: metrics, Log: logr.Discard(), Lanes: *lanes,
		Source: "https://portal.example.com", Runtime: &plugins.Runtime{Reader: env.Client, Namespace: ns, Webhook: webhook.Options{RootCAs: recv.Roots}}}
	stop, err := dispatch(ctx, d, db)
	if err != nil {
		return err
	}
	defer stop()
	delivered := func(n int) func() (bool, string) {
		return func() (bool, string) {
			got := len(webhooktest.Unique(recv.Got(plugin)))
			return got >= n, fmt.Sprintf("%d of %d events delivered", got, n)
		}
	}
	var r result
	r.n = *nEvents
	if trips != nil {
		trips.take() // the dispatcher's start
	}
	start := time.Now()
	r.recorded = record(r.n, 0, func(i int) { login(ctx, events, i) })
	if err := waitFor("flat out", delivered(r.n)); err != nil {
		return err
	}
	if trips != nil {
		trips.print("flat out", r.n)
	}
	got := webhooktest.Unique(recv.Got(plugin))
	r.total = got[len(got)-1].At.Sub(start)
	r.flat = latencies(got)
	start = time.Now()
	record(paced(), *rate, func(i int) { login(ctx, events, i) })
	r.pacedRate = float64(paced()) / time.Since(start).Seconds()
	if err := waitFor("paced", delivered(r.n+paced())); err != nil {
		return err
	}
	if trips != nil {
		trips.print("paced", paced())
	}
	r.paced = latencies(webhooktest.Unique(recv.Got(plugin))[r.n:])
	if bad := recv.BadSigs.Load() + recv.NotCE.Load(); bad > 0 {
		return fmt.Errorf("%d deliveries failed the receiver's checks", bad)
	}
	r.print(name)
	return nil
}

// wasmRow delivers to plugins/repository/slack-notifier run in the wazero
// sandbox, which posts each event to its approved host (here a local
// HTTPS server). Its posts carry the subject but no event id: the k-th
// post about a user is its k-th event (a subject's events are recorded
// one after another and delivered in order), whose time the bench noted
// when it recorded it.
func wasmRow(ctx context.Context, env *testenv.Env, db store.Store) error {
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

	var mu sync.Mutex
	sent := map[string][]time.Time{} // per user, the times of the events not posted yet
	var lat []time.Duration
	var posts atomic.Int64
	var unmatched atomic.Int64
	slack := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		var msg struct{ Text string }
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &msg)
		// "User *user-17* (user, local) signed in at …"
		_, rest, _ := strings.Cut(msg.Text, "*")
		user, _, _ := strings.Cut(rest, "*")
		mu.Lock()
		if q := sent[user]; len(q) > 0 {
			lat = append(lat, at.Sub(q[0]))
			sent[user] = q[1:]
		} else {
			unmatched.Add(1)
		}
		mu.Unlock()
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
	metrics, err := plugins.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		return err
	}
	host := wasmtest.NewHost(slack) // every request to the local server, whatever host it names
	events := plugins.NewEvents(db, metrics, logr.Discard())
	d := &plugins.Dispatcher{Client: env.Client, Namespace: ns, Store: db, Events: events, Metrics: metrics, Log: logr.Discard(), Lanes: *lanes,
		Runtime: &plugins.Runtime{Reader: env.Client, Namespace: ns, WasmLimits: wasm.Limits{Instances: *wasmInstances},
			LoadModule: func(context.Context, *streamv1.Plugin) ([]byte, error) { return module, nil },
			Host:       func(event.Plugin) wasm.Host { return host }}}
	stop, err := dispatch(ctx, d, db)
	if err != nil {
		return err
	}
	defer stop()
	each := func(i int) {
		user := fmt.Sprintf("user-%d", i%*subjects)
		mu.Lock()
		sent[user] = append(sent[user], time.Now())
		mu.Unlock()
		login(ctx, events, i)
	}
	posted := func(n int) func() (bool, string) {
		return func() (bool, string) {
			ds, _ := db.PluginDeliveries(ctx)
			return posts.Load() >= int64(n), fmt.Sprintf("%d of %d events posted: %+v", posts.Load(), n, ds)
		}
	}
	var r result
	r.n = *nEvents
	start := time.Now()
	r.recorded = record(r.n, 0, each)
	if err := waitFor("flat out", posted(r.n)); err != nil {
		return err
	}
	r.total = time.Since(start)
	mu.Lock()
	r.flat, lat = lat, nil
	mu.Unlock()
	start = time.Now()
	record(paced(), *rate, each)
	r.pacedRate = float64(paced()) / time.Since(start).Seconds()
	if err := waitFor("paced", posted(r.n+paced())); err != nil {
		return err
	}
	mu.Lock()
	r.paced = lat
	mu.Unlock()
	if n := unmatched.Load(); n > 0 {
		return fmt.Errorf("%d posts matched no event recorded", n)
	}
	r.print("wasm")
	return nil
}
