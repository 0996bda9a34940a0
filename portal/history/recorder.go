// Package history turns what happens to Sessions in the cluster into the
// portal's session history (for analytics) and audit log: starts,
// hibernations and their length, ends and why. The portal's own API
// records what people ask for; this records what the platform did,
// including what the agent decided alone (an idle session hibernated, a
// session ended at its maximum duration).
package history

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/event"
	"github.com/streamspace/streamspace/portal/audit"
	"github.com/streamspace/streamspace/portal/store"
)

// Recorder records Session transitions. Run it in one portal replica only
// (leader election): every replica sees every transition.
type Recorder struct {
	Store Store
	// Audit records the transitions people care about (hibernated,
	// ended), by audit.System.
	Audit *audit.Log
	Cache cache.Cache
	// Namespace of the Sessions (the platform namespace).
	Namespace string
	Log       logr.Logger
	Now       func() time.Time
	// Events records each transition as a plugin event (session.*);
	// nil: none.
	Events SessionEvents
	// ReplayWithin: on first sight of a Session (a restart, a new
	// leader), transitions older than this are not recorded as events
	// again: the outbox keeps the keys that make a replay a no-op only
	// that long. Zero: no limit.
	ReplayWithin time.Duration
	// Reader confirms, uncached, that a session in the history but not in
	// the cache is gone (deleted while no replica recorded); nil: the
	// cache.
	Reader client.Reader
}

// SessionEvents records session.* plugin events. key names the
// transition within the session; recording a key again is a no-op.
type SessionEvents interface {
	Session(ctx context.Context, eventType string, s *streamv1.Session, at time.Time, key string)
	// SessionsWithout returns the sessions whose session.created was
	// recorded since since and that have no event keyed key.
	SessionsWithout(ctx context.Context, key string, since time.Time) ([]store.SessionRecord, error)
}

// deletedKey keys a session's session.deleted event: one per session.
const deletedKey = "deleted"

// Store is where the recorder writes the session history.
type Store interface {
	StartSession(ctx context.Context, r store.SessionRecord) error
	RecordHibernation(ctx context.Context, session string, seconds int64) error
	EndSession(ctx context.Context, session string, at time.Time, reason string) error
	SessionHistory(ctx context.Context, since time.Time) ([]store.SessionRecord, error)
}

// Start registers the recorder on the Session informer and runs until ctx
// ends. The informer replays existing Sessions first, so a restart records
// starts it missed (each is recorded once).
func (r *Recorder) Start(ctx context.Context) error {
	inf, err := r.Cache.GetInformer(ctx, &streamv1.Session{})
	if err != nil {
		return err
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if s, ok := obj.(*streamv1.Session); ok {
				r.Observe(ctx, nil, s)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*streamv1.Session)
			n, ok2 := newObj.(*streamv1.Session)
			if ok1 && ok2 {
				r.Observe(ctx, o, n)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if s, ok := obj.(*streamv1.Session); ok {
				r.deleted(ctx, s)
			}
		},
	})
	if err != nil {
		return err
	}
	if r.Events != nil {
		// once the replay of existing Sessions has been handled
		if toolscache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
			r.missedDeletes(ctx)
		}
	}
	<-ctx.Done()
	return inf.RemoveEventHandler(reg)
}

// NeedLeaderElection: one replica records.
func (r *Recorder) NeedLeaderElection() bool { return true }

