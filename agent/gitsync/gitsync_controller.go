// Package gitsync makes the cluster match a kustomize overlay in a Git
// repository: fetch (go-git), confined build (kustomize), validate, apply
// with server-side apply under the agent's field manager, prune what left
// Git (never what live sessions still use), and record inventory and
// revision in the GitSync's status.
package gitsync

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/fluxcd/pkg/ssa"
	ssautils "github.com/fluxcd/pkg/ssa/utils"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/streamspace/streamspace/agent/quota"
	"github.com/streamspace/streamspace/agent/reconciler"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// FieldManager applies everything that comes from Git; the GitSync's own
// status is written under the agent's name like every other status.
const FieldManager = "streamspace-gitsync"

// Finalizer lets a deleted GitSync apply its deletionPolicy before it goes.
const Finalizer = "stream.space/gitsync-cleanup"

// +kubebuilder:rbac:groups=stream.space,resources=gitsyncs,verbs=get;list;watch;update;patch,namespace=streamspace
// +kubebuilder:rbac:groups=stream.space,resources=gitsyncs/status,verbs=get;update;patch,namespace=streamspace
// +kubebuilder:rbac:groups=stream.space,resources=gitsyncs/finalizers,verbs=update,namespace=streamspace
// +kubebuilder:rbac:groups=stream.space,resources=templates;quotas;users;pluginrepositories;plugins,verbs=get;list;watch;create;update;patch;delete,namespace=streamspace
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete,namespace=streamspace
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete,namespace=streamspace
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get,namespace=streamspace

// GitSyncReconciler reconciles GitSync objects.
type GitSyncReconciler struct {
	client.Client
	// APIReader reads Secrets (not cached: the agent should not hold every
	// Secret of the namespace in memory) and checks what is in use.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	Allowed   Allowed
	Metrics   *Metrics
	// Reconciles records the reconcile duration; nil records nothing.
	Reconciles *reconciler.Metrics
	// Desired receives the objects of each applied revision, for the drift
	// controller.
	Desired *DesiredStore

	shell  *reconciler.Shell
	events reconciler.Events
}

// syncScope is what the steps of one sync share.
type syncScope struct {
	gs  *streamv1.GitSync
	run *reconciler.Run
	// revision being synced, and the checkout holding it.
	revision string
	dir      string
	objs     []*unstructured.Unstructured
	changes  *ssa.ChangeSet
	pruned   []string
}

// SetupWithManager registers the controller: a spec change, a "reconcile
// now" annotation or a deletion triggers it; otherwise it requeues itself
// every interval.
func (r *GitSyncReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Allowed.Extra == nil { // unset, as opposed to an empty allow-list
		r.Allowed = DefaultAllowed
	}
	r.events = reconciler.Events{Recorder: r.Recorder}
	r.shell = reconciler.NewShell("GitSync", r.Client, r.events, r.Reconciles, streamv1.ConditionPruneBlocked, streamv1.ConditionDrifted)
	return ctrl.NewControllerManagedBy(mgr).
		For(&streamv1.GitSync{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deletionStarted{}))).
		Complete(r)
}

// Reconcile syncs one GitSync: the shared shell, the delete path, then the
// named steps of a sync.
func (r *GitSyncReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	gs := &streamv1.GitSync{}
	if err := r.Get(ctx, req.NamespacedName, gs); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	run := r.shell.Begin(gs)
	defer func() {
		result, retErr = run.Finish(ctx, result, retErr)
		r.Metrics.record(gs)
	}()
	if !gs.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, gs)
	}
	controllerutil.AddFinalizer(gs, Finalizer)
	if gs.Spec.Suspend {
		// The last sync's status stays true to what was applied; one that
		// never synced must not read as Ready.
		if !conditions.Has(gs, streamv1.ConditionReady) {
			conditions.MarkUnknown(gs, streamv1.ConditionReady, streamv1.ReasonSuspended, "Suspended before its first sync: set spec.suspend to false to sync")
		}
		return ctrl.Result{}, nil
	}
	if requested := gs.Annotations[streamv1.ReconcileRequestAnnotation]; requested != "" {
		gs.Status.LastHandledReconcileAt = requested
	}
	return r.reconcile(ctx, &syncScope{gs: gs, run: run})
}

