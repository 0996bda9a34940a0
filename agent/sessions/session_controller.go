// Package sessions reconciles Sessions into a user's running app: the home
// volume, a Deployment (scaled to zero when hibernated), a Service and an
// optional Ingress; and it hibernates idle sessions and ends expired ones at
// their exact deadlines.
package sessions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/streamspace/streamspace/agent/quota"
	"github.com/streamspace/streamspace/agent/reconciler"
	"github.com/streamspace/streamspace/agent/users"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// Finalizer lets the controller remove a session's children before the
// Session goes. It never touches the home volume.
const Finalizer = "stream.space/session-cleanup"

// StartedAtAnnotation on a session's Deployment records when the controller
// last scaled it up (a launch or a wake).
const StartedAtAnnotation = "stream.space/started-at"

// TemplateField indexes Sessions by spec.template.
const TemplateField = "spec.template"

// +kubebuilder:rbac:groups=stream.space,resources=sessions,verbs=get;list;watch;update;patch,namespace=streamspace
// +kubebuilder:rbac:groups=stream.space,resources=sessions/status,verbs=get;update;patch,namespace=streamspace
// +kubebuilder:rbac:groups=stream.space,resources=sessions/finalizers,verbs=update,namespace=streamspace
// +kubebuilder:rbac:groups=stream.space,resources=templates;quotas;users,verbs=get;list;watch,namespace=streamspace
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete,namespace=streamspace
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;patch;delete,namespace=streamspace
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;update;patch;delete,namespace=streamspace
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;create;patch,namespace=streamspace
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch,namespace=streamspace
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch,namespace=streamspace

// Leader election: client-go's lock only gets, creates and updates its
// Lease, and records "became leader" as a core Event (not events.k8s.io).
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update,namespace=streamspace
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch,namespace=streamspace

// homeRecheck bounds a wait for the home volume: the PVC watch normally
// brings the session back sooner.
const homeRecheck = 5 * time.Second

// SessionReconciler reconciles Sessions.
type SessionReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
	Options  Options
	Metrics  *Metrics
	// Reconciles records the reconcile duration; nil records nothing.
	Reconciles *reconciler.Metrics
	// Now is the clock; tests leave it nil.
	Now func() time.Time
	// APIReader reads past the cache; nil: only the cache (a home volume
	// another reconcile just created is then waited for).
	APIReader client.Reader

	shell  *reconciler.Shell
	events reconciler.Events
}

// scope is what the steps of one reconcile share.
type scope struct {
	session  *streamv1.Session
	template *streamv1.Template // nil when not found
	quota    quota.Resolved
	deploy   *appsv1.Deployment // nil when absent
	now      time.Time
}

// starting reports whether the session has no running Deployment, so the
// next running reconcile starts (launches or wakes) it.
func (sc *scope) starting() bool {
	return sc.deploy == nil || sc.deploy.Spec.Replicas == nil || *sc.deploy.Spec.Replicas == 0
}

// SetupWithManager registers the controller, its watches and indexes.
func (r *SessionReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, opts controller.Options) error {
	r.Options = r.Options.withDefaults()
	if r.Now == nil {
		r.Now = time.Now
	}
	r.events = reconciler.Events{Recorder: r.Recorder}
	r.shell = reconciler.NewShell("Session", r.Client, r.events, r.Reconciles,
		streamv1.ConditionTemplateResolved, streamv1.ConditionHomeReady, streamv1.ConditionExpiringSoon)
	if err := IndexSessionFields(ctx, mgr); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&streamv1.Session{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(sessionOfPod),
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetLabels()[LabelSession] != "" }))).
		// Not on status writes: the template status controller counts
		// sessions there, which would wake every session of the template.
		Watches(&streamv1.Template{}, handler.EnqueueRequestsFromMapFunc(r.sessionsOfTemplate),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(r.sessionsWaitingForHome)).
		WithOptions(opts)
	if r.Options.Ingress.Enabled() {
		b = b.Owns(&networkingv1.Ingress{})
	}
	return b.Complete(r)
}

