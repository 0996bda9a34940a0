package quota

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// +kubebuilder:webhook:path=/validate-stream-space-v1alpha1-session,mutating=false,failurePolicy=fail,sideEffects=NoneOnDryRun,groups=stream.space,resources=sessions,verbs=create;update,versions=v1alpha1,name=vsession.stream.space,admissionReviewVersions=v1

// The quota ledger: one Lease per user (see ledger.go).
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update,namespace=streamspace

// SessionValidator admits a Session only when its user's quota allows it: on
// create, and on wake (state hibernated → running), so that kubectl cannot
// bypass the limits the portal enforces. Two starts racing for the same
// user, in one replica or in two, never both take the last place: see the
// ledger (ledger.go).
type SessionValidator struct {
	// Reader reads through to the API server: the User, the Quotas, the
	// Template and the quota ledger.
	Reader client.Reader
	// Cache reads the user's Sessions (indexed by UserField) and their
	// Templates; what it does not show yet, the ledger does.
	Cache client.Reader
	// Writer writes the quota ledger.
	Writer client.Writer

	locks   userLocks
	deleted deletions
}

var _ admission.Validator[*streamv1.Session] = &SessionValidator{}

// SetupWebhookWithManager registers the validator with mgr's webhook server.
func (v *SessionValidator) SetupWebhookWithManager(mgr ctrl.Manager) error {
	if v.Reader == nil {
		v.Reader = mgr.GetAPIReader()
	}
	if v.Cache == nil {
		if err := IndexSessionUser(context.Background(), mgr.GetFieldIndexer()); err != nil {
			return err
		}
		v.Cache = startedCache{mgr.GetCache()}
		informer, err := mgr.GetCache().GetInformer(context.Background(), &streamv1.Session{})
		if err != nil {
			return err
		}
		if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{DeleteFunc: v.sawDeleted}); err != nil {
			return err
		}
	}
	if v.Writer == nil {
		v.Writer = mgr.GetClient()
	}
	return ctrl.NewWebhookManagedBy(mgr, &streamv1.Session{}).WithValidator(v).Complete()
}

// ValidateCreate checks the template exists, the user may start sessions,
// and the quota allows one more.
func (v *SessionValidator) ValidateCreate(ctx context.Context, s *streamv1.Session) (admission.Warnings, error) {
	return nil, v.check(ctx, s, "")
}

// ValidateUpdate checks the quota when a session wakes.
func (v *SessionValidator) ValidateUpdate(ctx context.Context, old, s *streamv1.Session) (admission.Warnings, error) {
	if old.DesiredState() == streamv1.StateRunning || s.DesiredState() != streamv1.StateRunning {
		return nil, nil
	}
	return nil, v.check(ctx, s, old.ResourceVersion)
}

// ValidateDelete allows every delete.
func (v *SessionValidator) ValidateDelete(context.Context, *streamv1.Session) (admission.Warnings, error) {
	return nil, nil
}

// check checks a create (before is "") or a wake (before is the
// session's resourceVersion before it).
func (v *SessionValidator) check(ctx context.Context, s *streamv1.Session, before string) error {
	if s.DesiredState() == streamv1.StateTerminated {
		return nil
	}
	gr := schema.GroupResource{Group: streamv1.GroupVersion.Group, Resource: "sessions"}
	t := &streamv1.Template{}
	if err := v.Reader.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Spec.Template}, t); err != nil {
		if apierrors.IsNotFound(err) {
			return apierrors.NewInvalid(streamv1.GroupVersion.WithKind("Session").GroupKind(), s.Name, fieldErrors("spec.template",
				fmt.Sprintf("template %q not found in namespace %s", s.Spec.Template, s.Namespace)))
		}
		return apierrors.NewInternalError(fmt.Errorf("get template %s: %w", s.Spec.Template, err))
	}
	err := v.admit(ctx, Start{Session: s, Template: t, NewSession: before == ""}, before)
	var exceeded *ExceededError
	switch {
	case errors.As(err, &exceeded):
		return refusal(gr, s.Name, exceeded, CauseQuotaExceeded)
	case errors.Is(err, ErrUserDisabled):
		return refusal(gr, s.Name, err, CauseUserDisabled)
	case err != nil:
		return apierrors.NewInternalError(err)
	}
	return nil
}

// maxLedgerAttempts bounds the checks of one admission that lose the
// ledger to another replica's.
const maxLedgerAttempts = 5

