package gitsync

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/fluxcd/pkg/runtime/patch"
	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/streamspace/streamspace/agent/reconciler"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// Owner labels ssa puts on every object a GitSync applies.
const (
	OwnerNameLabel      = "stream.space/name"
	OwnerNamespaceLabel = "stream.space/namespace"
)

// DesiredStore keeps, per GitSync, the objects of the last applied revision
// (so drift is checked without a fetch) and the objects changed since the
// last drift check.
type DesiredStore struct {
	mu      sync.Mutex
	desired map[types.NamespacedName]map[string]*unstructured.Unstructured
	dirty   map[types.NamespacedName]map[string]bool
}

// NewDesiredStore returns an empty store.
func NewDesiredStore() *DesiredStore {
	return &DesiredStore{desired: map[types.NamespacedName]map[string]*unstructured.Unstructured{}, dirty: map[types.NamespacedName]map[string]bool{}}
}

func (d *DesiredStore) set(key types.NamespacedName, objs []*unstructured.Unstructured) {
	m := make(map[string]*unstructured.Unstructured, len(objs))
	for _, o := range objs {
		m[idOf(o)] = o.DeepCopy()
	}
	d.mu.Lock()
	d.desired[key] = m
	d.mu.Unlock()
}

// forget drops what is known of a GitSync.
func (d *DesiredStore) forget(key types.NamespacedName) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.desired, key)
	delete(d.dirty, key)
}

func (d *DesiredStore) has(key types.NamespacedName) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.desired[key]
	return ok
}

func (d *DesiredStore) get(key types.NamespacedName, id string) *unstructured.Unstructured {
	d.mu.Lock()
	defer d.mu.Unlock()
	if o := d.desired[key][id]; o != nil {
		return o.DeepCopy()
	}
	return nil
}

func (d *DesiredStore) markDirty(key types.NamespacedName, id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dirty[key] == nil {
		d.dirty[key] = map[string]bool{}
	}
	d.dirty[key][id] = true
}

func (d *DesiredStore) takeDirty(key types.NamespacedName) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ids []string
	for id := range d.dirty[key] {
		ids = append(ids, id)
	}
	delete(d.dirty, key)
	sort.Strings(ids)
	return ids
}

func idOf(o *unstructured.Unstructured) string {
	return object.ObjMetadata{Namespace: o.GetNamespace(), Name: o.GetName(), GroupKind: o.GroupVersionKind().GroupKind()}.String()
}

// DriftReconciler watches the live objects GitSyncs applied. When one is
// changed away from Git (kubectl edit, a script), it reports the drift
// within seconds — condition, event naming the object and the field
// manager, metrics — and in correct mode reverts it. Only fields Git sets
// count: server-side apply dry-runs the Git version over the live object,
// so fields Git leaves alone (a Session's state, a status) never drift.
type DriftReconciler struct {
	client.Client
	Desired  *DesiredStore
	Recorder recorder.EventRecorder
	Metrics  *Metrics

	events reconciler.Events
}

// +kubebuilder:rbac:groups=stream.space,resources=gitsyncs/status,verbs=get;update;patch,namespace=streamspace

// SetupWithManager registers the drift controller. It is woken only by
// changes to applied objects, never by the GitSync itself.
func (r *DriftReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.events = reconciler.Events{Recorder: r.Recorder}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("gitsync-drift").
		For(&streamv1.GitSync{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(client.Object) bool { return false })))
	owned := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetLabels()[OwnerNameLabel] != "" && o.GetLabels()[OwnerNamespaceLabel] != ""
	})
	// The agent writes the status of its own kinds often (a Template's
	// sessions, a Quota's users); only their spec and metadata come from
	// Git, and a status write bumps no generation.
	fromGit := predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{})
	for _, k := range knownKinds {
		preds := []predicate.Predicate{owned}
		if k.gk.Group == streamv1.GroupVersion.Group {
			preds = append(preds, fromGit)
		}
		b = b.Watches(k.obj, r.handlerFor(k.gk), builder.WithPredicates(preds...))
	}
	return b.Complete(r)
}