// IndexSessionFields registers the cache indexes the quota code and the
// watches use; the API server serves the same fields as selectable fields.
func IndexSessionFields(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := quota.IndexSessionUser(ctx, idx); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &streamv1.Session{}, TemplateField, func(o client.Object) []string {
		return []string{o.(*streamv1.Session).Spec.Template}
	}); err != nil {
		return fmt.Errorf("index sessions by template: %w", err)
	}
	return nil
}

// Reconcile moves one Session towards its desired state. The shape: get,
// the shared shell (deferred summary and patch), delete path, then the
// ordered steps of the normal path.
func (r *SessionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	s := &streamv1.Session{}
	if err := r.Get(ctx, req.NamespacedName, s); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	run := r.shell.Begin(s)
	defer func() {
		if s.Status.Phase == "" {
			s.Status.Phase = streamv1.PhasePending
		}
		result, retErr = run.Finish(ctx, result, retErr)
	}()

	if !s.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	controllerutil.AddFinalizer(s, Finalizer)

	sc := &scope{session: s, now: r.Now()}
	return r.reconcile(ctx, sc)
}

func (r *SessionReconciler) reconcile(ctx context.Context, sc *scope) (ctrl.Result, error) {
	s := sc.session
	if s.DesiredState() == streamv1.StateTerminated {
		return r.reconcileTerminated(ctx, sc)
	}
	if err := r.resolve(ctx, sc); err != nil {
		return ctrl.Result{}, err
	}
	requeue := r.reconcileDeadlines(ctx, sc)
	switch s.DesiredState() {
	case streamv1.StateTerminated:
		return r.reconcileTerminated(ctx, sc)
	case streamv1.StateHibernated:
		res, err := r.reconcileHibernated(ctx, sc)
		return minResult(res, requeue), err
	}
	res, err := r.reconcileRunning(ctx, sc)
	return minResult(res, requeue), err
}

// resolve reads the Template (TemplateResolved), the Quota and the current
// Deployment into the scope.
func (r *SessionReconciler) resolve(ctx context.Context, sc *scope) error {
	s := sc.session
	t := &streamv1.Template{}
	switch err := r.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Spec.Template}, t); {
	case err == nil:
		sc.template = t
		// No template generation in the message: a template edit would
		// otherwise rewrite the status of every session that uses it.
		conditions.MarkTrue(s, streamv1.ConditionTemplateResolved, streamv1.ReasonSucceeded, "Template %s resolved", t.Name)
	case apierrors.IsNotFound(err):
		conditions.MarkFalse(s, streamv1.ConditionTemplateResolved, streamv1.ReasonTemplateNotFound, "Template %q not found in namespace %s", s.Spec.Template, s.Namespace)
	default:
		return fmt.Errorf("get template %s: %w", s.Spec.Template, err)
	}

	q, _, err := quota.Resolve(ctx, r.Client, s.Namespace, s.Spec.User)
	if err != nil {
		return err
	}
	sc.quota = q

	d := &appsv1.Deployment{}
	switch err := r.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: ChildName(s)}, d); {
	case err == nil:
		sc.deploy = d
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("get deployment %s: %w", ChildName(s), err)
	}
	return nil
}

