package wasm

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/streamspace/streamspace/plugins/event"
)

// Why the sandbox stopped an event. A Deliver error is one of these (test
// with errors.Is) and wraps event.ErrPermanent: running the same event
// again would hit the same wall.
var (
	ErrTimeLimit      = errors.New("time limit")
	ErrMemoryLimit    = errors.New("memory limit")
	ErrUnapprovedHost = errors.New("unapproved host")
	ErrPermission     = errors.New("permission")
	ErrFilesystem     = errors.New("no filesystem")
	ErrSocket         = errors.New("no sockets")
	ErrBound          = errors.New("over a bound")
	ErrCrashed        = errors.New("plugin crashed")
	ErrNotPlugin      = errors.New("not a plugin module")
)

// StopError is a sandbox stop: the reason (one of the errors above) and
// what happened.
type StopError struct {
	Reason error
	Detail string
}

func (e *StopError) Error() string { return e.Reason.Error() + ": " + e.Detail }

// Unwrap lets errors.Is find both the reason and event.ErrPermanent.
func (e *StopError) Unwrap() []error { return []error{e.Reason, event.ErrPermanent} }

func stop(reason error, format string, args ...any) *StopError {
	return &StopError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// cache holds compiled code by the module's digest for every plugin of the
// process (wazero keys it by the binary's sha256 and the runtime's
// termination setting, which is the same for all).
var cache = wazero.NewCompilationCache()

// plugin is the Deliverer of one wasm plugin: its own runtime (so its
// memory limit and host functions are its own) and a pool of up to
// limits.Instances instances of its compiled module, each serving one
// event at a time; an instance is dropped after a stop and a fresh one
// starts when an event needs it.
type plugin struct {
	name     string
	config   []byte
	grants   grants
	host     Host
	limits   Limits
	log      logr.Logger
	rt       wazero.Runtime
	compiled wazero.CompiledModule

	// slots holds a token for each event under way: at most
	// limits.Instances, so at most that many instances exist.
	slots chan struct{}

	mu     sync.Mutex
	idle   []*instance // started and free; the last freed is used first
	closed bool
}

func newPlugin(ctx context.Context, module []byte, p event.Plugin, host Host, limits Limits) (event.Deliverer, error) {
	pages := limits.Memory / 65536
	if pages < 1 || pages > 65536 {
		return nil, stop(ErrBound, "memory limit %d bytes is not between 64 KiB and 4 GiB", limits.Memory)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithMemoryLimitPages(uint32(pages)).
		WithMemoryCapacityFromMax(true). // growing never copies the memory (Go grows it often)
		WithCloseOnContextDone(true))    // a loop with no host call is stopped at the deadline
	pl := &plugin{
		name:   p.Name,
		config: []byte(p.Config),
		grants: grantsOf(p.Permissions),
		host:   host,
		limits: limits,
		log:    logr.FromContextOrDiscard(ctx).WithValues("plugin", p.Name),
		rt:     rt,
		slots:  make(chan struct{}, limits.Instances),
	}
	if err := pl.load(ctx, module); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("wasm plugin %s: %w", p.Name, err)
	}
	return pl, nil
}