func (r *DriftReconciler) handlerFor(gk schema.GroupKind) handler.EventHandler {
	enqueue := func(o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		key := types.NamespacedName{Namespace: o.GetLabels()[OwnerNamespaceLabel], Name: o.GetLabels()[OwnerNameLabel]}
		r.Desired.markDirty(key, object.ObjMetadata{Namespace: o.GetNamespace(), Name: o.GetName(), GroupKind: gk}.String())
		q.Add(reconcile.Request{NamespacedName: key})
	}
	return handler.Funcs{
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.ObjectNew, q)
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.Object, q)
		},
	}
}

// Reconcile checks the objects of one GitSync that changed since the last
// check. Sets Drifted and status.drift.
func (r *DriftReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	ids := r.Desired.takeDirty(req.NamespacedName)
	if len(ids) == 0 {
		return ctrl.Result{}, nil
	}
	gs := &streamv1.GitSync{}
	if err := r.Get(ctx, req.NamespacedName, gs); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if gs.Spec.Suspend {
		return ctrl.Result{}, nil
	}
	// Not the shared shell: this controller only reports drift, it does
	// not reconcile the GitSync (Ready and observedGeneration are the sync's).
	patcher := patch.NewSerialPatcher(gs, r.Client)
	defer func() {
		if err := patcher.Patch(ctx, gs, patch.WithOwnedConditions{Conditions: []string{streamv1.ConditionDrifted}}, patch.WithFieldOwner(reconciler.AgentName)); err != nil {
			retErr = client.IgnoreNotFound(err)
		}
	}()

	rm := ssa.NewResourceManager(r.Client, nil, ssa.Owner{Field: FieldManager, Group: streamv1.GroupVersion.Group})
	for _, id := range ids {
		desired := r.Desired.get(req.NamespacedName, id)
		if desired == nil {
			continue // left Git: pruning is the sync's business
		}
		if err := r.check(ctx, gs, rm, id, desired); err != nil {
			for _, rest := range ids {
				r.Desired.markDirty(req.NamespacedName, rest) // check again on retry
			}
			return ctrl.Result{}, err
		}
	}

	open := r.Metrics.recordDrift(gs)
	if open > 0 {
		conditions.MarkTrue(gs, streamv1.ConditionDrifted, streamv1.ReasonDriftDetected, "%d object(s) differ from Git; driftMode %s", open, driftMode(gs))
	} else {
		conditions.Delete(gs, streamv1.ConditionDrifted)
	}
	return ctrl.Result{}, nil
}

// check compares one live object with Git and records, reports and (in
// correct mode) reverts its drift.
func (r *DriftReconciler) check(ctx context.Context, gs *streamv1.GitSync, rm *ssa.ResourceManager, id string, desired *unstructured.Unstructured) error {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(desired.GroupVersionKind())
	_ = r.Get(ctx, client.ObjectKeyFromObject(desired), live) // a missing object shows as Created below
	manager := lastManager(live)

	entry, existing, merged, err := rm.Diff(ctx, desired.DeepCopy(), ssa.DefaultDiffOptions())
	if err != nil {
		return fmt.Errorf("check drift of %s: %w", id, err)
	}
	var fields []string
	switch entry.Action {
	case ssa.ConfiguredAction:
		fields = changedFields(existing.Object, merged.Object)
	case ssa.CreatedAction:
		fields = []string{"(deleted)"}
	default:
		// Back in line with Git. A drift the agent reverted stays listed
		// (corrected) so operators see what was undone.
		if prev := findDrift(gs, id); prev == nil || !prev.Corrected {
			setDrift(gs, id, nil)
		}
		return nil
	}

	subject := desired.GetKind() + "/" + desired.GetName()
	prev := findDrift(gs, id)
	isNew := prev == nil || prev.Corrected || !reflect.DeepEqual(prev.Fields, fields)
	d := streamv1.DriftedObject{ID: id, Fields: fields, Manager: manager, DetectedAt: metav1.Now()}
	if isNew {
		r.Metrics.DriftDetected.WithLabelValues(gs.Namespace, gs.Name, desired.GetKind(), desired.GetName()).Inc()
		r.events.Eventf(gs, corev1.EventTypeWarning, streamv1.ReasonDriftDetected, "DriftCheck", "%s differs from Git (%s) after a change by %s", subject, strings.Join(fields, ", "), orUnknown(manager))
		ctrl.LoggerFrom(ctx).Info("Drift detected", "object", subject, "fields", fields, "manager", manager)
	} else {
		d.DetectedAt = prev.DetectedAt
	}
	if driftMode(gs) == streamv1.DriftCorrect {
		if _, err := rm.Apply(ctx, desired, ssa.DefaultApplyOptions()); err != nil {
			return fmt.Errorf("revert drift of %s: %w", subject, err)
		}
		d.Corrected = true
		r.Metrics.DriftCorrected.WithLabelValues(gs.Namespace, gs.Name, desired.GetKind(), desired.GetName()).Inc()
		r.events.Eventf(gs, corev1.EventTypeNormal, streamv1.ReasonDriftCorrected, "DriftCheck", "%s reverted to Git (%s)", subject, strings.Join(fields, ", "))
	}
	setDrift(gs, id, &d)
	return nil
}

