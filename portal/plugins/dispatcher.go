package plugins

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/event"
	"github.com/streamspace/streamspace/portal/store"
)

// Defaults of a Dispatcher.
const (
	// DefaultRetention: events older than this that every plugin is done
	// with are deleted. It is also how far back the session history
	// recorder replays transitions it may have missed (their dedup keys
	// are kept this long).
	DefaultRetention = 7 * 24 * time.Hour
	// DefaultMaxEvents caps the outbox whatever plugins still owe.
	DefaultMaxEvents = 200_000
	// DefaultLanes: events of one plugin go out on this many lanes at
	// once, each subject always on the same lane (in order).
	DefaultLanes = 8
	// DefaultPoll: how often the outbox is read for events other replicas
	// recorded (this replica's own wake the dispatcher at once).
	DefaultPoll = time.Second
	// DefaultResync: how often Plugin objects are read again, beside
	// their watch.
	DefaultResync = 30 * time.Second
)

// Backoff of the retries of one event: Initial, doubled each attempt up
// to Max; given up (failed) after Attempts attempts.
type Backoff struct {
	Initial, Max time.Duration
	Attempts     int
}

// DefaultBackoff retries for about 17 minutes.
var DefaultBackoff = Backoff{Initial: time.Second, Max: 5 * time.Minute, Attempts: 10}

func (b Backoff) delay(attempt int) time.Duration {
	d := b.Initial
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// Dispatcher delivers the outbox to plugins. Run it on one replica (the
// leader): every replica would otherwise deliver everything.
type Dispatcher struct {
	// Client reads Plugin objects (cached) and applies their Delivering
	// condition.
	Client    client.Client
	Namespace string
	// Cache, when set, wakes the dispatcher on every Plugin change
	// (disabling a plugin stops its deliveries at once, not at the next
	// resync).
	Cache  cache.Cache
	Store  store.Outbox
	Events *Events
	// Runtime builds each plugin's Deliverer.
	Runtime *Runtime
	// Source of the events (the portal's public URL).
	Source  string
	Metrics *Metrics
	Log     logr.Logger

	Backoff   Backoff
	Lanes     int
	Poll      time.Duration
	Resync    time.Duration
	Retention time.Duration
	MaxEvents int64

	mu      sync.Mutex
	workers map[string]*worker
	kick    chan struct{}
}

// NeedLeaderElection: one replica delivers.
func (d *Dispatcher) NeedLeaderElection() bool { return true }

func (d *Dispatcher) defaults() {
	if d.Backoff.Attempts <= 0 {
		d.Backoff = DefaultBackoff
	}
	if d.Lanes <= 0 {
		d.Lanes = DefaultLanes
	}
	if d.Poll <= 0 {
		d.Poll = DefaultPoll
	}
	if d.Resync <= 0 {
		d.Resync = DefaultResync
	}
	if d.Retention <= 0 {
		d.Retention = DefaultRetention
	}
	if d.MaxEvents <= 0 {
		d.MaxEvents = DefaultMaxEvents
	}
	if d.Source == "" {
		d.Source = "urn:streamspace:portal"
	}
}

// Start delivers until ctx ends, then stops every plugin's worker (what
// was in flight is delivered again by the next leader: at least once).
func (d *Dispatcher) Start(ctx context.Context) error {
	d.defaults()
	d.workers = map[string]*worker{}
	d.kick = make(chan struct{}, 1)
	defer d.stopAll()
	if d.Cache != nil {
		inf, err := d.Cache.GetInformer(ctx, &streamv1.Plugin{})
		if err != nil {
			return fmt.Errorf("watch plugins: %w", err)
		}
		reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { d.poke() },
			UpdateFunc: func(any, any) { d.poke() },
			DeleteFunc: func(any) { d.poke() },
		})
		if err != nil {
			return fmt.Errorf("watch plugins: %w", err)
		}
		defer func() { _ = inf.RemoveEventHandler(reg) }()
	}
	if d.Events != nil {
		go d.fanOut(ctx)
	}
	resync := time.NewTicker(d.Resync)
	defer resync.Stop()
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	d.forgetUninstalled(ctx)
	d.prune(ctx)
	for {
		if err := d.sync(ctx); err != nil && ctx.Err() == nil {
			d.Log.Error(err, "Plugins not read; deliveries continue as they were")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.kick:
		case <-resync.C:
		case <-prune.C:
			d.prune(ctx)
		}
	}
}