func (r *Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Observe records the change from old (nil: first sight) to s.
func (r *Recorder) Observe(ctx context.Context, old, s *streamv1.Session) {
	was := streamv1.SessionPhase("")
	if old != nil {
		was = old.Status.Phase
	}
	is := s.Status.Phase
	r.events(ctx, old, s)
	if was == is {
		return
	}
	if old == nil || was == "" {
		r.check(s, "start", r.Store.StartSession(ctx, store.SessionRecord{
			Session: s.Name, Username: s.Spec.User, Template: s.Spec.Template, StartedAt: s.CreationTimestamp.UTC()}))
	}
	reason := s.Annotations[streamv1.StateReasonAnnotation]
	switch {
	case is == streamv1.PhaseHibernated && old != nil:
		r.audit(ctx, audit.SessionHibernate, s, reason)
	case was == streamv1.PhaseHibernated && old != nil:
		// woken or ended while asleep: the sleep is over
		r.hibernationOver(ctx, old)
	}
	if is == streamv1.PhaseTerminated {
		at := r.now()
		if s.Status.TerminatedAt != nil {
			at = s.Status.TerminatedAt.Time
		}
		if reason == "" {
			reason = "Terminated"
		}
		// First sight of an ended session (a replica taking the recorder
		// over, a restart) records its end too: it may have ended while no
		// replica recorded. The store keeps the first end; the audit row
		// is written only by whoever saw the end happen, so a takeover
		// does not repeat it.
		r.check(s, "end", r.Store.EndSession(ctx, s.Name, at, reason))
		if old != nil {
			r.audit(ctx, audit.SessionEnd, s, reason)
		}
	}
}

// hibernationOver adds the hibernation that just ended to the history.
func (r *Recorder) hibernationOver(ctx context.Context, asleep *streamv1.Session) {
	if asleep.Status.HibernatedAt == nil {
		return
	}
	secs := int64(r.now().Sub(asleep.Status.HibernatedAt.Time).Seconds())
	if secs < 0 {
		secs = 0
	}
	r.check(asleep, "hibernation", r.Store.RecordHibernation(ctx, asleep.Name, secs))
}

func (r *Recorder) deleted(ctx context.Context, s *streamv1.Session) {
	if r.Events != nil {
		r.Events.Session(ctx, event.SessionDeleted, s, r.now(), deletedKey)
	}
	if s.Status.Phase == streamv1.PhaseTerminated {
		return // its end is recorded
	}
	if s.Status.Phase == streamv1.PhaseHibernated {
		r.hibernationOver(ctx, s)
	}
	r.check(s, "end", r.Store.EndSession(ctx, s.Name, r.now(), "Deleted"))
	r.audit(ctx, audit.SessionEnd, s, "Deleted")
}

// events records the plugin events of the change from old (nil: first
// sight) to s. Every transition has a key of its own (a start by when it
// was requested, a hibernation by when it happened), so a replay records
// only what no replica recorded before: a restart neither repeats nor,
// as far as the Session's status still shows it, misses a transition.
func (r *Recorder) events(ctx context.Context, old, s *streamv1.Session) {
	if r.Events == nil {
		return
	}
	first := old == nil
	horizon := time.Time{}
	if first && r.ReplayWithin > 0 {
		horizon = r.now().Add(-r.ReplayWithin)
	}
	emit := func(eventType, key string, at time.Time) {
		if !at.Before(horizon) {
			r.Events.Session(ctx, eventType, s, at, key)
		}
	}
	if first {
		emit(event.SessionCreated, "created", s.CreationTimestamp.Time)
	}
	was, is := streamv1.SessionPhase(""), s.Status.Phase
	if old != nil {
		was = old.Status.Phase
	}
	// a start (launch or wake) that reached Running: seen now, or, on
	// first sight, told by its stream-ready time even if the session has
	// since moved on
	if st := s.Status.LastStart; st != nil && (is == streamv1.PhaseRunning && was != is || first && st.StreamReadyAt != nil) {
		eventType := event.SessionStarted
		if st.Kind == streamv1.StartWake {
			eventType = event.SessionWoken
		}
		at := r.now()
		if st.StreamReadyAt != nil {
			at = st.StreamReadyAt.Time
		}
		emit(eventType, strings.ToLower(st.Kind)+"/"+st.RequestedAt.UTC().Format(time.RFC3339Nano), at)
	}
	if is == streamv1.PhaseHibernated && was != is && s.Status.HibernatedAt != nil {
		emit(event.SessionHibernated, "hibernated/"+s.Status.HibernatedAt.UTC().Format(time.RFC3339Nano), s.Status.HibernatedAt.Time)
	}
	if is == streamv1.PhaseTerminated && was != is {
		at := r.now()
		if s.Status.TerminatedAt != nil {
			at = s.Status.TerminatedAt.Time
		}
		emit(event.SessionStopped, "stopped", at)
	}
}

// missedDeletes records session.deleted for sessions that no longer
// exist but were deleted while no replica recorded: those in the history
// (of the replay window), and those whose session.created went out and
// no session.deleted did (a session deleted before the agent ever
// answered, so never in the history). Their history end is recorded too
// when it is missing.
func (r *Recorder) missedDeletes(ctx context.Context) {
	since := time.Time{}
	if r.ReplayWithin > 0 {
		since = r.now().Add(-r.ReplayWithin)
	}
	records, err := r.Store.SessionHistory(ctx, since)
	if err != nil {
		r.Log.Error(err, "Session history not read: sessions deleted while no replica recorded get no session.deleted event")
		return
	}
	announced, err := r.Events.SessionsWithout(ctx, deletedKey, since)
	if err != nil {
		r.Log.Error(err, "Plugin events not read: sessions deleted while no replica recorded get no session.deleted event")
		return
	}
	var reader client.Reader = r.Cache
	if r.Reader != nil {
		reader = r.Reader
	}
	// one list, read now from the API server (not a per-session get: the
	// window may hold thousands of ended sessions)
	var live streamv1.SessionList
	if err := reader.List(ctx, &live, client.InNamespace(r.Namespace)); err != nil {
		r.Log.Error(err, "Sessions not listed: sessions deleted while no replica recorded get no session.deleted event")
		return
	}
	seen := make(map[string]bool, len(live.Items))
	for _, s := range live.Items {
		seen[s.Name] = true
	}
	for i, rec := range append(records, announced...) {
		if seen[rec.Session] {
			continue
		}
		seen[rec.Session] = true // once, whichever source names it
		gone := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Name: rec.Session, Namespace: r.Namespace}}
		gone.Spec.User, gone.Spec.Template = rec.Username, rec.Template
		if inHistory := i < len(records); inHistory && rec.EndedAt == nil {
			r.check(gone, "end", r.Store.EndSession(ctx, rec.Session, r.now(), "Deleted"))
		}
		r.Events.Session(ctx, event.SessionDeleted, gone, r.now(), deletedKey)
	}
}

func (r *Recorder) audit(ctx context.Context, action string, s *streamv1.Session, detail string) {
	r.Audit.Record(ctx, store.AuditEvent{At: r.now(), Actor: audit.System, Action: action, Target: s.Name,
		Detail: "user " + s.Spec.User + ": " + detail})
}

func (r *Recorder) check(s *streamv1.Session, what string, err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		r.Log.Error(err, "Session history not recorded", "session", s.Name, "record", what)
	}
}