// reconcileRunning starts the session when it has no running Deployment and
// otherwise reports its state from the Deployment and its pod. Sets
// HomeReady; a start that cannot proceed stalls or waits.
func (r *SessionReconciler) reconcileRunning(ctx context.Context, sc *scope) (ctrl.Result, error) {
	if sc.starting() {
		isWake, err := r.mayStart(ctx, sc)
		if err != nil {
			return ctrl.Result{}, err
		}
		// The Service does not depend on the Deployment: both are written
		// at once, a launch's round trips one fewer (make bench-controller).
		network := make(chan error, 1)
		go func() { network <- r.reconcileNetwork(ctx, sc) }()
		err = r.start(ctx, sc, isWake)
		if nerr := <-network; err == nil {
			err = nerr
		}
		if err != nil {
			return ctrl.Result{}, err
		}
	} else {
		if err := r.reconcileHome(ctx, sc); err != nil {
			return ctrl.Result{}, err
		}
		if err := r.reconcileNetwork(ctx, sc); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, r.observeRuntime(ctx, sc)
}

// mayStart decides whether the session may launch or wake: it re-checks
// the quota (defence in depth behind the admission webhook) and ensures the
// home volume. A missing Template or an exceeded quota stalls the session;
// a home volume not ready yet is a wait. Nothing of the session's own is
// written before it says yes.
func (r *SessionReconciler) mayStart(ctx context.Context, sc *scope) (isWake bool, err error) {
	s := sc.session
	if sc.template == nil {
		s.Status.Phase = streamv1.PhaseFailed
		msg := conditions.GetMessage(s, streamv1.ConditionTemplateResolved)
		r.events.Eventf(s, corev1.EventTypeWarning, streamv1.ReasonTemplateNotFound, "Start", "%s", msg)
		return false, reconciler.Stall(streamv1.ReasonTemplateNotFound, "%s", msg) // the Template watch brings us back
	}

	isWake = sc.deploy != nil || s.Status.HibernatedAt != nil
	err = quota.CheckSession(ctx, r.Client, s, sc.template, !isWake, startedBefore(s))
	var exceeded *quota.ExceededError
	switch {
	case errors.As(err, &exceeded), errors.Is(err, quota.ErrUserDisabled):
		s.Status.Phase = streamv1.PhaseFailed
		r.events.Eventf(s, corev1.EventTypeWarning, streamv1.ReasonQuotaExceeded, "Start", "%s", err.Error())
		stall := reconciler.Stall(streamv1.ReasonQuotaExceeded, "%s", err.Error())
		// Look again later: another session may be hibernated meanwhile,
		// and other sessions are not watched.
		stall.Recheck = time.Minute
		return false, stall
	case err != nil:
		return false, err
	}

	if err := r.reconcileHome(ctx, sc); err != nil {
		return false, err
	}
	if !conditions.IsTrue(s, streamv1.ConditionHomeReady) {
		s.Status.Phase = streamv1.PhasePending
		// The PVC watch brings us back as soon as the volume is seen.
		return false, reconciler.Wait(homeRecheck, conditions.GetReason(s, streamv1.ConditionHomeReady), "%s", conditions.GetMessage(s, streamv1.ConditionHomeReady))
	}
	return isWake, nil
}

// start builds the Deployment from the Template as it is now and records
// the start in the status. It runs beside reconcileNetwork, which reads
// the session and the template only: the status is written here after the
// Deployment, the session's metadata not at all.
func (r *SessionReconciler) start(ctx context.Context, sc *scope, isWake bool) error {
	s := sc.session
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: ChildName(s), Namespace: s.Namespace}}
	if _, err := controllerutil.CreateOrPatch(ctx, r.Client, d, func() error {
		d.Labels = mergeLabels(d.Labels, childLabels(s))
		d.Annotations = mergeLabels(d.Annotations, map[string]string{StartedAtAnnotation: sc.now.UTC().Format(time.RFC3339Nano)})
		spec := deploymentFor(s, sc.template, 1)
		r.Options.IdleReporter.addTo(&spec.Template.Spec)
		if d.Spec.Selector != nil {
			spec.Selector = d.Spec.Selector // immutable
		}
		d.Spec = spec
		return controllerutil.SetControllerReference(s, d, r.Scheme())
	}); err != nil {
		return fmt.Errorf("start deployment %s: %w", d.Name, err)
	}
	sc.deploy = d

	kind := streamv1.StartLaunch
	if isWake {
		kind = streamv1.StartWake
		if s.Status.HibernatedAt != nil {
			r.Metrics.HibernationDuration.Observe(sc.now.Sub(s.Status.HibernatedAt.Time).Seconds())
		}
		r.Metrics.Wakes.WithLabelValues(wakeReason(s)).Inc()
	}
	r.Metrics.Starts.WithLabelValues(s.Spec.Template, kind).Inc()
	now := metav1.NewTime(sc.now)
	s.Status.LastStart = &streamv1.StartTimes{Kind: kind, RequestedAt: now}
	s.Status.LastActivity = &now // a start is activity: a woken session must not hibernate at once
	// Known now: written with the start instead of by a second status
	// patch when the Deployment's event brings the session back.
	s.Status.IdleDeadline = idleDeadline(sc.now.Add(r.idleTimeout(sc)))
	s.Status.HibernatedAt = nil
	s.Status.Image = sc.template.Spec.BaseImage
	s.Status.Phase = streamv1.PhasePending
	delete(s.Annotations, streamv1.StateReasonAnnotation)
	ctrl.LoggerFrom(ctx).Info("Starting session", "kind", kind, "template", sc.template.Name, "image", sc.template.Spec.BaseImage)
	r.events.Eventf(s, corev1.EventTypeNormal, kind, "Start", "%s of %s (%s) started", kind, sc.template.Name, sc.template.Spec.BaseImage)
	return nil
}