func (d *Dispatcher) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// fanOut passes each "recorded" signal of this process to every worker.
func (d *Dispatcher) fanOut(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.Events.Recorded():
			d.mu.Lock()
			for _, w := range d.workers {
				w.poke()
			}
			d.mu.Unlock()
		}
	}
}

// sync makes the running workers match the Plugin objects: one per
// enabled, Ready plugin, with a Deliverer built from its current
// manifest, config and permissions.
func (d *Dispatcher) sync(ctx context.Context) error {
	var list streamv1.PluginList
	if err := d.Client.List(ctx, &list, client.InNamespace(d.Namespace)); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i := range list.Items {
		p := &list.Items[i]
		seen[p.Name] = true
		want, why := Desired(p)
		w := d.worker(p.Name)
		if want == nil {
			if w != nil {
				d.Log.Info("Plugin deliveries stopped", "plugin", p.Name, "why", why)
				d.stop(p.Name)
			}
			if !p.Spec.Enabled {
				// off: what happens until it is on again is not for it
				if err := d.Store.StopPluginDelivery(ctx, p.Name); err != nil {
					d.Log.Error(err, "Plugin delivery state not updated", "plugin", p.Name)
				}
			}
			continue
		}
		if w != nil && w.fingerprint == want.Fingerprint {
			continue
		}
		if w != nil {
			d.stop(p.Name) // changed: its events go on from where it was
		}
		if d.Runtime.failedRecently(want) {
			continue
		}
		deliverer, err := d.Runtime.Build(ctx, p, want)
		if err != nil {
			d.Runtime.remember(want, err)
			d.Log.Error(err, "Plugin runtime not built; its events wait", "plugin", p.Name)
			if d.Metrics != nil {
				d.Metrics.RuntimeErrors.WithLabelValues(p.Name).Inc()
			}
			d.setDelivering(ctx, p.Name, false, err.Error())
			continue
		}
		if deliverer == nil {
			continue // a type that receives no events (a theme)
		}
		d.start(ctx, p, want, deliverer)
	}
	for _, name := range d.running() {
		if !seen[name] {
			d.Log.Info("Plugin uninstalled: deliveries stopped", "plugin", name)
			d.stop(name)
			if err := d.Store.ForgetPlugin(ctx, name); err != nil {
				d.Log.Error(err, "Plugin delivery state not dropped", "plugin", name)
			}
		}
	}
	return nil
}

// forgetUninstalled drops the delivery state of plugins deleted while no
// dispatcher ran.
func (d *Dispatcher) forgetUninstalled(ctx context.Context) {
	states, err := d.Store.PluginDeliveries(ctx)
	if err != nil {
		d.Log.Error(err, "Plugin delivery states not read")
		return
	}
	for _, s := range states {
		var p streamv1.Plugin
		err := d.Client.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: s.Plugin}, &p)
		if client.IgnoreNotFound(err) == nil && err != nil {
			if err := d.Store.ForgetPlugin(ctx, s.Plugin); err != nil {
				d.Log.Error(err, "Plugin delivery state not dropped", "plugin", s.Plugin)
			}
		}
	}
}

func (d *Dispatcher) prune(ctx context.Context) {
	n, err := d.Store.PruneEvents(ctx, time.Now().Add(-d.Retention), d.MaxEvents)
	if err != nil {
		d.Log.Error(err, "Outbox not pruned")
		return
	}
	if n > 0 && d.Metrics != nil {
		d.Metrics.Pruned.Add(float64(n))
	}
}

func (d *Dispatcher) worker(name string) *worker {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.workers[name]
}

func (d *Dispatcher) running() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.workers))
	for n := range d.workers {
		names = append(names, n)
	}
	return names
}

func (d *Dispatcher) start(ctx context.Context, p *streamv1.Plugin, want *Wanted, deliverer event.Deliverer) {
	wctx, cancel := context.WithCancel(ctx)
	w := &worker{d: d, name: p.Name, types: want.Types, fingerprint: want.Fingerprint, deliverer: deliverer,
		cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1),
		failing: isDeliveringFalse(p)}
	d.mu.Lock()
	d.workers[p.Name] = w
	d.mu.Unlock()
	d.Log.Info("Plugin deliveries started", "plugin", p.Name, "types", want.Types)
	go w.run(wctx)
}

// stop ends a plugin's worker and waits for it: once stop returns,
// nothing more is delivered to the plugin by this dispatcher.
func (d *Dispatcher) stop(name string) {
	d.mu.Lock()
	w := d.workers[name]
	delete(d.workers, name)
	d.mu.Unlock()
	if w == nil {
		return
	}
	w.cancel()
	<-w.done
	_ = w.deliverer.Close(context.Background())
}