func driftMode(gs *streamv1.GitSync) streamv1.DriftMode {
	if gs.Spec.DriftMode == "" {
		return streamv1.DriftWarn
	}
	return gs.Spec.DriftMode
}

func findDrift(gs *streamv1.GitSync, id string) *streamv1.DriftedObject {
	for i := range gs.Status.Drift {
		if gs.Status.Drift[i].ID == id {
			return &gs.Status.Drift[i]
		}
	}
	return nil
}

// setDrift replaces (or, with nil, removes) the drift entry of id.
func setDrift(gs *streamv1.GitSync, id string, d *streamv1.DriftedObject) {
	out := gs.Status.Drift[:0:0]
	for _, x := range gs.Status.Drift {
		if x.ID != id {
			out = append(out, x)
		}
	}
	if d != nil {
		out = append(out, *d)
	}
	// Corrected drift is kept as a record, but not without end: the oldest
	// corrected entries go first.
	if len(out) > maxDriftRecords {
		sort.SliceStable(out, func(i, j int) bool {
			if out[i].Corrected != out[j].Corrected {
				return !out[i].Corrected
			}
			return out[i].DetectedAt.After(out[j].DetectedAt.Time)
		})
		out = out[:maxDriftRecords]
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	gs.Status.Drift = out
}

const maxDriftRecords = 100

// lastManager is the field manager that most recently changed the object,
// other than the agent itself.
func lastManager(o *unstructured.Unstructured) string {
	var best string
	var at time.Time
	for _, mf := range o.GetManagedFields() {
		if mf.Manager == FieldManager || mf.Subresource == "status" || mf.Time == nil {
			continue
		}
		if mf.Time.Time.After(at) || (mf.Time.Time.Equal(at) && mf.Manager > best) {
			best, at = mf.Manager, mf.Time.Time
		}
	}
	return best
}

// changedFields lists the dotted paths, under what Git sets (spec, data,
// labels, annotations), whose live value differs from the Git one.
func changedFields(live, fromGit map[string]any) []string {
	var out []string
	for _, root := range [][]string{{"spec"}, {"data"}, {"metadata", "labels"}, {"metadata", "annotations"}} {
		a, _, _ := unstructured.NestedFieldNoCopy(live, root...)
		b, _, _ := unstructured.NestedFieldNoCopy(fromGit, root...)
		diffPaths(strings.Join(root, "."), a, b, &out)
	}
	sort.Strings(out)
	return out
}

func diffPaths(path string, a, b any, out *[]string) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for k := range keys {
			diffPaths(path+"."+k, am[k], bm[k], out)
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, path)
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown manager"
	}
	return s
}
