// Package reconciler is the shell every agent reconciler shares, so that the
// Flux shape (get → serial patcher → deferred summarize and patch) is
// written once:
//
//	run := r.shell.Begin(obj)
//	defer func() { result, retErr = run.Finish(ctx, result, retErr) }()
//
// Finish decides, in one place, what a step's result means: a StalledError
// gives up until something changes, a WaitingError requeues with a
// condition, any other error is retried with backoff. It then summarises
// Ready, Reconciling and Stalled per kstatus, patches the object once with
// the one observedGeneration rule, and records the duration metric.
//
// Flux's runtime/reconcile.ResultFinalizer is close but has no waiting
// result (it drops Reconciling on any non-error), so the decision follows
// source-controller's internal reconcile.ComputeReconcileResult instead. The
// patching (patch.go) writes the status in one request under an optimistic
// lock and falls back to fluxcd/pkg/runtime/patch's helper when the lock
// does not hold.
package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// AgentName names the agent wherever Kubernetes records who did something:
// the field manager of every status and child it writes, the source of its
// events and the managed-by label of what it creates. (Objects from Git are
// applied under the GitSync's own field manager.)
const AgentName = "streamspace-agent"

// Object is a kind whose status has conditions.
type Object interface {
	conditions.Setter
}

// Shell is what one controller's reconciles share.
type Shell struct {
	client  client.Client
	events  Events
	metrics *Metrics
	kind    string
	owned   []string
}

// NewShell returns the shell of the controller of kind. owned lists the
// kind-specific conditions it writes; Ready, Reconciling and Stalled are
// always owned. metrics may be nil.
func NewShell(kind string, c client.Client, events Events, metrics *Metrics, owned ...string) *Shell {
	return &Shell{
		client:  c,
		events:  events,
		metrics: metrics,
		kind:    kind,
		owned:   append([]string{streamv1.ConditionReady, streamv1.ConditionReconciling, streamv1.ConditionStalled}, owned...),
	}
}

// Events returns the controller's event helper.
func (s *Shell) Events() Events { return s.events }

// Run is one reconcile of one object.
type Run struct {
	shell   *Shell
	obj     Object
	patcher *patcher
	start   time.Time
}

// Begin starts a reconcile of obj, as just read from the API server.
func (s *Shell) Begin(obj Object) *Run {
	return &Run{shell: s, obj: obj, patcher: newPatcher(obj, s.client), start: time.Now()}
}

// Progress marks the object Reconciling with a message and patches it at
// once, so that a person watching it (kubectl get -w, the portal) sees what
// a long step is doing while it runs.
func (r *Run) Progress(ctx context.Context, format string, args ...any) error {
	conditions.MarkReconciling(r.obj, streamv1.ReasonProgressing, format, args...)
	if err := r.patcher.patch(ctx, r.obj, r.shell.owned, false); err != nil {
		return fmt.Errorf("report progress: %w", client.IgnoreNotFound(err))
	}
	return nil
}

// Finish summarises the status from the reconcile's result, patches the
// object and records the duration. Call it deferred, with the named results
// of Reconcile.
func (r *Run) Finish(ctx context.Context, res ctrl.Result, err error) (ctrl.Result, error) {
	outcome := outcomeOf(err)
	res, err = summarize(r.obj, res, err)
	// observedGeneration says "this generation was handled": it moves when
	// the reconcile reached the desired state or gave up on it, never while
	// it waits or retries (Flux's rule).
	handled := outcome == OutcomeSuccess || outcome == OutcomeStalled
	// Once the last finalizer is off, the object may be gone before its
	// status is patched: that failure does not matter.
	released := !r.obj.GetDeletionTimestamp().IsZero() && len(r.obj.GetFinalizers()) == 0
	if perr := r.patcher.patch(ctx, r.obj, r.shell.owned, handled); perr != nil && !released {
		err = kerrors.NewAggregate([]error{err, client.IgnoreNotFound(perr)})
	}
	r.shell.metrics.observe(r.shell.kind, outcome, time.Since(r.start))
	return res, err
}

// summarize sets Ready, Reconciling and Stalled from the result and returns
// what controller-runtime should do. Ready: False with the reason of a
// stall, wait or failure; on success what the steps set, or True.
func summarize(obj Object, res ctrl.Result, err error) (ctrl.Result, error) {
	var (
		stalled *StalledError
		waiting *WaitingError
		failed  *FailedError
	)
	switch {
	case err == nil:
		conditions.Delete(obj, streamv1.ConditionReconciling)
		conditions.Delete(obj, streamv1.ConditionStalled)
		if !conditions.Has(obj, streamv1.ConditionReady) {
			conditions.MarkTrue(obj, streamv1.ConditionReady, streamv1.ReasonSucceeded, "Reconciliation succeeded")
		}
		return res, nil
	case errors.As(err, &stalled):
		conditions.Delete(obj, streamv1.ConditionReconciling)
		conditions.MarkStalled(obj, stalled.Reason, "%s", stalled.Message)
		conditions.MarkFalse(obj, streamv1.ConditionReady, stalled.Reason, "%s", stalled.Message)
		res.RequeueAfter = sooner(res.RequeueAfter, stalled.Recheck)
		return res, nil
	case errors.As(err, &waiting):
		conditions.Delete(obj, streamv1.ConditionStalled)
		conditions.MarkReconciling(obj, waiting.Reason, "%s", waiting.Message)
		conditions.MarkFalse(obj, streamv1.ConditionReady, waiting.Reason, "%s", waiting.Message)
		res.RequeueAfter = sooner(res.RequeueAfter, waiting.RequeueAfter)
		return res, nil
	}
	reason := streamv1.ReasonReconciliationFailed
	if errors.As(err, &failed) {
		reason = failed.Reason
	}
	conditions.Delete(obj, streamv1.ConditionStalled)
	conditions.MarkReconciling(obj, streamv1.ReasonProgressingWithRetry, "Retrying after error: %s", err.Error())
	conditions.MarkFalse(obj, streamv1.ConditionReady, reason, "%s", err.Error())
	// controller-runtime ignores the result when there is an error and
	// retries with backoff.
	return ctrl.Result{}, err
}

// Events records events, nil-safe, cut to what the API server accepts (a
// sync that changes many objects lists them all).
type Events struct {
	Recorder recorder.EventRecorder
}

// maxEventMessage leaves room below the API's 1024-byte limit.
const maxEventMessage = 1000

// Eventf records an event about obj.
func (e Events) Eventf(obj runtime.Object, eventType, reason, action, format string, args ...any) {
	if e.Recorder == nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if len(msg) > maxEventMessage {
		cut := maxEventMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) { // never half a character
			cut--
		}
		msg = msg[:cut] + " …"
	}
	e.Recorder.Eventf(obj, nil, eventType, reason, action, "%s", msg)
}

// Metrics is the reconcile duration of every agent controller.
type Metrics struct {
	duration *prometheus.HistogramVec
}

// NewMetrics creates and registers the reconcile duration histogram.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "streamspace_reconcile_duration_seconds",
		Help:    "Duration of agent reconciles, by kind and outcome (success, stalled, waiting, error).",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 16), // 5ms … ~3m (a large Git sync)
	}, []string{"kind", "outcome"})}
	if err := reg.Register(m.duration); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) observe(kind string, outcome Outcome, d time.Duration) {
	if m != nil {
		m.duration.WithLabelValues(kind, string(outcome)).Observe(d.Seconds())
	}
}