// reconcileHome ensures the user's home volume when the session mounts one.
// Sets HomeReady: False without an error while the volume is being deleted,
// or was just created and is not visible yet (a burst of launches for one
// user races to create it).
func (r *SessionReconciler) reconcileHome(ctx context.Context, sc *scope) error {
	s := sc.session
	if !s.WantsHome() || (sc.template != nil && sc.template.HomeMountPath() == "") {
		conditions.MarkTrue(s, streamv1.ConditionHomeReady, streamv1.ReasonNoPersistentHome, "Session mounts no persistent home")
		return nil
	}
	u := &streamv1.User{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Spec.User}, u); err != nil {
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("get user %s: %w", s.Spec.User, err)
		}
		u = nil
	}
	pvc, err := users.EnsureHome(ctx, r.Client, users.DesiredHome(r.Options.Home, s.Namespace, s.Spec.User, u, sc.quota.Limits.HomeStorage))
	if errors.Is(err, users.ErrHomeNotVisible) && r.APIReader != nil {
		// Another launch of the same user created it a moment ago: ask the
		// API server rather than wait for the cache. Waiting sent every such
		// session (a burst of launches per user) round the work queue
		// again, behind the whole burst (make bench-controller).
		live := &corev1.PersistentVolumeClaim{}
		if gerr := r.APIReader.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: streamv1.HomeVolumeNameFor(s.Spec.User)}, live); gerr == nil {
			pvc, err = live, nil
		}
	}
	var refused *users.GrowRefusedError
	switch {
	case errors.Is(err, users.ErrHomeNotVisible):
		conditions.MarkFalse(s, streamv1.ConditionHomeReady, streamv1.ReasonWaitingForHome, "%s", err.Error())
		return nil
	case err != nil && !errors.As(err, &refused): // a volume that cannot grow still serves the session
		conditions.MarkFalse(s, streamv1.ConditionHomeReady, streamv1.ReasonHomeFailed, "%s", err.Error())
		return reconciler.Fail(streamv1.ReasonHomeFailed, err)
	}
	if !pvc.DeletionTimestamp.IsZero() {
		conditions.MarkFalse(s, streamv1.ConditionHomeReady, streamv1.ReasonHomeBeingDeleted, "Home volume %s is being deleted by an admin", pvc.Name)
		return nil
	}
	conditions.MarkTrue(s, streamv1.ConditionHomeReady, streamv1.ReasonHomeProvisioned, "Home volume %s (%s)", pvc.Name, pvc.Status.Phase)
	return nil
}