// reconcile runs the steps of a sync in order. A failed build or validation
// applies nothing and prunes nothing: the last good state stays until Git
// is fixed.
func (r *GitSyncReconciler) reconcile(ctx context.Context, sc *syncScope) (ctrl.Result, error) {
	gs := sc.gs
	next := ctrl.Result{RequeueAfter: jitter(gs.Spec.Interval.Duration)}
	timeout := gs.Spec.Timeout.Duration
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	changed, err := r.reconcileSource(ctx, sc)
	if sc.dir != "" {
		defer os.RemoveAll(sc.dir)
	}
	if err != nil || !changed {
		return next, err
	}
	if err := r.reconcileBuild(ctx, sc); err != nil {
		return next, err
	}
	if err := r.reconcileApply(ctx, sc); err != nil {
		return next, err
	}
	if err := r.reconcilePrune(ctx, sc); err != nil {
		return next, err
	}

	newRevision := sc.revision != gs.Status.LastAppliedRevision
	gs.Status.LastAppliedRevision = sc.revision
	summary := summarise(sc.changes, sc.pruned)
	ctrl.LoggerFrom(ctx).Info("Applied revision", "revision", sc.revision, "changes", summary)
	if newRevision || summary != "" {
		r.events.Eventf(gs, corev1.EventTypeNormal, streamv1.ReasonApplied, "Sync", "Applied revision %s: %s", sc.revision, orNothing(summary))
	}
	conditions.MarkTrue(gs, streamv1.ConditionReady, streamv1.ReasonApplied, "Applied revision %s (%d objects)", sc.revision, len(gs.Status.Inventory))
	return next, nil
}

// reconcileSource finds the revision to sync and, when it is new (or the
// desired objects are not in memory after a restart), checks it out into
// sc.dir and reports progress. With nothing new it only retries prunes that
// were blocked, and reports changed=false. Sets Ready=False (stalled) with
// CredentialsInvalid when the auth secret cannot be read, FetchFailed
// when the remote cannot be reached, and NotConfigured when there is no
// URL: a placeholder GitSync fails closed, applying and pruning nothing.
func (r *GitSyncReconciler) reconcileSource(ctx context.Context, sc *syncScope) (changed bool, _ error) {
	gs := sc.gs
	if gs.Spec.URL == "" {
		return false, reconciler.Stall(streamv1.ReasonNotConfigured, "No repository to sync: set spec.url to your platform repository (and spec.secretRef for a private one)")
	}
	src, err := r.source(ctx, gs)
	if err != nil {
		return false, reconciler.Stall(streamv1.ReasonCredentialsInvalid, "%s", err.Error()) // a spec or secret change brings us back
	}
	revision, err := src.Revision(ctx)
	if err != nil {
		r.Metrics.FetchErrors.WithLabelValues(gs.Namespace, gs.Name).Inc()
		r.events.Eventf(gs, corev1.EventTypeWarning, streamv1.ReasonFetchFailed, "Sync", "%s", err.Error())
		return false, reconciler.Fail(streamv1.ReasonFetchFailed, err)
	}
	// After a restart the desired objects are not in memory: fetch once to
	// know them again (drift checks need them).
	unchanged := revision == gs.Status.LastAppliedRevision && gs.Generation == gs.Status.ObservedGeneration &&
		conditions.IsReady(gs) && r.Desired.has(client.ObjectKeyFromObject(gs))
	if unchanged {
		// Nothing new in Git: skip the fetch. Objects whose prune was
		// blocked may have been released meanwhile.
		return false, r.retryBlockedPrunes(ctx, gs)
	}
	gs.Status.LastAttemptedRevision = revision
	if err := sc.run.Progress(ctx, "Fetching revision %s", revision); err != nil {
		return false, err
	}
	if sc.dir, err = os.MkdirTemp("", "gitsync-"); err != nil {
		return false, err
	}
	r.Metrics.Fetches.WithLabelValues(gs.Namespace, gs.Name).Inc()
	if revision, err = src.Checkout(ctx, sc.dir); err != nil {
		r.Metrics.FetchErrors.WithLabelValues(gs.Namespace, gs.Name).Inc()
		return false, reconciler.Fail(streamv1.ReasonFetchFailed, err)
	}
	gs.Status.LastAttemptedRevision = revision
	sc.revision = revision
	return true, nil
}