func (d *Dispatcher) stopAll() {
	for _, n := range d.running() {
		d.stop(n)
	}
}

// worker delivers one plugin's events: a fetcher reads the outbox in id
// order and hands each event to the lane of its subject; each lane
// delivers its events one after the other, with retries, so events of one
// subject arrive in order while subjects proceed side by side.
type worker struct {
	d           *Dispatcher
	name        string
	types       []string
	fingerprint string
	deliverer   event.Deliverer
	cancel      context.CancelFunc
	done        chan struct{}
	wake        chan struct{}

	mu      sync.Mutex
	failing bool // this plugin's Delivering condition is False
	t       tracker
}

func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// maxInFlight bounds the events a worker holds in memory.
const maxInFlight = 2048

func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	log := w.d.Log.WithValues("plugin", w.name)
	var through int64
	for attempt := 1; ; attempt++ {
		var err error
		if through, err = w.d.Store.StartPluginDelivery(ctx, w.name, w.types); err == nil {
			break
		}
		log.Error(err, "Plugin delivery not started; retrying")
		if !sleep(ctx, w.d.Backoff.delay(attempt)) {
			return
		}
	}
	w.t.reset(through)
	lanes := make([]chan store.OutboxEvent, w.d.Lanes)
	var wg sync.WaitGroup
	for i := range lanes {
		lanes[i] = make(chan store.OutboxEvent, maxInFlight/len(lanes))
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.lane(ctx, lanes[i], log)
		}()
	}
	saved := make(chan struct{})
	go func() {
		defer close(saved)
		w.saveLoop(ctx, log)
	}()
	defer func() {
		wg.Wait()
		<-saved
		w.save(context.WithoutCancel(ctx), log) // what the lanes finished last
	}()
	poll := time.NewTicker(w.d.Poll)
	defer poll.Stop()
	for ctx.Err() == nil {
		fetched, limit := w.t.room()
		var events []store.OutboxEvent
		if limit > 0 {
			var err error
			events, err = w.d.Store.EventsAfter(ctx, fetched, w.types, limit)
			if err != nil && ctx.Err() == nil {
				log.Error(err, "Outbox not read")
			}
		}
		for _, e := range events {
			w.t.add(e.ID)
			select {
			case lanes[laneOf(e.Subject, len(lanes))] <- e:
			case <-ctx.Done():
				return
			}
		}
		if limit > 0 && len(events) == limit {
			continue // there may be more now
		}
		// Read everything there was (or holding all it may): wait for a
		// record (a wake that came during the read is still pending), a
		// lane making room, or the poll (other replicas' events).
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-poll.C:
		}
	}
}

func laneOf(subject string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(subject))
	return int(h.Sum32() % uint32(n))
}

// lane delivers its events in order. An event is retried with backoff
// until delivered, failed for good, or out of attempts; when the worker
// stops mid-way the event stays undone and is delivered again later.
func (w *worker) lane(ctx context.Context, in <-chan store.OutboxEvent, log logr.Logger) {
	m := w.d.Metrics
	for {
		var e store.OutboxEvent
		select {
		case <-ctx.Done():
			return
		case e = <-in:
		}
		ev := ToEvent(e, w.d.Source)
		for attempt := 1; ; attempt++ {
			at := time.Now()
			err := w.deliverer.Deliver(ctx, ev)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				room := w.t.finish(e.ID, true, attempt, "", at)
				if m != nil {
					m.Delivered.WithLabelValues(w.name).Inc()
					m.Latency.WithLabelValues(w.name).Observe(time.Since(e.RecordedAt).Seconds())
				}
				w.recovered(ctx)
				if room {
					w.poke()
				}
				break
			}
			permanent := errors.Is(err, event.ErrPermanent)
			if permanent || attempt >= w.d.Backoff.Attempts {
				log.Error(err, "Plugin event given up", "event", e.ID, "type", e.Type, "attempts", attempt, "permanent", permanent)
				room := w.t.finish(e.ID, false, attempt, err.Error(), at)
				if m != nil {
					m.Failed.WithLabelValues(w.name).Inc()
				}
				if permanent {
					w.stopped(ctx, err)
				}
				if room {
					w.poke()
				}
				break
			}
			w.t.retrying(attempt, err.Error(), at)
			if m != nil {
				m.Retries.WithLabelValues(w.name).Inc()
			}
			if !sleep(ctx, w.d.Backoff.delay(attempt)) {
				return
			}
		}
	}
}

