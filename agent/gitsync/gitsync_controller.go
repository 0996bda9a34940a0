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
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/fluxcd/pkg/runtime/patch"
	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/streamspace/streamspace/agent/quota"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// FieldManager applies everything that comes from Git.
const FieldManager = "streamspace-gitsync"

// Condition reasons.
const (
	ReasonFetchFailed      = "FetchFailed"
	ReasonBuildFailed      = "BuildFailed"
	ReasonValidationFailed = "ValidationFailed"
	ReasonApplyFailed      = "ApplyFailed"
	ReasonApplied          = "Applied"
	ReasonInUse            = "InUse"
	ReasonAuthFailed       = "CredentialsInvalid"
)

// +kubebuilder:rbac:groups=stream.space,resources=gitsyncs,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=stream.space,resources=gitsyncs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=stream.space,resources=templates;quotas;users;pluginrepositories;plugins,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// GitSyncReconciler reconciles GitSync objects.
type GitSyncReconciler struct {
	client.Client
	// APIReader reads Secrets (not cached: the agent should not hold every
	// Secret of the namespace in memory) and checks what is in use.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	Allowed   Allowed
	Metrics   *Metrics
	// Desired receives the objects of each applied revision, for the drift
	// controller.
	Desired *DesiredStore
}

// SetupWithManager registers the controller: a spec change or a "reconcile
// now" annotation triggers it; otherwise it requeues itself every interval.
func (r *GitSyncReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Allowed.Extra == nil { // unset, as opposed to an empty allow-list
		r.Allowed = DefaultAllowed
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&streamv1.GitSync{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Complete(r)
}

// Reconcile syncs one GitSync.
func (r *GitSyncReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	start := time.Now()
	gs := &streamv1.GitSync{}
	if err := r.Get(ctx, req.NamespacedName, gs); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	patcher := patch.NewSerialPatcher(gs, r.Client)
	defer func() {
		// The steps set Ready with a specific reason before they return an
		// error; this only covers the ones that could not.
		if retErr != nil && !conditions.IsFalse(gs, streamv1.ConditionReady) {
			conditions.MarkFalse(gs, streamv1.ConditionReady, "ReconciliationFailed", "%s", retErr.Error())
		}
		conditions.Delete(gs, streamv1.ConditionReconciling)
		opts := []patch.Option{
			patch.WithOwnedConditions{Conditions: []string{streamv1.ConditionReady, streamv1.ConditionReconciling, streamv1.ConditionStalled, streamv1.ConditionPruneBlocked, streamv1.ConditionDrifted}},
			patch.WithFieldOwner(FieldManager),
		}
		if retErr == nil && !conditions.IsStalled(gs) {
			opts = append(opts, patch.WithStatusObservedGeneration{})
		}
		if err := patcher.Patch(ctx, gs, opts...); err != nil {
			retErr = kerrors.NewAggregate([]error{retErr, client.IgnoreNotFound(err)})
		}
		r.Metrics.record(gs, time.Since(start))
	}()
	if gs.Spec.Suspend {
		return ctrl.Result{}, nil
	}
	requested := gs.Annotations[streamv1.ReconcileRequestAnnotation]
	if requested != "" {
		gs.Status.LastHandledReconcileAt = requested
	}
	return r.reconcile(ctx, gs)
}

func (r *GitSyncReconciler) reconcile(ctx context.Context, gs *streamv1.GitSync) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	next := ctrl.Result{RequeueAfter: jitter(gs.Spec.Interval.Duration)}
	timeout := gs.Spec.Timeout.Duration
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	src, err := r.source(ctx, gs)
	if err != nil {
		conditions.MarkStalled(gs, ReasonAuthFailed, "%s", err.Error())
		conditions.MarkFalse(gs, streamv1.ConditionReady, ReasonAuthFailed, "%s", err.Error())
		return ctrl.Result{}, nil // a spec or secret change brings us back
	}
	conditions.Delete(gs, streamv1.ConditionStalled)

	revision, err := src.Revision(ctx)
	if err != nil {
		r.Metrics.FetchErrors.WithLabelValues(gs.Namespace, gs.Name).Inc()
		r.event(gs, corev1.EventTypeWarning, ReasonFetchFailed, "%s", err.Error())
		conditions.MarkFalse(gs, streamv1.ConditionReady, ReasonFetchFailed, "%s", err.Error())
		return ctrl.Result{}, err
	}
	// After a restart the desired objects are not in memory: fetch once to
	// know them again (drift checks need them).
	unchanged := revision == gs.Status.LastAppliedRevision && gs.Generation == gs.Status.ObservedGeneration &&
		conditions.IsReady(gs) && r.Desired.has(client.ObjectKeyFromObject(gs))
	if unchanged {
		// Nothing new in Git: skip the fetch. Objects whose prune was
		// blocked may have been released meanwhile.
		if err := r.retryBlockedPrunes(ctx, gs); err != nil {
			return ctrl.Result{}, err
		}
		return next, nil
	}
	gs.Status.LastAttemptedRevision = revision
	conditions.MarkReconciling(gs, "Progressing", "Syncing revision %s", revision)

	dir, err := os.MkdirTemp("", "gitsync-")
	if err != nil {
		return ctrl.Result{}, err
	}
	defer os.RemoveAll(dir)
	r.Metrics.Fetches.WithLabelValues(gs.Namespace, gs.Name).Inc()
	if revision, err = src.Checkout(ctx, dir); err != nil {
		r.Metrics.FetchErrors.WithLabelValues(gs.Namespace, gs.Name).Inc()
		conditions.MarkFalse(gs, streamv1.ConditionReady, ReasonFetchFailed, "%s", err.Error())
		return ctrl.Result{}, err
	}
	gs.Status.LastAttemptedRevision = revision

	// A failed build or validation applies nothing and prunes nothing: the
	// last good state stays until Git is fixed.
	objs, err := Build(dir, gs.Spec.Path)
	if err == nil {
		err = r.Allowed.Validate(objs, gs.Namespace)
	}
	if err != nil {
		reason := ReasonBuildFailed
		var invalid *ValidationError
		if errors.As(err, &invalid) {
			reason = ReasonValidationFailed
		}
		msg := fmt.Sprintf("revision %s: %s", revision, err)
		log.Info("Sync refused", "revision", revision, "error", err.Error())
		r.event(gs, corev1.EventTypeWarning, reason, "%s", msg)
		conditions.MarkFalse(gs, streamv1.ConditionReady, reason, "%s", msg)
		return next, nil
	}

	for _, o := range objs {
		labels := o.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[OwnerNameLabel], labels[OwnerNamespaceLabel] = gs.Name, gs.Namespace
		o.SetLabels(labels)
	}
	changes, err := r.apply(ctx, r.needApply(gs, objs))
	if err != nil {
		msg := fmt.Sprintf("revision %s: %s", revision, err)
		r.event(gs, corev1.EventTypeWarning, ReasonApplyFailed, "%s", msg)
		conditions.MarkFalse(gs, streamv1.ConditionReady, ReasonApplyFailed, "%s", msg)
		return ctrl.Result{}, err
	}
	applied := inventoryOf(objs)
	r.Desired.set(client.ObjectKeyFromObject(gs), objs)

	pruned, blocked, err := r.prune(ctx, gs, applied)
	if err != nil {
		conditions.MarkFalse(gs, streamv1.ConditionReady, ReasonApplyFailed, "prune: %s", err)
		return ctrl.Result{}, err
	}
	newRevision := revision != gs.Status.LastAppliedRevision
	gs.Status.Inventory = append(applied, blocked...)
	sortInventory(gs.Status.Inventory)
	gs.Status.LastAppliedRevision = revision

	summary := summarise(changes, pruned)
	log.Info("Applied revision", "revision", revision, "changes", summary)
	if newRevision || summary != "" {
		r.event(gs, corev1.EventTypeNormal, ReasonApplied, "Applied revision %s: %s", revision, orNothing(summary))
	}
	conditions.MarkTrue(gs, streamv1.ConditionReady, ReasonApplied, "Applied revision %s (%d objects)", revision, len(gs.Status.Inventory))
	return next, nil
}

// source builds the Git source with the credentials of spec.secretRef.
func (r *GitSyncReconciler) source(ctx context.Context, gs *streamv1.GitSync) (*Source, error) {
	var creds Credentials
	if ref := gs.Spec.SecretRef; ref != nil {
		secret := &corev1.Secret{}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: gs.Namespace, Name: ref.Name}, secret); err != nil {
			return nil, fmt.Errorf("read secret %s: %w", ref.Name, err)
		}
		creds = secret.Data
	}
	return NewSource(gs.Spec.URL, gs.Spec.Ref, creds)
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