// reconcileBuild builds the overlay of the checkout, validates the objects
// (allowed kinds, the GitSync's namespace) and labels them with their
// owner. Sets Ready=False (stalled until Git changes) with BuildFailed or
// ValidationFailed.
func (r *GitSyncReconciler) reconcileBuild(ctx context.Context, sc *syncScope) error {
	gs := sc.gs
	if err := sc.run.Progress(ctx, "Building %s at revision %s", gs.Spec.Path, sc.revision); err != nil {
		return err
	}
	objs, err := Build(sc.dir, gs.Spec.Path)
	if err == nil {
		err = r.Allowed.Validate(objs, gs.Namespace)
	}
	if err != nil {
		reason := streamv1.ReasonBuildFailed
		var invalid *ValidationError
		if errors.As(err, &invalid) {
			reason = streamv1.ReasonValidationFailed
		}
		ctrl.LoggerFrom(ctx).Info("Sync refused", "revision", sc.revision, "error", err.Error())
		r.events.Eventf(gs, corev1.EventTypeWarning, reason, "Sync", "revision %s: %s", sc.revision, err)
		// Git changes reach us at the next interval or push.
		return reconciler.Stall(reason, "revision %s: %s", sc.revision, err)
	}
	SetOwner(objs, gs)
	sc.objs = objs
	return nil
}

// reconcileApply server-side applies what changed since the last applied
// revision and hands the desired objects to the drift controller. Sets
// Ready=False with ApplyFailed.
func (r *GitSyncReconciler) reconcileApply(ctx context.Context, sc *syncScope) error {
	gs := sc.gs
	todo := r.needApply(gs, sc.objs)
	if err := sc.run.Progress(ctx, "Applying %d of %d objects of revision %s", len(todo), len(sc.objs), sc.revision); err != nil {
		return err
	}
	changes, err := r.apply(ctx, gs.Namespace, todo)
	if err != nil {
		r.events.Eventf(gs, corev1.EventTypeWarning, streamv1.ReasonApplyFailed, "Sync", "revision %s: %s", sc.revision, err)
		return reconciler.Fail(streamv1.ReasonApplyFailed, fmt.Errorf("revision %s: %w", sc.revision, err))
	}
	sc.changes = changes
	r.Desired.set(client.ObjectKeyFromObject(gs), sc.objs)
	return nil
}

// reconcilePrune deletes the objects of the previous inventory that left
// Git (with spec.prune), except those live sessions still use, and records
// the new inventory. Sets PruneBlocked while something is kept for its
// users, and Ready=False with PruneFailed.
func (r *GitSyncReconciler) reconcilePrune(ctx context.Context, sc *syncScope) error {
	gs := sc.gs
	applied := inventoryOf(sc.objs)
	var stale []streamv1.InventoryEntry
	if gs.Spec.Prune {
		keep := map[string]bool{}
		for _, e := range applied {
			keep[e.ID] = true
		}
		for _, e := range gs.Status.Inventory {
			if !keep[e.ID] {
				stale = append(stale, e)
			}
		}
	}
	if len(stale) > 0 {
		if err := sc.run.Progress(ctx, "Pruning %d object(s) that left Git", len(stale)); err != nil {
			return err
		}
	}
	res, err := r.pruneEntries(ctx, gs.Namespace, stale)
	r.reportPrune(gs, res, "Pruned what left Git")
	if err != nil {
		return reconciler.Fail(streamv1.ReasonPruneFailed, fmt.Errorf("prune: %w", err))
	}
	sc.pruned = res.deleted
	gs.Status.Inventory = append(applied, res.blocked...)
	sortInventory(gs.Status.Inventory)
	return nil
}

