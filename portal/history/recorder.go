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
	"time"

	"github.com/go-logr/logr"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
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
	Log   logr.Logger
	Now   func() time.Time
}

// Store is where the recorder writes the session history.
type Store interface {
	StartSession(ctx context.Context, r store.SessionRecord) error
	RecordHibernation(ctx context.Context, session string, seconds int64) error
	EndSession(ctx context.Context, session string, at time.Time, reason string) error
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
	if s.Status.Phase == streamv1.PhaseTerminated {
		return // its end is recorded
	}
	if s.Status.Phase == streamv1.PhaseHibernated {
		r.hibernationOver(ctx, s)
	}
	r.check(s, "end", r.Store.EndSession(ctx, s.Name, r.now(), "Deleted"))
	r.audit(ctx, audit.SessionEnd, s, "Deleted")
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