// apply server-side applies the objects (CRDs and namespaces first, as
// ssa's staged apply orders them) and skips those already up to date. The
// objects carry the owner labels the drift controller watches by.
func (r *GitSyncReconciler) apply(ctx context.Context, objs []*unstructured.Unstructured) (*ssa.ChangeSet, error) {
	rm := ssa.NewResourceManager(r.Client, nil, ssa.Owner{Field: FieldManager, Group: streamv1.GroupVersion.Group})
	// The dry-runs that find what changed are round trips to the API
	// server; a few in flight keep a large catalog's resync short.
	rm.SetConcurrency(8)
	return rm.ApplyAllStaged(ctx, objs, ssa.DefaultApplyOptions())
}

// prune deletes the objects of the previous inventory that left Git, except
// those still in use; it returns what it deleted and what it kept.
func (r *GitSyncReconciler) prune(ctx context.Context, gs *streamv1.GitSync, applied []streamv1.InventoryEntry) ([]string, []streamv1.InventoryEntry, error) {
	if !gs.Spec.Prune {
		conditions.Delete(gs, streamv1.ConditionPruneBlocked)
		return nil, nil, nil
	}
	keep := map[string]bool{}
	for _, e := range applied {
		keep[e.ID] = true
	}
	var stale []streamv1.InventoryEntry
	for _, e := range gs.Status.Inventory {
		if !keep[e.ID] {
			stale = append(stale, e)
		}
	}
	return r.pruneEntries(ctx, gs, stale)
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
	_, still, err := r.pruneEntries(ctx, gs, stale)
	if err != nil {
		return err
	}
	gs.Status.Inventory = append(rest, still...)
	sortInventory(gs.Status.Inventory)
	return nil
}

