package quota

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// +kubebuilder:webhook:path=/validate-stream-space-v1alpha1-session,mutating=false,failurePolicy=fail,sideEffects=None,groups=stream.space,resources=sessions,verbs=create;update,versions=v1alpha1,name=vsession.stream.space,admissionReviewVersions=v1

// SessionValidator admits a Session only when its user's quota allows it: on
// create, and on wake (state hibernated → running), so that kubectl cannot
// bypass the limits the portal enforces.
type SessionValidator struct {
	// Reader must read through to the API server: a cache that lags by one
	// create would let two quick creates both pass.
	Reader client.Reader
}

var _ admission.Validator[*streamv1.Session] = &SessionValidator{}

// SetupWebhookWithManager registers the validator with mgr's webhook server.
func (v *SessionValidator) SetupWebhookWithManager(mgr ctrl.Manager) error {
	if v.Reader == nil {
		v.Reader = mgr.GetAPIReader()
	}
	return ctrl.NewWebhookManagedBy(mgr, &streamv1.Session{}).WithValidator(v).Complete()
}

// ValidateCreate checks the template exists, the user may start sessions,
// and the quota allows one more.
func (v *SessionValidator) ValidateCreate(ctx context.Context, s *streamv1.Session) (admission.Warnings, error) {
	return nil, v.check(ctx, s, true)
}

// ValidateUpdate checks the quota when a session wakes.
func (v *SessionValidator) ValidateUpdate(ctx context.Context, old, s *streamv1.Session) (admission.Warnings, error) {
	if old.DesiredState() == streamv1.StateRunning || s.DesiredState() != streamv1.StateRunning {
		return nil, nil
	}
	return nil, v.check(ctx, s, false)
}

// ValidateDelete allows every delete.
func (v *SessionValidator) ValidateDelete(context.Context, *streamv1.Session) (admission.Warnings, error) {
	return nil, nil
}

func (v *SessionValidator) check(ctx context.Context, s *streamv1.Session, create bool) error {
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
	err := CheckSession(ctx, v.Reader, s, t, create, func(o *streamv1.Session) bool { return o.Name == s.Name })
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