// load compiles the module (a cache hit when its digest was seen), checks
// that it is a plugin reactor whose imports its permissions allow, and
// provides WASI and the permitted host functions.
func (p *plugin) load(ctx context.Context, module []byte) error {
	compiled, err := p.rt.CompileModule(ctx, module)
	if err != nil {
		return stop(ErrNotPlugin, "%s", err)
	}
	p.compiled = compiled
	exports := compiled.ExportedFunctions()
	for _, name := range []string{exportAlloc, exportHandle} {
		if _, ok := exports[name]; !ok {
			return stop(ErrNotPlugin, "module does not export %s (build a reactor with plugins/sdk: go build -buildmode=c-shared)", name)
		}
	}
	if _, ok := exports["_start"]; ok {
		return stop(ErrNotPlugin, "module is a command (exports _start): build a reactor with -buildmode=c-shared")
	}
	hostFns := p.hostFunctions()
	var missing []string
	for _, f := range compiled.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch {
		case mod == wasi_snapshot_preview1.ModuleName:
		case mod == hostModule && hostFns[name] != nil:
		case mod == hostModule && needs[name] != "":
			missing = append(missing, fmt.Sprintf("%s.%s, which needs the permission %s", mod, name, needs[name]))
		default:
			return stop(ErrNotPlugin, "module imports %s.%s, which StreamSpace does not provide", mod, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return stop(ErrPermission, "module imports %s (not granted)", strings.Join(missing, "; "))
	}
	if err := p.instantiateWASI(ctx); err != nil {
		return err
	}
	b := p.rt.NewHostModuleBuilder(hostModule)
	for name, fn := range hostFns {
		b.NewFunctionBuilder().WithGoModuleFunction(fn.fn, fn.params, fn.results).Export(name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("host functions: %w", err)
	}
	return nil
}

// instantiateWASI provides WASI preview 1 (a Go or Rust module needs it for
// its runtime: clocks, random, stdout) with the calls that would reach
// outside the sandbox replaced by stops. Without a preopened directory
// they could do nothing anyway; stopping says what the plugin tried.
func (p *plugin) instantiateWASI(ctx context.Context) error {
	b := p.rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	for _, f := range p.compiled.ImportedFunctions() {
		mod, name, _ := f.Import()
		refusal, ok := outside[name]
		if mod != wasi_snapshot_preview1.ModuleName || !ok {
			continue
		}
		// Same signature as WASI's, so the module links and the call stops.
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, _ []uint64) {
			callOf(ctx).halt(stop(refusal.reason, "the plugin %s (WASI %s); plugins may only use the host functions their permissions allow", refusal.what, name))
		}), f.ParamTypes(), f.ResultTypes()).Export(name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// outside are the WASI calls that would reach outside the sandbox.
var outside = map[string]struct {
	reason error
	what   string
}{
	"path_open":               {ErrFilesystem, "opened a file"},
	"path_create_directory":   {ErrFilesystem, "created a directory"},
	"path_filestat_get":       {ErrFilesystem, "looked a file up"},
	"path_filestat_set_times": {ErrFilesystem, "touched a file"},
	"path_link":               {ErrFilesystem, "linked a file"},
	"path_readlink":           {ErrFilesystem, "read a link"},
	"path_remove_directory":   {ErrFilesystem, "removed a directory"},
	"path_rename":             {ErrFilesystem, "renamed a file"},
	"path_symlink":            {ErrFilesystem, "made a link"},
	"path_unlink_file":        {ErrFilesystem, "deleted a file"},
	"sock_accept":             {ErrSocket, "accepted a connection"},
	"sock_recv":               {ErrSocket, "read a socket"},
	"sock_send":               {ErrSocket, "wrote a socket"},
	"sock_shutdown":           {ErrSocket, "shut a socket"},
}

// instance is one running copy of the module.
type instance struct {
	mod            api.Module
	alloc, handle  api.Function
	stdout, stderr *output
	born           time.Time
	// eventTime and started give the module's wall clock: the event's
	// time plus the time spent on it (unix nanoseconds, and nanoseconds
	// since born).
	eventTime, started atomic.Int64
	deadline           atomic.Int64 // unix nanoseconds; sleeps end there
}

// startLimit bounds starting an instance.
const startLimit = 30 * time.Second

const starting = "starting the module"

// instance returns a free instance, starting one when none is idle (the
// caller holds a slot, so no more than limits.Instances ever run).
func (p *plugin) instance(ctx context.Context) (*instance, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("wasm plugin %s is closed", p.name)
	}
	if n := len(p.idle); n > 0 {
		in := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return in, nil
	}
	p.mu.Unlock()
	in := &instance{born: time.Now()}
	in.stdout = newOutput(p.log, "stdout")
	in.stderr = newOutput(p.log, "stderr")
	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous: a replacement never clashes with the instance it replaces
		WithStartFunctions("_initialize").
		WithStdout(in.stdout).WithStderr(in.stderr).
		WithRandSource(rand.Reader).
		WithWalltime(in.walltime, sys.ClockResolution(time.Microsecond)).
		WithNanotime(in.nanotime, sys.ClockResolution(time.Microsecond)).
		WithNanosleep(in.nanosleep)
	// Starting (the module's runtime and package init) is bounded too, by
	// its own limit: it happens once per instance, not per event, and
	// takes longer than a handler on a busy machine.
	ctx, cancel := context.WithTimeout(ctx, max(p.limits.PerEvent, startLimit))
	defer cancel()
	c := &call{plugin: p, in: in, deadline: deadlineOf(ctx)}
	in.deadline.Store(c.deadline)
	mod, err := p.rt.InstantiateModule(withCall(ctx, c), p.compiled, cfg)
	if err != nil {
		return nil, p.stopped(ctx, c, in, starting, err)
	}
	in.mod = mod
	in.alloc = mod.ExportedFunction(exportAlloc)
	in.handle = mod.ExportedFunction(exportHandle)
	return in, nil
}

// release returns an instance that finished an event to the idle ones.
func (p *plugin) release(ctx context.Context, in *instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = in.mod.Close(context.WithoutCancel(ctx))
		return
	}
	p.idle = append(p.idle, in)
}

func (in *instance) walltime() (int64, int32) {
	t := in.eventTime.Load() + in.nanotime() - in.started.Load()
	return t / 1e9, int32(t % 1e9)
}

func (in *instance) nanotime() int64 { return time.Since(in.born).Nanoseconds() }