// admit is CheckSession over the cache and the ledger, and records an
// admitted start in the ledger before it answers (not on a dry run, which
// must have no side effect).
func (v *SessionValidator) admit(ctx context.Context, st Start, before string) error {
	s := st.Session
	q, u, err := Resolve(ctx, v.Reader, s.Namespace, s.Spec.User)
	if err != nil {
		return err
	}
	if u != nil && u.Spec.Disabled {
		return fmt.Errorf("%w: %s", ErrUserDisabled, s.Spec.User)
	}
	if !limited(q) {
		return Check(q, Usage{}, st)
	}
	dryRun := false
	if req, err := admission.RequestFromContext(ctx); err == nil && req.DryRun != nil {
		dryRun = *req.DryRun
	}
	defer v.locks.lock(s.Namespace + "/" + s.Spec.User)()
	for attempt := 1; ; attempt++ {
		ledger, starts, err := readLedger(ctx, v.Reader, s.Namespace, s.Spec.User)
		if err != nil {
			return err
		}
		var cached streamv1.SessionList
		if err := v.Cache.List(ctx, &cached, client.InNamespace(s.Namespace), client.MatchingFields{UserField: s.Spec.User}); err != nil {
			return fmt.Errorf("list sessions of user %s: %w", s.Spec.User, err)
		}
		now := time.Now()
		used, err := sum(ctx, v.Cache, s.Namespace, overlay(cached.Items, starts, v.deleted.has, now), func(o *streamv1.Session) bool { return o.Name == s.Name })
		if err != nil {
			return err
		}
		if err := Check(q, used, st); err != nil || dryRun {
			return err
		}
		add := start{Name: s.Name, UID: s.UID, Before: before, At: metav1.NewTime(now)}
		if s.DesiredState() == streamv1.StateRunning {
			res := EffectiveResources(s, st.Template)
			add.Running, add.Memory, add.CPU = true, res.Memory, res.CPU
		}
		switch err := writeLedger(ctx, v.Writer, ledger, starts, add, now); {
		case err == nil:
			return nil
		case (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) && attempt < maxLedgerAttempts:
			// another replica admitted a start of this user meanwhile
		default:
			return fmt.Errorf("record the start in the quota ledger of user %s: %w", s.Spec.User, err)
		}
	}
}

// sawDeleted notes a Session the cache saw deleted, so that its ledger
// start no longer holds a place.
func (v *SessionValidator) sawDeleted(obj any) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if s, ok := obj.(*streamv1.Session); ok && s.UID != "" {
		v.deleted.add(s.UID, time.Now())
	}
}

// startedCache waits for the manager's cache to start when a request comes
// before it has (the webhook server starts first).
type startedCache struct{ cache.Cache }

func (c startedCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return c.wait(ctx, func() error { return c.Cache.Get(ctx, key, obj, opts...) })
}

func (c startedCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return c.wait(ctx, func() error { return c.Cache.List(ctx, list, opts...) })
}

func (c startedCache) wait(ctx context.Context, read func() error) error {
	err := read()
	var notStarted *cache.ErrCacheNotStarted
	if errors.As(err, &notStarted) && c.WaitForCacheSync(ctx) {
		err = read()
	}
	return err
}

// The cause a refusal carries in its status details. The API server
// passes the webhook's status through whole, so a client (the portal)
// tells a quota refusal from an RBAC Forbidden without reading the message.
const (
	CauseQuotaExceeded metav1.CauseType = "QuotaExceeded"
	CauseUserDisabled  metav1.CauseType = "UserDisabled"
)

// refusal is a Forbidden that says why in its cause.
func refusal(gr schema.GroupResource, name string, err error, cause metav1.CauseType) *apierrors.StatusError {
	se := apierrors.NewForbidden(gr, name, err)
	se.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: cause, Message: err.Error()}}
	return se
}

// RefusalCause is the cause of the webhook's refusal in err
// (CauseQuotaExceeded or CauseUserDisabled), or "" when err is not one.
func RefusalCause(err error) metav1.CauseType {
	var status apierrors.APIStatus
	if !apierrors.IsForbidden(err) || !errors.As(err, &status) || status.Status().Details == nil {
		return ""
	}
	for _, c := range status.Status().Details.Causes {
		if c.Type == CauseQuotaExceeded || c.Type == CauseUserDisabled {
			return c.Type
		}
	}
	return ""
}

// ErrUserDisabled is returned for a user whose User object is disabled.
var ErrUserDisabled = errors.New("user is disabled")

// CheckSession resolves s's quota, sums its user's usage (without the
// sessions skip excludes) and checks the start. It returns an
// *ExceededError, ErrUserDisabled, or a lookup error.
func CheckSession(ctx context.Context, r client.Reader, s *streamv1.Session, t *streamv1.Template, create bool, skip func(*streamv1.Session) bool) error {
	q, u, err := Resolve(ctx, r, s.Namespace, s.Spec.User)
	if err != nil {
		return err
	}
	if u != nil && u.Spec.Disabled {
		return fmt.Errorf("%w: %s", ErrUserDisabled, s.Spec.User)
	}
	used, err := UsageOf(ctx, r, s.Namespace, s.Spec.User, skip)
	if err != nil {
		return err
	}
	return Check(q, used, Start{Session: s, Template: t, NewSession: create})
}

func fieldErrors(path, msg string) field.ErrorList {
	return field.ErrorList{field.Invalid(field.NewPath(path), nil, msg)}
}
