// Package plugins holds the agent's plugin controllers. The
// PluginRepository controller fetches a repository of plugins with the
// GitSync's Git source (ls-remote short-circuit, auth, pinned ssh host
// keys), checks every plugin's manifest and publishes the catalog in the
// repository's status, capped by the plugin permission policy.
package plugins

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/streamspace/streamspace/agent/gitsync"
	"github.com/streamspace/streamspace/agent/reconciler"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/manifest"
	"github.com/streamspace/streamspace/plugins/trust"
)

// MaxPlugins a repository may publish: the catalog lives in the
// repository's status, which etcd keeps under 1.5 MiB. Folders beyond it
// are listed as broken.
const MaxPlugins = 100

// +kubebuilder:rbac:groups=stream.space,resources=pluginrepositories,verbs=get;list;watch;update;patch,namespace=streamspace
// +kubebuilder:rbac:groups=stream.space,resources=pluginrepositories/status,verbs=get;update;patch,namespace=streamspace
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch,namespace=streamspace
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get,namespace=streamspace

// RepositoryReconciler reconciles PluginRepository objects.
type RepositoryReconciler struct {
	client.Client
	// APIReader reads Secrets (not cached, as for GitSyncs).
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	Metrics   *Metrics
	// Reconciles records the reconcile duration; nil records nothing.
	Reconciles *reconciler.Metrics

	shell  *reconciler.Shell
	events reconciler.Events
}

// repoScope is what the steps of one reconcile share.
type repoScope struct {
	repo *streamv1.PluginRepository
	run  *reconciler.Run
	// maxRisk is the repository's trust from the policy.
	maxRisk manifest.Risk
	// revision fetched into dir, when something new is to be indexed.
	revision string
	dir      string
}

// SetupWithManager registers the controller: a spec change or a
// "reconcile now" annotation triggers it, and so does a change of the
// permission policy; otherwise it requeues itself every interval.
func (r *RepositoryReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	r.events = reconciler.Events{Recorder: r.Recorder}
	r.shell = reconciler.NewShell("PluginRepository", r.Client, r.events, r.Reconciles)
	isPolicy := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetName() == trust.ConfigMapName })
	return ctrl.NewControllerManagedBy(mgr).
		For(&streamv1.PluginRepository{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(reconciler.AllInNamespace(mgr.GetClient(), &streamv1.PluginRepositoryList{})),
			builder.WithPredicates(isPolicy)).
		Complete(r)
}