// stopped marks the plugin: its runtime stopped an event for good (once
// per run of failures: a burst of refusals is one status write).
func (w *worker) stopped(ctx context.Context, err error) {
	w.mu.Lock()
	was := w.failing
	w.failing = true
	w.mu.Unlock()
	if !was {
		w.d.setDelivering(ctx, w.name, false, err.Error())
	}
}

// recovered clears the mark once an event gets through again.
func (w *worker) recovered(ctx context.Context) {
	w.mu.Lock()
	was := w.failing
	w.failing = false
	w.mu.Unlock()
	if was {
		w.d.setDelivering(ctx, w.name, true, "")
	}
}

// saveLoop writes the worker's progress to the store a few times a
// second (not once per event).
func (w *worker) saveLoop(ctx context.Context, log logr.Logger) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.save(ctx, log)
		}
	}
}

func (w *worker) save(ctx context.Context, log logr.Logger) {
	p, ok := w.t.take()
	if !ok {
		return
	}
	if err := w.d.Store.SavePluginDelivery(ctx, w.name, p); err != nil {
		w.t.giveBack(p)
		if ctx.Err() == nil {
			log.Error(err, "Plugin delivery progress not saved")
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// tracker is a worker's place in the outbox: the ids handed to lanes in
// order, which of them are done, and the counts not saved yet.
type tracker struct {
	mu       sync.Mutex
	fetched  int64   // highest id handed out
	through  int64   // every id up to it is done
	inFlight []int64 // handed out, ascending; done ones wait at the front
	done     map[int64]bool
	full     bool // the worker waits for room to read again

	delivered, failed int64
	attempts          int
	lastError         string
	lastAttempt       *time.Time
	lastSuccess       *time.Time
	dirty             bool
}

func (t *tracker) reset(through int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fetched, t.through, t.inFlight, t.done, t.full = through, through, nil, map[int64]bool{}, false
}

// maxFetch bounds one read of the outbox.
const maxFetch = 512

// room returns where the next read starts and how many events it may
// take (0: the worker holds maxInFlight and waits for the lanes to make
// room; finish then says when to read again).
func (t *tracker) room() (int64, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := min(maxFetch, maxInFlight-len(t.inFlight))
	t.full = n <= 0
	return t.fetched, max(n, 0)
}

func (t *tracker) add(id int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inFlight = append(t.inFlight, id)
	t.fetched = id
}

// finish marks id done; it reports true when the worker, which stopped
// reading at maxInFlight, should read again (half the room is free): a
// lane does not wake the reader for every event it finishes.
func (t *tracker) finish(id int64, ok bool, attempt int, errText string, at time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done[id] = true
	for len(t.inFlight) > 0 && t.done[t.inFlight[0]] {
		delete(t.done, t.inFlight[0])
		t.inFlight = t.inFlight[1:]
	}
	if len(t.inFlight) > 0 {
		t.through = t.inFlight[0] - 1
	} else {
		t.through = t.fetched
	}
	at = at.UTC()
	t.lastAttempt = &at
	if ok {
		t.delivered++
		t.attempts, t.lastError = 0, ""
		t.lastSuccess = &at
	} else {
		t.failed++
		t.attempts, t.lastError = attempt, errText
	}
	t.dirty = true
	if t.full && len(t.inFlight) <= maxInFlight/2 {
		t.full = false
		return true
	}
	return false
}

func (t *tracker) retrying(attempt int, errText string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at = at.UTC()
	t.attempts, t.lastError, t.lastAttempt, t.dirty = attempt, errText, &at, true
}

// take returns the progress to save and clears the counts.
func (t *tracker) take() (store.DeliveryProgress, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.dirty {
		return store.DeliveryProgress{}, false
	}
	p := store.DeliveryProgress{Through: t.through, Delivered: t.delivered, Failed: t.failed, Attempts: t.attempts,
		LastError: t.lastError, LastAttempt: t.lastAttempt, LastSuccess: t.lastSuccess}
	t.delivered, t.failed, t.dirty = 0, 0, false
	return p, true
}

// giveBack returns counts a failed save did not write.
func (t *tracker) giveBack(p store.DeliveryProgress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.delivered += p.Delivered
	t.failed += p.Failed
	t.dirty = true
}

func formatID(id int64) string { return strconv.FormatInt(id, 10) }
