// Package templates reports on Templates: how many sessions use each and
// whether its image was seen to start. Templates themselves come from Git
// (the GitSync applies them); this controller only writes their status.
package templates

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/streamspace/streamspace/agent/reconciler"
	"github.com/streamspace/streamspace/agent/sessions"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// +kubebuilder:rbac:groups=stream.space,resources=templates/status,verbs=get;update;patch,namespace=streamspace

// StatusReconciler keeps each Template's status: status.sessions,
// status.lastImageStart and the ImageVerified condition.
type StatusReconciler struct {
	client.Client

	mu      sync.Mutex
	written map[types.NamespacedName]time.Time // last status write per template
}

// statusSpacing spaces the status writes of one template: a burst of
// launches changes its counts once per session, and writing each count
// was a quarter of the agent's API writes (make bench-controller). The
// counts lag by at most this much.
const statusSpacing = time.Second

// holdOff says how long to wait before the next status write of key.
func (r *StatusReconciler) holdOff(key types.NamespacedName, now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if wait := r.written[key].Add(statusSpacing).Sub(now); wait > 0 {
		return wait
	}
	if r.written == nil {
		r.written = map[types.NamespacedName]time.Time{}
	}
	r.written[key] = now
	return 0
}

// SetupWithManager registers the controller. Sessions are indexed by
// template (sessions.TemplateField) by the session controller's setup.
func (r *StatusReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("template-status").
		For(&streamv1.Template{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&streamv1.Session{}, handler.EnqueueRequestsFromMapFunc(templateOfSession),
			builder.WithPredicates(reconciler.ChangedBy(reportedKey))).
		Complete(r)
}

// Reconcile recounts one Template's sessions and looks for evidence that
// its image starts, and patches the status only when it changed.
func (r *StatusReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	t := &streamv1.Template{}
	if err := r.Get(ctx, req.NamespacedName, t); err != nil {
		if apierrors.IsNotFound(err) {
			r.mu.Lock()
			delete(r.written, req.NamespacedName)
			r.mu.Unlock()
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	var list streamv1.SessionList
	// Read-only: the cache's objects are counted, not copied. A burst of
	// launches reconciles a template once per session change, and copying
	// every session of the template each time was a third of the agent's
	// CPU (make bench-controller -profile, 1,000 sessions).
	if err := r.List(ctx, &list, client.InNamespace(t.Namespace), client.MatchingFields{sessions.TemplateField: t.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, fmt.Errorf("list sessions of template %s: %w", t.Name, err)
	}
	before := t.Status.DeepCopy()
	setStatus(t, list.Items)
	if equality.Semantic.DeepEqual(*before, t.Status) {
		return ctrl.Result{}, nil
	}
	if wait := r.holdOff(req.NamespacedName, time.Now()); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	// The whole status, not a diff: the counts are required fields, and a
	// diff would leave out those that stay zero.
	patch, err := json.Marshal(map[string]any{"status": t.Status})
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.Status().Patch(ctx, t, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(reconciler.AgentName)); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, nil
}

// setStatus computes the status of t from the sessions that use it.
// ImageVerified: False while a session cannot start the current image (the
// freshest evidence), else True once a start of it was seen (kept after
// that session is gone), else Unknown.
func setStatus(t *streamv1.Template, list []streamv1.Session) {
	image := t.Spec.BaseImage
	counts := streamv1.TemplateSessions{}
	var failing *streamv1.Session
	for i := range list {
		s := &list[i]
		if s.DesiredState() == streamv1.StateTerminated || !s.DeletionTimestamp.IsZero() {
			continue
		}
		counts.Total++
		switch s.Status.Phase {
		case streamv1.PhaseRunning:
			counts.Running++
		case streamv1.PhaseHibernated:
			counts.Hibernated++
		}
		if s.Status.Image != image {
			continue
		}
		if s.Status.Phase == streamv1.PhaseFailed && conditions.GetReason(s, streamv1.ConditionReady) == streamv1.ReasonImageCannotStart {
			failing = s
		}
		if ls := s.Status.LastStart; ls != nil && ls.ImageReadyAt != nil {
			last := t.Status.LastImageStart
			if last == nil || last.Image != image || last.At.Before(ls.ImageReadyAt) {
				t.Status.LastImageStart = &streamv1.ImageStart{Image: image, At: *ls.ImageReadyAt, Session: s.Name}
			}
		}
	}
	t.Status.Sessions = counts
	t.Status.ObservedGeneration = t.Generation
	switch last := t.Status.LastImageStart; {
	case failing != nil:
		conditions.MarkFalse(t, streamv1.ConditionImageVerified, streamv1.ReasonImageCannotStart, "Session %s: %s",
			failing.Name, conditions.GetMessage(failing, streamv1.ConditionReady))
	case last != nil && last.Image == image:
		conditions.MarkTrue(t, streamv1.ConditionImageVerified, streamv1.ReasonImageStarted, "Image %s was seen running in a session", image)
	default:
		conditions.MarkUnknown(t, streamv1.ConditionImageVerified, streamv1.ReasonNotYetStarted, "No session has started image %s yet", image)
	}
}

func templateOfSession(_ context.Context, o client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: o.(*streamv1.Session).Spec.Template}}}
}

// reportedKey is what of a session the template status reports.
func reportedKey(s *streamv1.Session) string {
	ready := ""
	if s.Status.LastStart != nil && s.Status.LastStart.ImageReadyAt != nil {
		ready = s.Status.LastStart.ImageReadyAt.String()
	}
	return fmt.Sprintf("%s|%t|%s|%s|%s|%s", s.DesiredState(), s.DeletionTimestamp.IsZero(), s.Status.Phase, s.Status.Image, ready,
		conditions.GetReason(s, streamv1.ConditionReady))
}
