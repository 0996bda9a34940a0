package gitsync

import (
	"context"
	"fmt"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// What a sync would do, told without doing it: `streamspace validate
// --impact` uses these so that its forecast follows the same rules as the
// reconciler (owner labels, inventory IDs, the prune rule, the dry-run diff).

// SetOwner puts the labels a sync gives what it applies: the drift
// controller watches by them and they mark an object as managed by gs.
func SetOwner(objs []*unstructured.Unstructured, gs *streamv1.GitSync) {
	for _, o := range objs {
		labels := o.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[OwnerNameLabel], labels[OwnerNamespaceLabel] = gs.Name, gs.Namespace
		o.SetLabels(labels)
	}
}

// ID is the inventory ID of o (namespace_name_group_Kind).
func ID(o *unstructured.Unstructured) string { return idOf(o) }

// PruneBlockers returns, for an inventory ID, who would keep prune from
// deleting it now (live sessions, installed plugins); none means prune
// would delete it. It reads the namespace once.
func PruneBlockers(ctx context.Context, r client.Reader, namespace string) (func(id string) []string, error) {
	users, err := (&GitSyncReconciler{APIReader: r}).usersOf(ctx, namespace)
	if err != nil {
		return nil, err
	}
	return func(id string) []string {
		meta, err := object.ParseObjMetadata(id)
		if err != nil {
			return nil
		}
		return users.holding(meta)
	}, nil
}

// Change is what applying one object from Git would do to the live one.
type Change string

const (
	Unchanged Change = "unchanged"
	Added     Change = "added"
	Changed   Change = "changed"
)

// DiffLive dry-runs a server-side apply of desired (as the sync's field
// manager) and says whether it would create it, change it (and which
// fields, as drift reports them) or leave it. The API server applies its
// defaults and admission, so a field Git leaves out does not show as a
// change.
func DiffLive(ctx context.Context, c client.Client, desired *unstructured.Unstructured) (Change, []string, error) {
	rm := ssa.NewResourceManager(c, nil, ssa.Owner{Field: FieldManager, Group: streamv1.GroupVersion.Group})
	entry, existing, merged, err := rm.Diff(ctx, desired.DeepCopy(), ssa.DefaultDiffOptions())
	if err != nil {
		return "", nil, fmt.Errorf("dry-run %s/%s: %w", desired.GetKind(), desired.GetName(), err)
	}
	switch entry.Action {
	case ssa.CreatedAction:
		return Added, nil, nil
	case ssa.ConfiguredAction:
		return Changed, changedFields(existing.Object, merged.Object), nil
	}
	return Unchanged, nil, nil
}