// reconcileNetwork ensures the Service (and the Ingress when configured).
// Ports come from the Template only when the Service is created: like the
// pod, a running session's network is not changed under it.
func (r *SessionReconciler) reconcileNetwork(ctx context.Context, sc *scope) error {
	s := sc.session
	if sc.template == nil {
		return nil // running from an earlier start; keep what exists
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: ChildName(s), Namespace: s.Namespace}}
	if _, err := controllerutil.CreateOrPatch(ctx, r.Client, svc, func() error {
		svc.Labels = mergeLabels(svc.Labels, childLabels(s))
		if svc.CreationTimestamp.IsZero() {
			svc.Spec = serviceSpec(s, sc.template)
		}
		return controllerutil.SetControllerReference(s, svc, r.Scheme())
	}); err != nil {
		return fmt.Errorf("ensure service %s: %w", svc.Name, err)
	}
	if !r.Options.Ingress.Enabled() {
		return nil
	}
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: ChildName(s), Namespace: s.Namespace}}
	if _, err := controllerutil.CreateOrPatch(ctx, r.Client, ing, func() error {
		ing.Labels = mergeLabels(ing.Labels, childLabels(s))
		ing.Annotations = mergeLabels(ing.Annotations, ingressAnnotations(r.Options.Ingress, r.Options.PortalURL, s))
		ing.Spec = ingressSpec(r.Options.Ingress, s, sc.template)
		return controllerutil.SetControllerReference(s, ing, r.Scheme())
	}); err != nil {
		return fmt.Errorf("ensure ingress %s: %w", ing.Name, err)
	}
	return nil
}

// reconcileHibernated scales the Deployment to zero and keeps everything
// else, the home volume above all. Phase Hibernated once no pod is left.
func (r *SessionReconciler) reconcileHibernated(ctx context.Context, sc *scope) (ctrl.Result, error) {
	s := sc.session
	s.Status.URL, s.Status.PodName, s.Status.ResourceUsage, s.Status.IdleDeadline = "", "", nil, nil
	d := sc.deploy
	if d != nil && (d.Spec.Replicas == nil || *d.Spec.Replicas != 0) {
		reason := s.Annotations[streamv1.StateReasonAnnotation]
		if reason == "" {
			reason = streamv1.ReasonUserRequest
		}
		ctrl.LoggerFrom(ctx).Info("Hibernating session", "reason", reason)
		orig := d.DeepCopy()
		d.Spec.Replicas = new(int32)
		if err := r.Patch(ctx, d, client.MergeFrom(orig), client.FieldOwner(reconciler.AgentName)); err != nil {
			return ctrl.Result{}, fmt.Errorf("scale deployment %s to 0: %w", d.Name, err)
		}
		r.Metrics.Hibernations.WithLabelValues(reason).Inc()
		r.events.Eventf(s, corev1.EventTypeNormal, streamv1.ReasonHibernated, "Hibernate", "Scaled to zero (%s); home volume kept", reason)
	}
	if d == nil || d.Status.Replicas == 0 {
		if s.Status.Phase != streamv1.PhaseHibernated {
			s.Status.HibernatedAt = &metav1.Time{Time: sc.now}
		}
		s.Status.Phase = streamv1.PhaseHibernated
		conditions.MarkTrue(s, streamv1.ConditionReady, streamv1.ReasonHibernated, "Session is hibernated; its home volume is kept")
		return ctrl.Result{}, nil
	}
	s.Status.Phase = streamv1.PhasePending
	// The Deployment watch brings us back.
	return ctrl.Result{}, reconciler.Wait(0, streamv1.ReasonProgressing, "Hibernating: waiting for %d pod(s) to stop", d.Status.Replicas)
}

