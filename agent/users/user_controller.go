package users

import (
	"context"
	"errors"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/streamspace/streamspace/agent/quota"
	"github.com/streamspace/streamspace/agent/reconciler"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// +kubebuilder:rbac:groups=stream.space,resources=users,verbs=get;list;watch;update;patch,namespace=streamspace
// +kubebuilder:rbac:groups=stream.space,resources=users/status,verbs=get;update;patch,namespace=streamspace
// +kubebuilder:rbac:groups=stream.space,resources=quotas,verbs=get;list;watch,namespace=streamspace
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;create;patch,namespace=streamspace

// UserReconciler provisions each User's home volume at the size its User
// object or Quota gives, and reports which Quota applies.
type UserReconciler struct {
	client.Client
	// Quotas reads the Quotas through to the API server (the manager's
	// APIReader by default): a home volume's size is fixed when it is
	// created and it never shrinks, so it must not come from a cache that
	// has not yet seen a Quota created just before the User.
	Quotas client.Reader
	Home   HomeOptions
	// Reconciles records the reconcile duration; nil records nothing.
	Reconciles *reconciler.Metrics

	shell *reconciler.Shell
}

// SetupWithManager registers the controller. A Quota change re-sizes the
// homes of every user, since it may change which quota applies.
func (r *UserReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	// Nothing about a User is an event worth a person's attention yet: the
	// conditions say it all.
	r.shell = reconciler.NewShell("User", r.Client, reconciler.Events{}, r.Reconciles, streamv1.ConditionHomeReady)
	if r.Quotas == nil {
		r.Quotas = mgr.GetAPIReader()
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&streamv1.User{}).
		// Not on status writes: the quota status controller reports use
		// there at every session change.
		Watches(&streamv1.Quota{}, handler.EnqueueRequestsFromMapFunc(reconciler.AllInNamespace(r.Client, &streamv1.UserList{})),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(userOfHome)).
		WithOptions(opts).
		Complete(r)
}

// Reconcile ensures the User's home volume. Sets HomeReady and Ready; a
// missing override Quota stalls it, a home volume not visible yet is a wait.
func (r *UserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	u := &streamv1.User{}
	if err := r.Get(ctx, req.NamespacedName, u); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	run := r.shell.Begin(u)
	defer func() { result, retErr = run.Finish(ctx, result, retErr) }()

	q, _, err := quota.Resolve(ctx, r.Quotas, u.Namespace, u.Name)
	if err != nil {
		stall := reconciler.Stall(streamv1.ReasonQuotaNotFound, "%s", err.Error())
		stall.Recheck = time.Minute // the Quota watch normally brings us back first
		return ctrl.Result{}, stall
	}
	u.Status.Quota = q.Name

	want := DesiredHome(r.Home, u.Namespace, u.Name, u, q.Limits.HomeStorage)
	pvc, err := EnsureHome(ctx, r.Client, want)
	var refused *GrowRefusedError
	switch {
	case errors.As(err, &refused):
		conditions.MarkTrue(u, streamv1.ConditionHomeReady, streamv1.ReasonGrowthRefused, "Home volume %s kept at its size: %s", pvc.Name, err.Error())
		conditions.MarkTrue(u, streamv1.ConditionReady, streamv1.ReasonSucceeded, "Home volume %s ready (not grown); quota %s", pvc.Name, orNone(q.Name))
		return ctrl.Result{}, nil
	case errors.Is(err, ErrHomeNotVisible):
		conditions.MarkFalse(u, streamv1.ConditionHomeReady, streamv1.ReasonWaitingForHome, "%s", err.Error())
		return ctrl.Result{}, reconciler.Wait(5*time.Second, streamv1.ReasonWaitingForHome, "%s", err.Error())
	case err != nil:
		conditions.MarkFalse(u, streamv1.ConditionHomeReady, streamv1.ReasonHomeFailed, "%s", err.Error())
		return ctrl.Result{}, reconciler.Fail(streamv1.ReasonHomeFailed, err)
	}
	u.Status.HomeVolume = pvc.Name
	size := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	u.Status.HomeSize = size.String()
	switch {
	case want.Size.Cmp(size) > 0:
		conditions.MarkTrue(u, streamv1.ConditionHomeReady, streamv1.ReasonGrowthPending, "Home volume %s is %s; it grows to %s once bound", pvc.Name, size.String(), want.Size.String())
	case want.Size.Cmp(size) < 0:
		// Asked smaller than it is: volumes never shrink, say so.
		conditions.MarkTrue(u, streamv1.ConditionHomeReady, streamv1.ReasonSizeKept, "Home volume %s stays at %s (asked %s: volumes never shrink)", pvc.Name, size.String(), want.Size.String())
	default:
		conditions.MarkTrue(u, streamv1.ConditionHomeReady, streamv1.ReasonHomeProvisioned, "Home volume %s (%s, %s)", pvc.Name, size.String(), pvc.Status.Phase)
	}
	conditions.MarkTrue(u, streamv1.ConditionReady, streamv1.ReasonSucceeded, "Home volume %s ready; quota %s (%s)", pvc.Name, orNone(q.Name), q.Reason)
	return ctrl.Result{}, nil
}

func userOfHome(_ context.Context, o client.Object) []reconcile.Request {
	user := o.GetLabels()[LabelUser]
	if user == "" || o.GetName() != streamv1.HomeVolumeNameFor(user) {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: user}}}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
