// Package users reconciles User objects and owns the one code path that
// creates users' home volumes. Nothing in the agent deletes a home volume:
// only an admin, explicitly, can.
package users

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/reconciler"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// Labels put on every object the agent creates.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = reconciler.AgentName
	LabelUser      = "stream.space/user"
	// LabelHome marks a PersistentVolumeClaim as a user's home volume.
	LabelHome = "stream.space/home"
)

// HomeOptions are the agent-wide defaults for home volumes.
type HomeOptions struct {
	// StorageClassName of new home volumes; empty uses the cluster default.
	StorageClassName string
	// DefaultSize when neither the User nor its Quota gives one.
	DefaultSize resource.Quantity
}

// HomeRequest is the home volume a user should have.
type HomeRequest struct {
	Namespace        string
	User             string
	Size             resource.Quantity
	StorageClassName string
}

// DesiredHome combines a User's own settings, its quota's homeStorage and
// the agent defaults, in that order. u and quotaSize may be nil.
func DesiredHome(opts HomeOptions, namespace, user string, u *streamv1.User, quotaSize *resource.Quantity) HomeRequest {
	req := HomeRequest{Namespace: namespace, User: user, Size: opts.DefaultSize, StorageClassName: opts.StorageClassName}
	switch {
	case u != nil && u.Spec.Home.Size != nil:
		req.Size = *u.Spec.Home.Size
	case quotaSize != nil:
		req.Size = *quotaSize
	}
	if u != nil && u.Spec.Home.StorageClassName != nil {
		req.StorageClassName = *u.Spec.Home.StorageClassName
	}
	return req
}

// EnsureHome creates the user's home volume if it does not exist and grows
// it when a larger size is asked for. It never shrinks, never changes the
// storage class of an existing volume, never sets an owner (so deleting a
// Session or a User cannot garbage-collect it) and never deletes.
func EnsureHome(ctx context.Context, c client.Client, req HomeRequest) (*corev1.PersistentVolumeClaim, error) {
	name := streamv1.HomeVolumeNameFor(req.User)
	pvc := &corev1.PersistentVolumeClaim{}
	err := c.Get(ctx, client.ObjectKey{Namespace: req.Namespace, Name: name}, pvc)
	switch {
	case apierrors.IsNotFound(err):
		pvc = &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{
				Name:      name,
				Namespace: req.Namespace,
				Labels:    map[string]string{LabelManagedBy: ManagedBy, LabelUser: req.User, LabelHome: "true"},
			},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
				Resources: corev1.VolumeResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceStorage: req.Size},
				},
			},
		}
		if req.StorageClassName != "" {
			pvc.Spec.StorageClassName = &req.StorageClassName
		}
		if err := c.Create(ctx, pvc); err != nil {
			if !apierrors.IsAlreadyExists(err) {
				return nil, fmt.Errorf("create home volume %s: %w", name, err)
			}
			// Created meanwhile by another reconcile (the user's, or one of
			// a burst of launches). A cached client may not see it yet:
			// that is a wait, not a failure.
			if err := c.Get(ctx, client.ObjectKeyFromObject(pvc), pvc); err != nil {
				if apierrors.IsNotFound(err) {
					return nil, fmt.Errorf("home volume %s: %w", name, ErrHomeNotVisible)
				}
				return nil, fmt.Errorf("get home volume %s: %w", name, err)
			}
		}
		return pvc, nil
	case err != nil:
		return nil, fmt.Errorf("get home volume %s: %w", name, err)
	}

	// The API server only lets a bound claim grow; an unbound one grows
	// once bound (the PVC watch brings the caller back then).
	current := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if req.Size.Cmp(current) > 0 && pvc.DeletionTimestamp.IsZero() && pvc.Status.Phase == corev1.ClaimBound {
		patch := client.MergeFrom(pvc.DeepCopy())
		pvc.Spec.Resources.Requests[corev1.ResourceStorage] = req.Size
		if err := c.Patch(ctx, pvc, patch); err != nil {
			err = fmt.Errorf("grow home volume %s from %s to %s: %w", name, current.String(), req.Size.String(), err)
			if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
				// e.g. a storage class without allowVolumeExpansion: the
				// volume stays usable at its size; retrying cannot help.
				return pvc, &GrowRefusedError{err: err}
			}
			return pvc, err
		}
	}
	return pvc, nil
}

// ErrHomeNotVisible says the home volume exists on the API server but the
// caller's cache does not show it yet; the PVC watch brings the caller back
// once it does.
var ErrHomeNotVisible = errors.New("created moments ago, waiting to see it")

// GrowRefusedError says the API server refused to grow a home volume. The
// volume is still there and usable at its current size.
type GrowRefusedError struct{ err error }

func (e *GrowRefusedError) Error() string { return e.err.Error() }
func (e *GrowRefusedError) Unwrap() error { return e.err }
