// Package wasm runs WebAssembly plugins (types extension, api-integration
// and cli) in a wazero sandbox: no filesystem, no sockets, no environment,
// no clock but the event's, a memory limit and a time limit per event, and
// host functions only for what the plugin's approved permissions allow.
//
// # ABI (version 1)
//
// A plugin is a WASI preview 1 reactor: a module that exports
// `_initialize` (run once when the module is instantiated) and
//
//	streamspace_alloc(size i32) -> ptr i32
//	    a buffer of size bytes in the module's memory, valid until the
//	    next call into the module;
//	streamspace_handle(ptr i32, len i32) -> status i32
//	    handle the event whose JSON (plugins/event.Event) the host wrote at
//	    ptr: 0 delivered, 1 failed (the dispatcher retries), 2 failed for
//	    good (retrying cannot help). Before failing, the module may call
//	    `fail` to say why.
//
// A plugin runs in a pool of up to Limits.Instances instances of its
// module (compiled once, cached by digest), each serving one event at a
// time, so events of different sessions run side by side; the dispatcher
// delivers one session's (subject's) events one after another, so they
// reach the plugin in order. Instances share nothing: a global variable
// set while handling one event may not be there for the next one, which
// can run in another instance (or a fresh one: an instance is replaced
// when a limit stopped it or it exited). From Go (1.24 or later)
// such a module is built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm
//
// from a package main that imports plugins/sdk, which implements this ABI.
//
// The host imports are in the module "streamspace". A call that returns
// n i32 succeeds when n >= 0 with n bytes of result, fails when n < 0 with
// -n bytes of error message; either is copied out by `result`.
//
//	config(ptr, cap i32) -> len i32      the plugin's configuration (JSON), copied when len <= cap
//	result(ptr, cap i32) -> len i32      the last call's result or error message, copied when len <= cap
//	log(ptr, len i32)                    one log line
//	fail(ptr, len i32)                   why the event handled now fails
//	http_do(ptr, len i32) -> n i32       an HTTP request (JSON: method, url, headers, body as base64);
//	                                     result: JSON status, headers, body (base64). The URL's host
//	                                     must be granted as network:<host>; no redirect to another host.
//	session_hibernate(ptr, len i32) -> n i32            hibernate the named session; needs sessions:hibernate
//	session_annotate(s, sl, k, kl, v, vl i32) -> n i32  set an annotation on a session; needs sessions:annotate
//
// The session functions exist only when the plugin's permissions allow
// them: a module importing one it may not use is refused when it is
// loaded, naming the missing permission.
// Refusals during an event (an unapproved host, a request or response over
// its bound) stop the event with a permanent error naming the reason; a
// network failure is returned to the module, which may fail the event for
// a retry.
//
// The module sees no filesystem (opening a file stops the event), no
// sockets, no arguments and no environment. Its wall clock reads the
// event's time (plus the time spent in this event), so a plugin decides on
// when the event happened, identically on every redelivery, and never on
// the host's clock; its monotonic clock is real (timeouts work). Its stdout
// and stderr go, bounded, to the portal's log.
package wasm

import (
	"context"
	"net/http"
	"runtime"
	"time"

	"github.com/streamspace/streamspace/plugins/event"
)

// Host is what the portal lends a plugin. Each method is reachable only
// through a host function the plugin's permissions allow; the portal's
// implementation acts as its own service account.
type Host interface {
	// HibernateSession hibernates the session (sessions:hibernate).
	HibernateSession(ctx context.Context, session string) error
	// AnnotateSession sets an annotation on the session
	// (sessions:annotate).
	AnnotateSession(ctx context.Context, session, key, value string) error
	// HTTPClient is the client a plugin's HTTP requests go through. The
	// portal restricts it to the plugin's approved hosts; the sandbox
	// checks every request's host (and every redirect's) against the
	// granted network:<host> permissions as well, and sets its own
	// timeout.
	HTTPClient() *http.Client
}

// Limits bound one plugin's module. A zero field takes its default.
type Limits struct {
	// Memory is the most linear memory each instance may use, in bytes
	// (rounded down to 64 KiB pages). Default DefaultMemory. A plugin
	// uses at most Instances times this.
	Memory uint64
	// PerEvent is the longest one event may take, host calls included.
	// Default DefaultPerEvent.
	PerEvent time.Duration
	// Instances is the most instances of the module that run at once
	// (events handled side by side). Default DefaultInstances().
	Instances int
}

const (
	// DefaultMemory fits a Go plugin (its runtime and heap) with room;
	// a module that needs more is likely leaking.
	DefaultMemory = 64 << 20
	// DefaultPerEvent leaves time for one slow HTTP call to a chat or
	// ticket service, while a stuck plugin holds its queue only that long.
	DefaultPerEvent = 10 * time.Second
)

// New loads module (already checked against its pinned sha256) for plugin
// p and returns the Deliverer that runs each event in it. The compiled code
// is cached by the module's digest, so plugins sharing a module, or a
// plugin reloaded after a config change, do not compile it again. An error
// names why the module cannot run (not WebAssembly, not a plugin reactor,
// an import its permissions do not allow); it wraps event.ErrPermanent.
func New(ctx context.Context, module []byte, p event.Plugin, host Host, limits Limits) (event.Deliverer, error) {
	return newPlugin(ctx, module, p, host, limits.withDefaults())
}

// DefaultInstances is GOMAXPROCS, at least 2 and at most 8: a plugin's
// handler mostly computes or waits on one HTTP call, so about one
// instance per core keeps the cores busy, and each instance costs the
// memory its module uses (a few MiB for a Go plugin, up to Memory).
func DefaultInstances() int { return min(max(runtime.GOMAXPROCS(0), 2), 8) }

func (l Limits) withDefaults() Limits {
	if l.Instances <= 0 {
		l.Instances = DefaultInstances()
	}
	if l.Memory == 0 {
		l.Memory = DefaultMemory
	}
	if l.PerEvent <= 0 {
		l.PerEvent = DefaultPerEvent
	}
	return l
}