// reconcileDelete applies the deletionPolicy, then lets the GitSync go:
// Orphan (the default) leaves what it applied; Delete deletes it except what
// live sessions use, which is left in place (it is not waited for: a
// session may run for hours). A suspended GitSync deletes nothing.
func (r *GitSyncReconciler) reconcileDelete(ctx context.Context, gs *streamv1.GitSync) error {
	log := ctrl.LoggerFrom(ctx)
	// The drift controller must not revert what is being deleted.
	r.Desired.forget(client.ObjectKeyFromObject(gs))
	if gs.Spec.DeletionPolicy == streamv1.DeletionDelete && !gs.Spec.Suspend {
		log.Info("Deleting what the GitSync applied", "objects", len(gs.Status.Inventory))
		res, err := r.pruneEntries(ctx, gs.Namespace, gs.Status.Inventory)
		if len(res.deleted) > 0 {
			r.events.Eventf(gs, corev1.EventTypeNormal, streamv1.ReasonPruned, "Delete", "Deleted with the GitSync: %s", strings.Join(res.deleted, ", "))
		}
		if len(res.reasons) > 0 {
			r.events.Eventf(gs, corev1.EventTypeWarning, streamv1.ReasonInUse, "Delete", "Left in place while in use: %s", strings.Join(res.reasons, "; "))
		}
		if err != nil {
			return reconciler.Fail(streamv1.ReasonPruneFailed, fmt.Errorf("delete applied objects: %w", err))
		}
	} else {
		log.Info("Leaving what the GitSync applied", "objects", len(gs.Status.Inventory), "deletionPolicy", gs.Spec.DeletionPolicy, "suspended", gs.Spec.Suspend)
		r.events.Eventf(gs, corev1.EventTypeNormal, streamv1.ReasonOrphaned, "Delete", "Left %d applied object(s) in place (deletionPolicy %s, suspended %t)",
			len(gs.Status.Inventory), orphanPolicy(gs), gs.Spec.Suspend)
	}
	r.Metrics.forget(gs)
	controllerutil.RemoveFinalizer(gs, Finalizer)
	return nil
}

func orphanPolicy(gs *streamv1.GitSync) streamv1.DeletionPolicy {
	if gs.Spec.DeletionPolicy == "" {
		return streamv1.DeletionOrphan
	}
	return gs.Spec.DeletionPolicy
}

// deletionStarted lets the update that sets deletionTimestamp through (it
// changes neither the generation nor the annotations).
type deletionStarted struct{ predicate.Funcs }

func (deletionStarted) Update(e event.UpdateEvent) bool {
	return e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
}

// source builds the Git source with the credentials of spec.secretRef.
func (r *GitSyncReconciler) source(ctx context.Context, gs *streamv1.GitSync) (*Source, error) {
	return SourceFor(ctx, r.APIReader, gs.Namespace, gs.Spec.URL, gs.Spec.Ref, gs.Spec.SecretRef)
}

// needApply drops the objects whose Git content is the same as in the last
// applied revision (and, in correct mode, have not drifted): the drift
// controller watches those, so a one-template commit costs one apply, not one dry-run per
// object. After a restart nothing is remembered and everything is applied.
func (r *GitSyncReconciler) needApply(gs *streamv1.GitSync, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	key := client.ObjectKeyFromObject(gs)
	// In correct mode a drifted object is applied again; in warn mode it is
	// left as it is unless Git changed it.
	drifted := map[string]bool{}
	for _, d := range gs.Status.Drift {
		drifted[d.ID] = !d.Corrected && driftMode(gs) == streamv1.DriftCorrect
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		id := idOf(o)
		if prev := r.Desired.get(key, id); prev != nil && !drifted[id] && equality.Semantic.DeepEqual(prev.Object, o.Object) {
			continue
		}
		out = append(out, o)
	}
	return out
}

// Bounds of the apply: applyBatches batches of at most applyBatchSize
// objects go at once, each with applyConcurrency dry-runs in flight, so at
// most applyBatches × applyConcurrency requests reach the API server; as
// many creates go at once.
const (
	applyBatchSize   = 50
	applyBatches     = 8
	applyConcurrency = 2
)

