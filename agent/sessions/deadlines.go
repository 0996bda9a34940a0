package sessions

import (
	"context"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/streamspace/streamspace/agent/quota"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// reconcileDeadlines hibernates a session whose idle deadline
// (status.lastActivity + idleTimeout) has passed and terminates one past its
// maxSessionDuration, raising ExpiringSoon shortly before. It changes
// spec.state (with the reason in an annotation) so that the rest of the
// reconcile, and anyone watching, sees one source of truth. The result asks
// to be requeued exactly at the next deadline: no polling.
func (r *SessionReconciler) reconcileDeadlines(ctx context.Context, sc *scope) ctrl.Result {
	s := sc.session
	var next time.Time
	later := func(t time.Time) {
		if t.After(sc.now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}

	if maxDur := quota.MaxSessionDuration(s, sc.quota); maxDur > 0 {
		expires := s.CreationTimestamp.Add(maxDur)
		warnAt := expires.Add(-r.Options.ExpiryWarning)
		s.Status.ExpiresAt = &metav1.Time{Time: expires}
		switch {
		case !sc.now.Before(expires):
			r.changeState(ctx, s, streamv1.StateTerminated, streamv1.ReasonMaxDuration)
			return ctrl.Result{}
		case !sc.now.Before(warnAt):
			if !conditions.IsTrue(s, streamv1.ConditionExpiringSoon) {
				r.events.Eventf(s, corev1.EventTypeWarning, streamv1.ReasonMaxDuration, "Warn", "Session ends at %s (maxSessionDuration %s)", expires.UTC().Format(time.RFC3339), maxDur)
			}
			conditions.MarkTrue(s, streamv1.ConditionExpiringSoon, streamv1.ReasonMaxDuration,
				"Session ends at %s (maxSessionDuration %s); save your work", expires.UTC().Format(time.RFC3339), maxDur)
			later(expires)
		default:
			conditions.Delete(s, streamv1.ConditionExpiringSoon)
			later(warnAt)
		}
	} else {
		s.Status.ExpiresAt = nil
		conditions.Delete(s, streamv1.ConditionExpiringSoon)
	}

	// A session about to start (launch or wake) has no idle deadline yet: the
	// start itself resets lastActivity. Without this a wake would be undone
	// at once by the deadline of the previous run.
	if s.DesiredState() == streamv1.StateRunning && !sc.starting() {
		if s.Status.LastActivity == nil {
			s.Status.LastActivity = &metav1.Time{Time: sc.now}
		}
		// The Deployment's start time also counts as activity: the cache may
		// show the scaled-up Deployment before the Session status that the
		// same start wrote, and a wake must not be undone by a stale
		// lastActivity.
		since := s.Status.LastActivity.Time
		if started := startedAt(sc.deploy); started.After(since) {
			since = started
		}
		timeout := r.idleTimeout(sc)
		lead := r.idleProbeLead(timeout)
		if !sc.now.Before(since.Add(timeout - lead)) {
			// Input the stream proxy could not see (idle.go).
			since = r.moveIdleDeadline(ctx, sc, since, timeout)
		}
		deadline := since.Add(timeout)
		s.Status.IdleDeadline = idleDeadline(deadline)
		switch {
		case !sc.now.Before(deadline):
			r.changeState(ctx, s, streamv1.StateHibernated, streamv1.ReasonIdleTimeout)
		case lead > 0 && sc.now.Before(deadline.Add(-lead)):
			later(deadline.Add(-lead))
		default:
			later(deadline)
		}
	}

	if next.IsZero() {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: next.Sub(sc.now)}
}

// idleTimeout: the Session's, else the Template's, else the Quota's, else
// the agent default (30m).
func (r *SessionReconciler) idleTimeout(sc *scope) time.Duration {
	switch {
	case sc.session.Spec.IdleTimeout != nil:
		return sc.session.Spec.IdleTimeout.Duration
	case sc.template != nil && sc.template.Spec.IdleTimeout != nil:
		return sc.template.Spec.IdleTimeout.Duration
	case sc.quota.Limits.IdleTimeout != nil:
		return sc.quota.Limits.IdleTimeout.Duration
	}
	return r.Options.DefaultIdleTimeout
}

func (r *SessionReconciler) changeState(ctx context.Context, s *streamv1.Session, state streamv1.SessionState, reason string) {
	ctrl.LoggerFrom(ctx).Info("Changing session state", "from", s.DesiredState(), "to", state, "reason", reason)
	s.Spec.State = state
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[streamv1.StateReasonAnnotation] = reason
}

// startedAt is when the controller last scaled the Deployment up.
func startedAt(d *appsv1.Deployment) time.Time {
	if d == nil {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, d.Annotations[StartedAtAnnotation])
	return t
}

// idleDeadline is the deadline as the API stores it (whole seconds), so
// that a reconcile which finds the same deadline writes nothing.
func idleDeadline(at time.Time) *metav1.Time {
	t := metav1.NewTime(at).Rfc3339Copy()
	return &t
}
