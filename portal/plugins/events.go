// Package plugins is the portal's side of plugins: the outbox producer
// that records each platform event once (Events), and, on the leader
// replica, the dispatcher that delivers them to every enabled plugin that
// subscribed and may receive them (Dispatcher), through the plugin's
// runtime (plugins/webhook, plugins/wasm).
package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/event"
	"github.com/streamspace/streamspace/portal/store"
)

// maxField bounds each text field of a payload (a state-reason annotation
// is free text anyone who can edit the Session writes).
const maxField = 256

// Events records platform events in the outbox. Its methods never fail
// the caller: an event that cannot be recorded is logged and counted
// (streamspace_plugin_events_record_errors_total). A nil *Events records
// nothing.
type Events struct {
	Store   store.Outbox
	Metrics *Metrics
	Log     logr.Logger
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time

	wake chan struct{}

	// group commit: events recorded at once by concurrent requests are
	// written in one transaction (one sync to disk) by whichever caller
	// finds no write under way; the others wait for it
	mu       sync.Mutex
	queue    []*pending
	flushing bool
}

type pending struct {
	e    *store.OutboxEvent
	err  error
	done chan struct{}
}

// maxBatch bounds one transaction of the group commit.
const maxBatch = 256

// NewEvents returns the producer writing to s.
func NewEvents(s store.Outbox, m *Metrics, log logr.Logger) *Events {
	return &Events{Store: s, Metrics: m, Log: log, wake: make(chan struct{}, 1)}
}

// Recorded is signalled (coalesced) after each event this process
// records, so a dispatcher in the same process delivers at once instead
// of at its next poll.
func (e *Events) Recorded() <-chan struct{} { return e.wake }

func (e *Events) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// UserData is the payload of user.* events: who, and their role; never
// credentials, tokens, e-mail or groups.
type UserData struct {
	Username string `json:"username"`
	Role     string `json:"role"`
	Source   string `json:"source"`
	Disabled bool   `json:"disabled,omitempty"`
}

// User records a user.* event about u, now.
func (e *Events) User(ctx context.Context, eventType string, u *store.User) {
	if e == nil || u == nil {
		return
	}
	e.record(ctx, eventType, u.Username, e.now(), "", UserData{Username: clip(u.Username), Role: clip(u.Role), Source: clip(u.Source), Disabled: u.Disabled})
}

// SessionData is the payload of session.* events.
type SessionData struct {
	Session  string `json:"session"`
	User     string `json:"user"`
	Template string `json:"template"`
	Phase    string `json:"phase,omitempty"`
	// Reason why its state last changed (idle timeout, user request…).
	Reason string `json:"reason,omitempty"`
}

// Session records a session.* event about s that happened at at. key
// names the transition (unique for the session): the same key recorded
// again (a replay after a restart) is not a new event.
func (e *Events) Session(ctx context.Context, eventType string, s *streamv1.Session, at time.Time, key string) {
	if e == nil || s == nil {
		return
	}
	e.record(ctx, eventType, s.Name, at, s.Name+"/"+key, SessionData{Session: s.Name, User: clip(s.Spec.User), Template: clip(s.Spec.Template),
		Phase: string(s.Status.Phase), Reason: clip(s.Annotations[streamv1.StateReasonAnnotation])})
}

func (e *Events) record(ctx context.Context, eventType, subject string, at time.Time, key string, payload any) {
	data, err := json.Marshal(payload)
	if err == nil {
		ev := &store.OutboxEvent{Type: eventType, Subject: subject, At: at, Data: data, Key: key}
		err = e.write(ctx, ev)
		recorded := ev.ID != 0
		if err == nil {
			if recorded && e.Metrics != nil {
				e.Metrics.Recorded.WithLabelValues(eventType).Inc()
			}
			if recorded && e.wake != nil {
				select {
				case e.wake <- struct{}{}:
				default:
				}
			}
			return
		}
	}
	if e.Metrics != nil {
		e.Metrics.RecordErrors.Inc()
	}
	if !errors.Is(err, context.Canceled) {
		e.Log.Error(err, "Plugin event not recorded", "type", eventType, "subject", subject)
	}
}

// SessionsWithout returns the sessions whose session.created was recorded
// at or after since and that have no event keyed key (as Session keys it):
// e.g. those never said deleted. Each carries the user and template its
// created event named.
func (e *Events) SessionsWithout(ctx context.Context, key string, since time.Time) ([]store.SessionRecord, error) {
	evs, err := e.Store.OpenEvents(ctx, event.SessionCreated, "/"+key, since)
	if err != nil {
		return nil, err
	}
	out := make([]store.SessionRecord, 0, len(evs))
	for _, ev := range evs {
		var d SessionData
		_ = json.Unmarshal(ev.Data, &d) // a payload this portal wrote; unreadable: the name alone
		out = append(out, store.SessionRecord{Session: ev.Subject, Username: d.User, Template: d.Template, StartedAt: ev.At})
	}
	return out, nil
}

// write records ev, in the same transaction as the events other callers
// record at the same moment. It returns once ev is committed (or not).
func (e *Events) write(ctx context.Context, ev *store.OutboxEvent) error {
	p := &pending{e: ev, done: make(chan struct{})}
	e.mu.Lock()
	e.queue = append(e.queue, p)
	if e.flushing {
		e.mu.Unlock()
		<-p.done // the writer under way takes it in its next transaction
		return p.err
	}
	e.flushing = true
	for len(e.queue) > 0 {
		batch := e.queue[:min(len(e.queue), maxBatch)]
		e.queue = e.queue[len(batch):]
		e.mu.Unlock()
		es := make([]*store.OutboxEvent, len(batch))
		for i, b := range batch {
			es[i] = b.e
		}
		// others' events ride on this call: this request's end must not
		// cancel them
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := e.Store.RecordEvents(wctx, es)
		cancel()
		for _, b := range batch {
			b.err = err
			close(b.done)
		}
		e.mu.Lock()
	}
	e.flushing = false
	e.mu.Unlock()
	return p.err
}

// clip bounds a payload field, on a rune boundary.
func clip(s string) string {
	if len(s) <= maxField {
		return s
	}
	s = s[:maxField]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// ToEvent is an outbox row as the runtimes see it.
func ToEvent(e store.OutboxEvent, source string) event.Event {
	return event.Event{ID: formatID(e.ID), Type: e.Type, Source: source, Subject: e.Subject, Time: e.At, Data: json.RawMessage(e.Data)}
}
