package users

import (
	"context"
	"errors"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/fluxcd/pkg/runtime/patch"
	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/streamspace/streamspace/agent/quota"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// +kubebuilder:rbac:groups=stream.space,resources=users,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=stream.space,resources=users/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=stream.space,resources=quotas,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;create;patch

// FieldManager is the field manager of the user controller's writes.
const FieldManager = "streamspace-agent"

// UserReconciler provisions each User's home volume at the size its User
// object or Quota gives, and reports which Quota applies.
type UserReconciler struct {
	client.Client
	Home HomeOptions
}

// SetupWithManager registers the controller. A Quota change re-sizes the
// homes of every user, since it may change which quota applies.
func (r *UserReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&streamv1.User{}).
		Watches(&streamv1.Quota{}, handler.EnqueueRequestsFromMapFunc(r.allUsers)).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(userOfHome)).
		WithOptions(opts).
		Complete(r)
}

// Reconcile ensures the User's home volume. Sets HomeReady and Ready.
func (r *UserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	u := &streamv1.User{}
	if err := r.Get(ctx, req.NamespacedName, u); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	patcher := patch.NewSerialPatcher(u, r.Client)
	defer func() {
		if retErr != nil {
			conditions.MarkFalse(u, streamv1.ConditionReady, "ReconciliationFailed", "%s", retErr.Error())
		}
		opts := []patch.Option{
			patch.WithOwnedConditions{Conditions: []string{streamv1.ConditionReady, streamv1.ConditionHomeReady, streamv1.ConditionStalled, streamv1.ConditionReconciling}},
			patch.WithFieldOwner(FieldManager),
		}
		if retErr == nil {
			opts = append(opts, patch.WithStatusObservedGeneration{})
		}
		if err := patcher.Patch(ctx, u, opts...); err != nil {
			retErr = kerrors.NewAggregate([]error{retErr, client.IgnoreNotFound(err)})
		}
	}()

	q, _, err := quota.Resolve(ctx, r.Client, u.Namespace, u.Name)
	if err != nil {
		conditions.MarkStalled(u, "QuotaNotFound", "%s", err.Error())
		conditions.MarkFalse(u, streamv1.ConditionReady, "QuotaNotFound", "%s", err.Error())
		return ctrl.Result{RequeueAfter: time.Minute}, nil
	}
	conditions.Delete(u, streamv1.ConditionStalled)
	u.Status.Quota = q.Name

	want := DesiredHome(r.Home, u.Namespace, u.Name, u, q.Limits.HomeStorage)
	pvc, err := EnsureHome(ctx, r.Client, want)
	var refused *GrowRefusedError
	if errors.As(err, &refused) {
		conditions.MarkTrue(u, streamv1.ConditionHomeReady, "GrowthRefused", "Home volume %s kept at its size: %s", pvc.Name, err.Error())
		conditions.MarkTrue(u, streamv1.ConditionReady, streamv1.ReasonSucceeded, "Home volume %s ready (not grown); quota %s", pvc.Name, orNone(q.Name))
		return ctrl.Result{}, nil
	}
	if err != nil {
		conditions.MarkFalse(u, streamv1.ConditionHomeReady, "HomeFailed", "%s", err.Error())
		return ctrl.Result{}, err
	}
	u.Status.HomeVolume = pvc.Name
	size := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	u.Status.HomeSize = size.String()
	switch {
	case want.Size.Cmp(size) > 0:
		conditions.MarkTrue(u, streamv1.ConditionHomeReady, "GrowthPending", "Home volume %s is %s; it grows to %s once bound", pvc.Name, size.String(), want.Size.String())
	case want.Size.Cmp(size) < 0:
		// Asked smaller than it is: volumes never shrink, say so.
		conditions.MarkTrue(u, streamv1.ConditionHomeReady, "SizeKept", "Home volume %s stays at %s (asked %s: volumes never shrink)", pvc.Name, size.String(), want.Size.String())
	default:
		conditions.MarkTrue(u, streamv1.ConditionHomeReady, streamv1.ReasonHomeProvisioned, "Home volume %s (%s, %s)", pvc.Name, size.String(), pvc.Status.Phase)
	}
	conditions.MarkTrue(u, streamv1.ConditionReady, streamv1.ReasonSucceeded, "Home volume %s ready; quota %s (%s)", pvc.Name, orNone(q.Name), q.Reason)
	return ctrl.Result{}, nil
}

func (r *UserReconciler) allUsers(ctx context.Context, o client.Object) []reconcile.Request {
	var list streamv1.UserList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
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