// apply server-side applies the objects and skips those already up to date.
// The objects carry the owner labels the drift controller watches by.
// Definitions (CRDs, namespaces, cluster roles, classes) go first, as ssa's
// staged apply orders and waits for them. In a sync of more than one batch,
// objects that do not exist yet are created with one apply each: ssa would first GET each (404) and dry-run it
// (a create is always a change), three round trips where the bare apply
// takes one; one metadata List per kind tells which exist (the profile of
// `make bench-gitsync`: the full sync waited on those round trips). The
// others go through ssa (dry-run, apply only what changed) in bounded
// batches side by side: ssa applies the changed objects of one ApplyAll one
// after another.
func (r *GitSyncReconciler) apply(ctx context.Context, namespace string, objs []*unstructured.Unstructured) (*ssa.ChangeSet, error) {
	rm := ssa.NewResourceManager(r.Client, nil, ssa.Owner{Field: FieldManager, Group: streamv1.GroupVersion.Group})
	rm.SetConcurrency(applyConcurrency)
	opts := ssa.DefaultApplyOptions()
	var defs, rest []*unstructured.Unstructured
	for _, o := range objs {
		if ssautils.IsClusterDefinition(o) || ssautils.IsClassDefinition(o) {
			defs = append(defs, o)
		} else {
			rest = append(rest, o)
		}
	}
	changes := ssa.NewChangeSet()
	if len(defs) > 0 {
		cs, err := rm.ApplyAllStaged(ctx, defs, opts)
		if err != nil {
			return nil, err
		}
		changes.Append(cs.Entries)
	}
	// A small sync keeps ssa's all-or-nothing dry-run of one batch; a large
	// one was applied batch by batch already (a failure leaves the batches
	// before it applied), so its creates may as well skip the dry-run.
	var fresh []*unstructured.Unstructured
	if len(rest) > applyBatchSize {
		var err error
		if fresh, rest, err = r.splitAbsent(ctx, namespace, rest); err != nil {
			return nil, err
		}
	}
	// Sorted as one ApplyAll would, so the change set (and the summary of
	// the sync) keeps that order (created objects first in a large sync).
	sort.Sort(ssa.SortableUnstructureds(fresh))
	sort.Sort(ssa.SortableUnstructureds(rest))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var batches [][]*unstructured.Unstructured
	for len(rest) > 0 {
		n := min(applyBatchSize, len(rest))
		batches = append(batches, rest[:n])
		rest = rest[n:]
	}
	results := make([]*ssa.ChangeSet, len(batches))
	errs := make([]error, len(batches)+len(fresh))
	slots := make(chan struct{}, applyBatches*applyConcurrency)
	var wg sync.WaitGroup
	run := func(weight int, f func() error, errp *error) {
		wg.Add(1)
		for range weight {
			slots <- struct{}{}
		}
		go func() {
			defer func() {
				for range weight {
					<-slots
				}
				wg.Done()
			}()
			if *errp = f(); *errp != nil {
				cancel() // the first failure stops the rest
			}
		}()
	}
	for i, o := range fresh {
		run(1, func() error {
			if err := r.Patch(ctx, o.DeepCopy(), client.Apply, client.ForceOwnership, client.FieldOwner(FieldManager)); err != nil {
				return fmt.Errorf("%s apply failed: %w", ssautils.FmtUnstructured(o), err)
			}
			return nil
		}, &errs[len(batches)+i])
	}
	for i, b := range batches {
		run(applyConcurrency, func() (err error) {
			results[i], err = rm.ApplyAll(ctx, b, opts)
			return err
		}, &errs[i])
	}
	wg.Wait()
	// A failure of its own, not one it cancelled.
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, o := range fresh {
		changes.Append([]ssa.ChangeSetEntry{{
			ObjMetadata: object.UnstructuredToObjMetadata(o), GroupVersion: o.GroupVersionKind().Version,
			Subject: ssautils.FmtUnstructured(o), Action: ssa.CreatedAction,
		}})
	}
	for _, cs := range results {
		changes.Append(cs.Entries)
	}
	return changes, nil
}

// splitAbsent tells the objects that do not exist in namespace (by one
// metadata-only List per kind) from those that do. One created meanwhile
// by someone else is still applied (server-side apply creates or updates);
// its change only reads "created" instead of "configured".
func (r *GitSyncReconciler) splitAbsent(ctx context.Context, namespace string, objs []*unstructured.Unstructured) (absent, present []*unstructured.Unstructured, _ error) {
	existing := map[schema.GroupVersionKind]map[string]bool{}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		names, listed := existing[gvk]
		if !listed {
			list := &metav1.PartialObjectMetadataList{}
			list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
			if err := r.APIReader.List(ctx, list, client.InNamespace(namespace)); err != nil {
				return nil, nil, fmt.Errorf("list %s: %w", gvk.Kind, err)
			}
			names = make(map[string]bool, len(list.Items))
			for _, item := range list.Items {
				names[item.Name] = true
			}
			existing[gvk] = names
		}
		if o.GetNamespace() == namespace && !names[o.GetName()] {
			absent = append(absent, o)
		} else {
			present = append(present, o)
		}
	}
	return absent, present, nil
}