// blockedAnnotation remembers which inventory entries are kept only because
// they are in use, so a later sync can prune them without a fetch.
const blockedAnnotation = "stream.space/prune-blocked"

func (r *GitSyncReconciler) pruneEntries(ctx context.Context, gs *streamv1.GitSync, stale []streamv1.InventoryEntry) ([]string, []streamv1.InventoryEntry, error) {
	users, err := r.usersOf(ctx, gs.Namespace)
	if err != nil {
		return nil, nil, err
	}
	var (
		deleted []string
		blocked []streamv1.InventoryEntry
		reasons []string
		ids     []string
	)
	for _, e := range stale {
		meta, err := object.ParseObjMetadata(e.ID)
		if err != nil {
			continue // not ours to interpret: drop it from the inventory
		}
		if holders := users.holding(meta); len(holders) > 0 {
			blocked = append(blocked, e)
			ids = append(ids, e.ID)
			reasons = append(reasons, fmt.Sprintf("%s/%s is used by %s", meta.GroupKind.Kind, meta.Name, strings.Join(holders, ", ")))
			continue
		}
		obj := &unstructured.Unstructured{}
		obj.SetGroupVersionKind(meta.GroupKind.WithVersion(e.Version))
		obj.SetNamespace(meta.Namespace)
		obj.SetName(meta.Name)
		if err := r.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			return deleted, blocked, fmt.Errorf("delete %s/%s: %w", meta.GroupKind.Kind, meta.Name, err)
		}
		deleted = append(deleted, meta.GroupKind.Kind+"/"+meta.Name)
	}
	if gs.Annotations == nil {
		gs.Annotations = map[string]string{}
	}
	if len(blocked) > 0 {
		gs.Annotations[blockedAnnotation] = strings.Join(ids, ",")
		msg := "Not pruned while in use: " + strings.Join(reasons, "; ")
		if !conditions.IsTrue(gs, streamv1.ConditionPruneBlocked) || conditions.GetMessage(gs, streamv1.ConditionPruneBlocked) != msg {
			r.event(gs, corev1.EventTypeWarning, streamv1.ConditionPruneBlocked, "%s", msg)
		}
		conditions.MarkTrue(gs, streamv1.ConditionPruneBlocked, ReasonInUse, "%s", msg)
	} else {
		delete(gs.Annotations, blockedAnnotation)
		conditions.Delete(gs, streamv1.ConditionPruneBlocked)
	}
	if len(deleted) > 0 {
		r.event(gs, corev1.EventTypeNormal, "Pruned", "Pruned what left Git: %s", strings.Join(deleted, ", "))
	}
	return deleted, blocked, nil
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
	case "Template":
		h = u.byTemplate[m.Name]
	case "Quota":
		h = u.byQuota[m.Name]
	case "PluginRepository":
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

func (r *GitSyncReconciler) event(gs *streamv1.GitSync, eventType, reason, note string, args ...any) {
	eventf(r.Recorder, gs, eventType, reason, "Sync", note, args...)
}

// eventf records an event, cut to the API's limit of 1024 bytes (a sync
// that changes many objects lists them all).
func eventf(rec recorder.EventRecorder, gs *streamv1.GitSync, eventType, reason, action, note string, args ...any) {
	if rec == nil {
		return
	}
	msg := fmt.Sprintf(note, args...)
	if len(msg) > 1000 {
		msg = msg[:1000] + " …"
	}
	rec.Eventf(gs, nil, eventType, reason, action, "%s", msg)
}
