// Package volumes provisions PersistentVolumes for the local cluster:
// each claim of its StorageClass gets a folder on this machine, bound as a
// hostPath volume. A real cluster has a CSI driver for this; the local one
// has a single node, so a folder is the whole story.
//
// Volumes are Retained: deleting a claim never deletes the folder (users'
// homes are theirs; an admin removes them by hand).
package volumes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

const (
	// StorageClass is the local cluster's default StorageClass.
	StorageClass = "streamspace-local"
	// ProvisionerName names this provisioner in the StorageClass.
	ProvisionerName = "stream.space/local-folder"
)

// Provisioner creates a folder-backed PersistentVolume for every pending
// claim of StorageClass.
type Provisioner struct {
	Client client.Client
	// Dir holds one folder per volume.
	Dir string
	// Owner (uid and gid) of new folders: the sessions' user, so the
	// session can write its home without running as root.
	Owner int
}

// EnsureStorageClass creates the default StorageClass if missing.
func EnsureStorageClass(ctx context.Context, c client.Client) error {
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: StorageClass, Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
		Provisioner:       ProvisionerName,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimRetain),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate),
		// the folder has no size limit; growing a claim is only bookkeeping
		AllowVolumeExpansion: ptr.To(true),
	}
	if err := c.Create(ctx, sc); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create StorageClass %s: %w", StorageClass, err)
	}
	return nil
}

// SetupWithManager watches claims of the local StorageClass.
func (p *Provisioner) SetupWithManager(mgr ctrl.Manager) error {
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		pvc := o.(*corev1.PersistentVolumeClaim)
		return pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName == StorageClass
	})
	return ctrl.NewControllerManagedBy(mgr).Named("local-volumes").
		For(&corev1.PersistentVolumeClaim{}, builder.WithPredicates(ours)).
		Complete(p)
}

// Reconcile gives a pending claim its volume.
func (p *Provisioner) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	if err := p.Client.Get(ctx, req.NamespacedName, pvc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if pvc.Spec.VolumeName != "" || pvc.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	name := "local-" + string(pvc.UID)
	dir := filepath.Join(p.Dir, pvc.Namespace+"_"+pvc.Name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return ctrl.Result{}, err
	}
	if err := os.Chown(dir, p.Owner, p.Owner); err != nil {
		return ctrl.Result{}, fmt.Errorf("hand %s to uid %d: %w", dir, p.Owner, err)
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": ProvisionerName}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              StorageClass,
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: ptr.To(corev1.HostPathDirectory)},
			},
		},
	}
	if err := p.Client.Create(ctx, pv); err != nil && !apierrors.IsAlreadyExists(err) {
		return ctrl.Result{}, fmt.Errorf("create volume for %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	return ctrl.Result{}, nil
}