// retryBlockedPrunes deletes inventory entries no longer in Git whose users
// have gone. Entries still in Git are those of the last applied revision;
// blocked ones are named in the PruneBlocked condition.
func (r *GitSyncReconciler) retryBlockedPrunes(ctx context.Context, gs *streamv1.GitSync) error {
	if !conditions.IsTrue(gs, streamv1.ConditionPruneBlocked) {
		return nil
	}
	blocked := map[string]bool{}
	for _, id := range strings.Split(gs.Annotations[blockedAnnotation], ",") {
		blocked[id] = true
	}
	var stale, rest []streamv1.InventoryEntry
	for _, e := range gs.Status.Inventory {
		if blocked[e.ID] {
			stale = append(stale, e)
		} else {
			rest = append(rest, e)
		}
	}
	res, err := r.pruneEntries(ctx, gs.Namespace, stale)
	r.reportPrune(gs, res, "Pruned what left Git")
	if err != nil {
		return err
	}
	gs.Status.Inventory = append(rest, res.blocked...)
	sortInventory(gs.Status.Inventory)
	return nil
}

// blockedAnnotation remembers which inventory entries are kept only because
// they are in use, so a later sync can prune them without a fetch.
const blockedAnnotation = "stream.space/prune-blocked"

// pruneResult is what a prune deleted and what it kept for its users.
type pruneResult struct {
	deleted []string                  // Kind/name
	blocked []streamv1.InventoryEntry // kept: in use
	reasons []string                  // who uses each kept entry
}

// pruneEntries deletes the inventory entries, except those live sessions
// (or installed plugins) use. On an error it returns what it did so far.
func (r *GitSyncReconciler) pruneEntries(ctx context.Context, namespace string, entries []streamv1.InventoryEntry) (pruneResult, error) {
	var res pruneResult
	if len(entries) == 0 {
		return res, nil
	}
	users, err := r.usersOf(ctx, namespace)
	if err != nil {
		return res, err
	}
	for _, e := range entries {
		meta, err := object.ParseObjMetadata(e.ID)
		if err != nil {
			continue // not ours to interpret: drop it from the inventory
		}
		if holders := users.holding(meta); len(holders) > 0 {
			res.blocked = append(res.blocked, e)
			res.reasons = append(res.reasons, fmt.Sprintf("%s/%s is used by %s", meta.GroupKind.Kind, meta.Name, strings.Join(holders, ", ")))
			continue
		}
		obj := &unstructured.Unstructured{}
		obj.SetGroupVersionKind(meta.GroupKind.WithVersion(e.Version))
		obj.SetNamespace(meta.Namespace)
		obj.SetName(meta.Name)
		if err := r.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			return res, fmt.Errorf("delete %s/%s: %w", meta.GroupKind.Kind, meta.Name, err)
		}
		res.deleted = append(res.deleted, meta.GroupKind.Kind+"/"+meta.Name)
	}
	return res, nil
}

// reportPrune records a prune of what left Git in the status (PruneBlocked
// and the blocked annotation) and in events.
func (r *GitSyncReconciler) reportPrune(gs *streamv1.GitSync, res pruneResult, what string) {
	if gs.Annotations == nil {
		gs.Annotations = map[string]string{}
	}
	if len(res.blocked) > 0 {
		ids := make([]string, 0, len(res.blocked))
		for _, e := range res.blocked {
			ids = append(ids, e.ID)
		}
		gs.Annotations[blockedAnnotation] = strings.Join(ids, ",")
		msg := "Not pruned while in use: " + strings.Join(res.reasons, "; ")
		if !conditions.IsTrue(gs, streamv1.ConditionPruneBlocked) || conditions.GetMessage(gs, streamv1.ConditionPruneBlocked) != msg {
			r.events.Eventf(gs, corev1.EventTypeWarning, streamv1.ReasonInUse, "Sync", "%s", msg)
		}
		conditions.MarkTrue(gs, streamv1.ConditionPruneBlocked, streamv1.ReasonInUse, "%s", msg)
	} else {
		delete(gs.Annotations, blockedAnnotation)
		conditions.Delete(gs, streamv1.ConditionPruneBlocked)
	}
	if len(res.deleted) > 0 {
		r.events.Eventf(gs, corev1.EventTypeNormal, streamv1.ReasonPruned, "Sync", "%s: %s", what, strings.Join(res.deleted, ", "))
	}
}