// nanosleep sleeps no later than the event's deadline, so a module asleep
// in WASI's poll_oneoff does not hold the plugin past its time limit (the
// deadline then stops it as soon as it runs again).
func (in *instance) nanosleep(ns int64) {
	if left := time.Until(time.Unix(0, in.deadline.Load())); time.Duration(ns) > left {
		ns = int64(max(left, 0))
	}
	time.Sleep(time.Duration(ns))
}

func deadlineOf(ctx context.Context) int64 {
	d, _ := ctx.Deadline()
	return d.UnixNano()
}

// Deliver runs the module's handler on e, within the time limit, in a free
// instance. It may be called concurrently: up to limits.Instances events
// run side by side and the others wait for an instance (the time limit
// starts when one is theirs). Events delivered concurrently may finish in
// any order; a caller that needs an order (the dispatcher, per subject)
// delivers the next event once the previous one returned.
func (p *plugin) Deliver(ctx context.Context, e event.Event) error {
	if err := p.grants.allowsEvent(e.Type); err != nil {
		return fmt.Errorf("wasm plugin %s: %w", p.name, err)
	}
	payload, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode event %s: %w: %w", e.ID, err, event.ErrPermanent)
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("wasm plugin %s: waiting for a free instance: %w", p.name, context.Cause(ctx))
	}
	defer func() { <-p.slots }()
	in, err := p.instance(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.limits.PerEvent)
	defer cancel()
	c := &call{plugin: p, in: in, deadline: deadlineOf(ctx)}
	ctx = withCall(ctx, c)
	in.eventTime.Store(e.Time.UnixNano())
	in.started.Store(in.nanotime())
	in.deadline.Store(c.deadline)
	in.stdout.reset()
	in.stderr.reset()

	res, err := in.alloc.Call(ctx, uint64(len(payload)))
	if err == nil && !in.mod.Memory().Write(uint32(res[0]), payload) {
		err = fmt.Errorf("streamspace_alloc returned %#x, outside the module's memory", res[0])
	}
	if err == nil {
		res, err = in.handle.Call(ctx, res[0], uint64(len(payload)))
	}
	if err != nil {
		return p.stopped(ctx, c, in, "event "+e.ID, err)
	}
	p.release(ctx, in)
	switch res[0] {
	case statusDelivered:
		return nil
	case statusRetry:
		return fmt.Errorf("wasm plugin %s: %s", p.name, c.failure("failed"))
	case statusPermanent:
		return fmt.Errorf("wasm plugin %s: %s: %w", p.name, c.failure("failed for good"), event.ErrPermanent)
	}
	return fmt.Errorf("wasm plugin %s: streamspace_handle returned %d, not 0, 1 or 2: %w", p.name, res[0], event.ErrPermanent)
}

// stopped turns a failed call into the error that names why, and drops
// the instance (it is not released): after a trap or an exit its state
// cannot be trusted, and a fresh one starts when an event needs it.
func (p *plugin) stopped(ctx context.Context, c *call, in *instance, what string, err error) error {
	if in.mod != nil {
		_ = in.mod.Close(context.WithoutCancel(ctx))
	}
	var reason *StopError
	var exit *sys.ExitError
	errors.As(err, &exit)
	switch {
	case c.halted != nil:
		reason = c.halted
	case exit != nil && exit.ExitCode() == sys.ExitCodeDeadlineExceeded:
		limit := p.limits.PerEvent
		if what == starting {
			limit = max(limit, startLimit)
		}
		reason = stop(ErrTimeLimit, "%s took longer than %s; the plugin was stopped", what, limit)
	case exit != nil && exit.ExitCode() == sys.ExitCodeContextCanceled:
		// The dispatcher gave up (shutting down, lost leadership): not
		// the plugin's doing, so the event is retried.
		return fmt.Errorf("wasm plugin %s: %s canceled: %w", p.name, what, context.Cause(ctx))
	case strings.Contains(in.stderr.head(), "out of memory"):
		reason = stop(ErrMemoryLimit, "%s needed more than %d MiB: %s", what, p.limits.Memory>>20, in.stderr.firstLine())
	case exit != nil:
		reason = stop(ErrCrashed, "%s: the module exited with code %d%s", what, exit.ExitCode(), in.stderr.said())
	default:
		reason = stop(ErrCrashed, "%s: %s%s", what, firstLine(err.Error()), in.stderr.said())
	}
	p.log.Info("Plugin stopped", "reason", reason.Error())
	return fmt.Errorf("wasm plugin %s: %w", p.name, reason)
}

// Close waits for the events under way (each bounded by the time limit),
// then frees the plugin's runtime and every instance; the compiled code
// stays in the cache for other plugins with the same module. A Deliver
// after Close fails.
func (p *plugin) Close(ctx context.Context) error {
	for range cap(p.slots) {
		p.slots <- struct{}{}
	}
	p.mu.Lock()
	p.closed = true
	p.idle = nil
	p.mu.Unlock()
	for range cap(p.slots) {
		<-p.slots
	}
	return p.rt.Close(ctx)
}

// firstLine keeps an error message to one line for a status condition.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
