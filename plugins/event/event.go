// Package event is the contract between where platform events are produced
// (the portal's outbox) and where they are delivered (a plugin's runtime:
// a webhook or a WebAssembly module). It holds only shapes, no behaviour,
// so the producer, the dispatcher and each runtime depend on it and not on
// one another.
package event

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// The eleven platform events (plugins/manifest.Events lists the same names
// for manifests; a test keeps the two equal).
const (
	SessionCreated    = "session.created"
	SessionStarted    = "session.started"
	SessionStopped    = "session.stopped"
	SessionHibernated = "session.hibernated"
	SessionWoken      = "session.woken"
	SessionDeleted    = "session.deleted"
	UserCreated       = "user.created"
	UserUpdated       = "user.updated"
	UserDeleted       = "user.deleted"
	UserLogin         = "user.login"
	UserLogout        = "user.logout"
)

// Types is every event type, in the order above.
var Types = []string{
	SessionCreated, SessionStarted, SessionStopped, SessionHibernated, SessionWoken, SessionDeleted,
	UserCreated, UserUpdated, UserDeleted, UserLogin, UserLogout,
}

// Event is one platform event as the outbox recorded it. Its fields map
// one to one onto CloudEvents 1.0 attributes (id, type, source, subject,
// time, datacontenttype application/json), so every runtime sees the same
// event.
type Event struct {
	// ID is unique and never reused (the outbox's sequence number, as
	// text); a receiver deduplicates on it (delivery is at least once).
	ID string `json:"id"`
	// Type is one of Types.
	Type string `json:"type"`
	// Source is the platform that produced it (the portal's public URL).
	Source string `json:"source"`
	// Subject is the session's name (session.*) or the username (user.*).
	// Events of one subject are delivered in order.
	Subject string `json:"subject"`
	// Time is when it happened, as the portal saw it.
	Time time.Time `json:"time"`
	// Data is the event's payload as JSON (bounded by the producer).
	Data json.RawMessage `json:"data"`
}

// Plugin is what a runtime needs to know of one installed, enabled plugin
// to deliver to it.
type Plugin struct {
	// Name of the Plugin object.
	Name string
	// Config is the plugin's configuration (already valid against its
	// schema), as JSON.
	Config json.RawMessage
	// Permissions granted: approved in the Plugin object and asked for by
	// its manifest. A runtime offers nothing beyond them.
	Permissions []string
}

// Deliverer delivers events to one plugin. Deliver returns nil once the
// plugin has the event; an error means the dispatcher retries with
// backoff, unless it wraps ErrPermanent (the event can never be delivered
// as it is: it is recorded as failed and the next one goes).
type Deliverer interface {
	Deliver(ctx context.Context, e Event) error
	// Close frees what the runtime holds for the plugin (a compiled
	// module, connections).
	Close(ctx context.Context) error
}

// ErrPermanent marks a delivery error that retrying cannot fix.
var ErrPermanent = errors.New("permanent delivery failure")