// reconcileTerminated stops everything the session runs and keeps the
// record (and the home volume).
func (r *SessionReconciler) reconcileTerminated(ctx context.Context, sc *scope) (ctrl.Result, error) {
	s := sc.session
	remaining, err := r.deleteChildren(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	s.Status.URL, s.Status.PodName, s.Status.ResourceUsage, s.Status.IdleDeadline = "", "", nil, nil
	conditions.Delete(s, streamv1.ConditionExpiringSoon)
	if remaining > 0 {
		return ctrl.Result{}, reconciler.Wait(time.Second, streamv1.ReasonProgressing, "Stopping: %d object(s) left", remaining)
	}
	if s.Status.Phase != streamv1.PhaseTerminated {
		s.Status.TerminatedAt = &metav1.Time{Time: sc.now}
		reason := s.Annotations[streamv1.StateReasonAnnotation]
		if reason == "" {
			reason = streamv1.ReasonUserRequest
		}
		r.events.Eventf(s, corev1.EventTypeNormal, streamv1.ReasonTerminated, "Terminate", "Session terminated (%s); home volume kept", reason)
		r.Metrics.terminated(s, reason)
	}
	s.Status.Phase = streamv1.PhaseTerminated
	conditions.MarkTrue(s, streamv1.ConditionReady, streamv1.ReasonTerminated, "Session terminated; its record and the home volume are kept")
	return ctrl.Result{}, nil
}

// reconcileDelete removes the session's children, never the home volume,
// then lets the Session go.
func (r *SessionReconciler) reconcileDelete(ctx context.Context, s *streamv1.Session) (ctrl.Result, error) {
	remaining, err := r.deleteChildren(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	if remaining > 0 {
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	controllerutil.RemoveFinalizer(s, Finalizer)
	ctrl.LoggerFrom(ctx).Info("Deleted session children; home volume kept")
	return ctrl.Result{}, nil
}

// deleteChildren deletes the Deployment, Service and Ingress of a session
// and returns how many still exist.
func (r *SessionReconciler) deleteChildren(ctx context.Context, s *streamv1.Session) (int, error) {
	children := []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &networkingv1.Ingress{}}
	remaining := 0
	for _, obj := range children {
		err := r.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: ChildName(s)}, obj)
		if apierrors.IsNotFound(err) || isNoMatch(err) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("get %T %s: %w", obj, ChildName(s), err)
		}
		if !metav1.IsControlledBy(obj, s) {
			continue // not ours: leave it alone
		}
		remaining++
		if obj.GetDeletionTimestamp().IsZero() {
			if err := r.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
				return 0, fmt.Errorf("delete %T %s: %w", obj, obj.GetName(), err)
			}
		}
	}
	return remaining, nil
}

// startedBefore excludes from a quota re-check the session itself and the
// sessions that are not running yet and were created after it, so that of
// two launches racing past the webhook the older one wins.
func startedBefore(s *streamv1.Session) func(*streamv1.Session) bool {
	return func(o *streamv1.Session) bool {
		if o.Name == s.Name {
			return true
		}
		if o.Status.Phase == streamv1.PhaseRunning {
			return false
		}
		if o.CreationTimestamp.Equal(&s.CreationTimestamp) {
			return o.Name > s.Name
		}
		return s.CreationTimestamp.Before(&o.CreationTimestamp)
	}
}

func wakeReason(s *streamv1.Session) string {
	if r := s.Annotations[streamv1.StateReasonAnnotation]; r != "" {
		return r
	}
	return streamv1.ReasonUserRequest
}

func mergeLabels(dst, src map[string]string) map[string]string {
	if dst == nil {
		dst = map[string]string{}
	}
	for k, v := range src {
		dst[k] = v
	}
	return dst
}

func minResult(a, b ctrl.Result) ctrl.Result {
	if b.RequeueAfter > 0 && (a.RequeueAfter == 0 || b.RequeueAfter < a.RequeueAfter) {
		a.RequeueAfter = b.RequeueAfter
	}
	return a
}

func sessionOfPod(_ context.Context, o client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: o.GetLabels()[LabelSession]}}}
}

// sessionsOfTemplate maps a Template to the sessions using it, so their
// TemplateResolved condition follows it. Reconciling a running session does
// not restart it: the new template applies at its next start.
func (r *SessionReconciler) sessionsOfTemplate(ctx context.Context, o client.Object) []reconcile.Request {
	var list streamv1.SessionList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{TemplateField: o.GetName()}); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// sessionsWaitingForHome maps a home volume to its user's sessions whose
// home is not ready.
func (r *SessionReconciler) sessionsWaitingForHome(ctx context.Context, o client.Object) []reconcile.Request {
	user := o.GetLabels()[users.LabelUser]
	if user == "" || o.GetName() != streamv1.HomeVolumeNameFor(user) {
		return nil
	}
	var list streamv1.SessionList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{quota.UserField: user}); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if !conditions.IsTrue(&list.Items[i], streamv1.ConditionHomeReady) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}