// liveUse says which live sessions (and installed plugins) hold a Template,
// a Quota or a PluginRepository.
type liveUse struct {
	byTemplate map[string][]string
	byQuota    map[string][]string
	byRepo     map[string][]string
}

func (u liveUse) holding(m object.ObjMetadata) []string {
	if m.GroupKind.Group != streamv1.GroupVersion.Group {
		return nil
	}
	var h []string
	switch m.GroupKind.Kind {
	case kindTemplate:
		h = u.byTemplate[m.Name]
	case kindQuota:
		h = u.byQuota[m.Name]
	case kindPluginRepository:
		h = u.byRepo[m.Name]
	}
	sort.Strings(h)
	if len(h) > 3 {
		h = append(h[:3], fmt.Sprintf("and %d more", len(h)-3))
	}
	return h
}

func (r *GitSyncReconciler) usersOf(ctx context.Context, namespace string) (liveUse, error) {
	u := liveUse{byTemplate: map[string][]string{}, byQuota: map[string][]string{}, byRepo: map[string][]string{}}
	var sessions streamv1.SessionList
	if err := r.APIReader.List(ctx, &sessions, client.InNamespace(namespace)); err != nil {
		return u, fmt.Errorf("list sessions: %w", err)
	}
	var quotas streamv1.QuotaList
	if err := r.APIReader.List(ctx, &quotas, client.InNamespace(namespace)); err != nil {
		return u, fmt.Errorf("list quotas: %w", err)
	}
	var people streamv1.UserList
	if err := r.APIReader.List(ctx, &people, client.InNamespace(namespace)); err != nil {
		return u, fmt.Errorf("list users: %w", err)
	}
	groups := map[string][]string{}
	override := map[string]string{}
	for _, p := range people.Items {
		groups[p.Name] = p.Spec.Groups
		override[p.Name] = p.Spec.Quota
	}
	for _, s := range sessions.Items {
		if s.DesiredState() == streamv1.StateTerminated || !s.DeletionTimestamp.IsZero() {
			continue
		}
		who := "session " + s.Name
		u.byTemplate[s.Spec.Template] = append(u.byTemplate[s.Spec.Template], who)
		q := override[s.Spec.User]
		if q == "" {
			q = quota.Pick(quotas.Items, s.Spec.User, groups[s.Spec.User]).Name
		}
		if q != "" {
			u.byQuota[q] = append(u.byQuota[q], who)
		}
	}
	var plugins streamv1.PluginList
	if err := r.APIReader.List(ctx, &plugins, client.InNamespace(namespace)); err != nil {
		return u, fmt.Errorf("list plugins: %w", err)
	}
	for _, p := range plugins.Items {
		u.byRepo[p.Spec.Repository.Name] = append(u.byRepo[p.Spec.Repository.Name], "plugin "+p.Name)
	}
	return u, nil
}

func inventoryOf(objs []*unstructured.Unstructured) []streamv1.InventoryEntry {
	inv := make([]streamv1.InventoryEntry, 0, len(objs))
	for _, o := range objs {
		inv = append(inv, streamv1.InventoryEntry{ID: idOf(o), Version: o.GroupVersionKind().Version})
	}
	sortInventory(inv)
	return inv
}

func sortInventory(inv []streamv1.InventoryEntry) {
	sort.Slice(inv, func(i, j int) bool { return inv[i].ID < inv[j].ID })
}

// summarise lists what changed ("Template/firefox configured, …").
func summarise(cs *ssa.ChangeSet, pruned []string) string {
	var parts []string
	for _, e := range cs.Entries {
		if e.Action != ssa.UnchangedAction && e.Action != ssa.SkippedAction {
			parts = append(parts, e.Subject+" "+string(e.Action))
		}
	}
	for _, p := range pruned {
		parts = append(parts, p+" pruned")
	}
	return strings.Join(parts, ", ")
}

func orNothing(s string) string {
	if s == "" {
		return "no changes"
	}
	return s
}

// jitter spreads syncs of many GitSyncs: ±10% of the interval.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		d = 5 * time.Minute
	}
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}