// Reconcile indexes one PluginRepository: the shared shell, then the named
// steps.
func (r *RepositoryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	repo := &streamv1.PluginRepository{}
	if err := r.Get(ctx, req.NamespacedName, repo); err != nil {
		if apierrors.IsNotFound(err) {
			r.Metrics.forget(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	run := r.shell.Begin(repo)
	defer func() {
		result, retErr = run.Finish(ctx, result, retErr)
		r.Metrics.record(repo)
	}()
	if repo.Spec.Suspend {
		if !conditions.Has(repo, streamv1.ConditionReady) {
			conditions.MarkUnknown(repo, streamv1.ConditionReady, streamv1.ReasonSuspended, "Suspended before its first index: set spec.suspend to false to index")
		}
		return ctrl.Result{}, nil
	}
	return r.reconcile(ctx, &repoScope{repo: repo, run: run})
}

// reconcile runs the steps in order, under a time limit (the deferred
// status patch of Reconcile runs outside it).
func (r *RepositoryReconciler) reconcile(ctx context.Context, sc *repoScope) (ctrl.Result, error) {
	repo := sc.repo
	next := ctrl.Result{RequeueAfter: repo.Spec.Interval.Duration}
	if next.RequeueAfter <= 0 {
		next.RequeueAfter = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	if err := r.reconcilePolicy(ctx, sc); err != nil {
		return next, err
	}
	changed, err := r.reconcileSource(ctx, sc)
	if sc.dir != "" {
		defer os.RemoveAll(sc.dir)
	}
	if err != nil {
		return next, err
	}
	if !changed {
		// Nothing new in Git; the policy may have changed.
		applyTrust(repo, sc.maxRisk)
		return next, nil
	}
	return next, r.reconcileIndex(ctx, sc)
}

// reconcilePolicy reads the repository's trust from the plugin permission
// policy (no policy: low risk only). Sets Ready=False (stalled until the
// policy changes) with PolicyInvalid.
func (r *RepositoryReconciler) reconcilePolicy(ctx context.Context, sc *repoScope) error {
	policy := trust.Default
	cm := &corev1.ConfigMap{}
	err := r.Get(ctx, client.ObjectKey{Namespace: sc.repo.Namespace, Name: trust.ConfigMapName}, cm)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("read %s: %w", trust.ConfigMapName, err)
	default:
		if policy, err = trust.Parse([]byte(cm.Data[trust.Key])); err != nil {
			r.events.Eventf(sc.repo, corev1.EventTypeWarning, streamv1.ReasonPolicyInvalid, "Index", "ConfigMap %s: %s", trust.ConfigMapName, err)
			return reconciler.Stall(streamv1.ReasonPolicyInvalid, "ConfigMap %s: %s", trust.ConfigMapName, err)
		}
	}
	sc.maxRisk = policy.MaxRisk(sc.repo.Name)
	return nil
}

// reconcileSource asks the remote for the ref's commit and, when it is not
// the one indexed (or the spec changed), checks it out into sc.dir and
// reports changed. Sets Ready=False (stalled) with CredentialsInvalid when
// the auth secret cannot be used, and FetchFailed when the remote cannot be
// reached.
func (r *RepositoryReconciler) reconcileSource(ctx context.Context, sc *repoScope) (changed bool, _ error) {
	repo := sc.repo
	src, err := gitsync.SourceFor(ctx, r.APIReader, repo.Namespace, repo.Spec.URL, repo.Spec.Ref, repo.Spec.SecretRef)
	if err != nil {
		return false, reconciler.Stall(streamv1.ReasonCredentialsInvalid, "%s", err.Error())
	}
	revision, err := src.Revision(ctx)
	if err != nil {
		r.events.Eventf(repo, corev1.EventTypeWarning, streamv1.ReasonFetchFailed, "Index", "%s", err.Error())
		return false, reconciler.Fail(streamv1.ReasonFetchFailed, err)
	}
	if revision == repo.Status.LastSyncedRevision && repo.Generation == repo.Status.ObservedGeneration && conditions.IsReady(repo) {
		return false, nil
	}
	if err := sc.run.Progress(ctx, "Fetching revision %s", revision); err != nil {
		return false, err
	}
	if sc.dir, err = os.MkdirTemp("", "pluginrepo-"); err != nil {
		return false, err
	}
	if sc.revision, err = src.Checkout(ctx, sc.dir); err != nil {
		return false, reconciler.Fail(streamv1.ReasonFetchFailed, err)
	}
	return true, nil
}

// reconcileIndex reads every plugin folder of the checkout into the
// catalog: a broken manifest is listed with its problems and hides no
// other plugin. Sets Ready=True with Indexed, or Ready=False (stalled until
// Git or the spec changes) with ValidationFailed when spec.path is not a
// folder of the revision.
func (r *RepositoryReconciler) reconcileIndex(ctx context.Context, sc *repoScope) error {
	repo := sc.repo
	// Confined: a symbolic link in the repository cannot make the agent
	// read outside the checkout.
	root, err := os.OpenRoot(sc.dir)
	if err != nil {
		return err
	}
	defer root.Close()
	fsys := root.FS()
	base := path.Clean("./" + repo.Spec.Path)
	entries, err := fs.ReadDir(fsys, base)
	if err != nil {
		return reconciler.Stall(streamv1.ReasonValidationFailed, "revision %s: path %q is not a folder of the repository", sc.revision, repo.Spec.Path)
	}
	var (
		plugins []streamv1.IndexedPlugin
		broken  []streamv1.BrokenPlugin
	)
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := path.Join(base, e.Name())
		if len(plugins) == MaxPlugins {
			broken = append(broken, streamv1.BrokenPlugin{Path: dir, Problems: []string{fmt.Sprintf("%s: not indexed: a repository publishes at most %d plugins", dir, MaxPlugins)}})
			continue
		}
		m, problems := manifest.Load(fsys, dir)
		if m == nil {
			b := streamv1.BrokenPlugin{Path: dir}
			for _, p := range problems {
				b.Problems = append(b.Problems, p.String())
			}
			broken = append(broken, b)
			continue
		}
		plugins = append(plugins, indexed(m, dir, sc.revision))
	}
	repo.Status.Plugins, repo.Status.Broken = plugins, broken
	repo.Status.LastSyncedRevision = sc.revision
	applyTrust(repo, sc.maxRisk)

	log := ctrl.LoggerFrom(ctx)
	log.Info("Indexed plugin repository", "revision", sc.revision, "plugins", len(plugins), "broken", len(broken))
	msg := fmt.Sprintf("Indexed %d plugin(s) of revision %s", len(plugins), sc.revision)
	if len(broken) > 0 {
		var all []string
		for _, b := range broken {
			all = append(all, b.Problems...)
		}
		r.events.Eventf(repo, corev1.EventTypeWarning, streamv1.ReasonManifestInvalid, "Index", "revision %s: %s", sc.revision, strings.Join(all, "; "))
		msg += fmt.Sprintf("; %d broken: %s", len(broken), strings.Join(brokenPaths(broken), ", "))
	}
	r.events.Eventf(repo, corev1.EventTypeNormal, streamv1.ReasonIndexed, "Index", "%s", msg)
	conditions.MarkTrue(repo, streamv1.ConditionReady, streamv1.ReasonIndexed, "%s", msg)
	return nil
}

// indexed is the catalog entry of a manifest.
func indexed(m *manifest.Manifest, dir, revision string) streamv1.IndexedPlugin {
	p := streamv1.IndexedPlugin{
		Name: m.Name, Version: m.Version, Revision: revision, Path: dir, Type: string(m.Type),
		DisplayName: m.DisplayName, Description: m.Description, Category: m.Category, Icon: m.Icon,
		Events: m.Events,
	}
	for _, perm := range m.Permissions {
		risk, _ := manifest.RiskOf(perm) // the manifest was checked
		p.Permissions = append(p.Permissions, streamv1.CatalogPermission{Name: perm, Risk: string(risk)})
	}
	if len(m.ConfigSchema) > 0 {
		p.ConfigSchema = &apiextensionsv1.JSON{Raw: m.ConfigSchema}
	}
	return p
}

// applyTrust records the repository's trust and marks every permission
// (and plugin) beyond it.
func applyTrust(repo *streamv1.PluginRepository, maxRisk manifest.Risk) {
	repo.Status.MaxRisk = string(maxRisk)
	for i := range repo.Status.Plugins {
		p := &repo.Status.Plugins[i]
		p.ExceedsTrust = false
		for j := range p.Permissions {
			perm := &p.Permissions[j]
			perm.BeyondTrust = manifest.Risk(perm.Risk).Exceeds(maxRisk)
			p.ExceedsTrust = p.ExceedsTrust || perm.BeyondTrust
		}
	}
}

func brokenPaths(broken []streamv1.BrokenPlugin) []string {
	out := make([]string, 0, len(broken))
	for _, b := range broken {
		out = append(out, b.Path)
	}
	slices.Sort(out)
	return out
}
