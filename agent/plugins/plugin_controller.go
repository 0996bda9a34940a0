package plugins

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/streamspace/streamspace/agent/gitsync"
	"github.com/streamspace/streamspace/agent/reconciler"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/artifact"
	"github.com/streamspace/streamspace/plugins/manifest"
)

// SigningSecretKey is the key of a plugin's signing Secret holding the
// HMAC secret its webhook deliveries are signed with.
const SigningSecretKey = "secret"

// SigningSecretName is the Secret with the HMAC secret of plugin name.
func SigningSecretName(plugin string) string { return "plugin-" + plugin + "-signing" }

// retryUnavailable is how soon a plugin that keeps its revision looks at
// an unreachable repository again.
const retryUnavailable = time.Minute

// +kubebuilder:rbac:groups=stream.space,resources=plugins,verbs=get;list;watch,namespace=streamspace
// +kubebuilder:rbac:groups=stream.space,resources=plugins/status,verbs=get;update;patch,namespace=streamspace
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create,namespace=streamspace

// PluginReconciler reconciles Plugin objects: it resolves spec.version to a
// commit of the plugin's repository, reads the manifest and checks the
// module's digest at that commit, checks the configuration against the
// manifest's schema and the permissions against the approvals and the
// repository's trust, and sets Ready with the reason.
type PluginReconciler struct {
	client.Client
	// APIReader reads Secrets (not cached, as for PluginRepositories).
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	// Reconciles records the reconcile duration; nil records nothing.
	Reconciles *reconciler.Metrics

	shell  *reconciler.Shell
	events reconciler.Events
}

// SetupWithManager registers the controller: a spec change of a Plugin
// triggers it, and so does a new catalog, trust or readiness of its
// repository.
func (r *PluginReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	r.events = reconciler.Events{Recorder: r.Recorder}
	r.shell = reconciler.NewShell("Plugin", r.Client, r.events, r.Reconciles)
	catalogChanged := reconciler.ChangedBy(func(repo *streamv1.PluginRepository) string {
		ready := conditions.Get(repo, streamv1.ConditionReady)
		status := ""
		if ready != nil {
			status = string(ready.Status)
		}
		return repo.Status.LastSyncedRevision + "|" + repo.Status.MaxRisk + "|" + status
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&streamv1.Plugin{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&streamv1.PluginRepository{}, handler.EnqueueRequestsFromMapFunc(r.pluginsOf), builder.WithPredicates(catalogChanged)).
		Complete(r)
}

// pluginsOf maps a repository to its Plugins.
func (r *PluginReconciler) pluginsOf(ctx context.Context, o client.Object) []reconcile.Request {
	var list streamv1.PluginList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, p := range list.Items {
		if p.Spec.Repository.Name == o.GetName() {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&p)})
		}
	}
	return reqs
}

// Reconcile reconciles one Plugin: the shared shell, then the named steps;
// an event says every change of Ready.
func (r *PluginReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	p := &streamv1.Plugin{}
	if err := r.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !p.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	before := conditions.Get(p, streamv1.ConditionReady)
	run := r.shell.Begin(p)
	defer func() {
		result, retErr = run.Finish(ctx, result, retErr)
		r.recordTransition(p, before)
	}()
	return r.reconcile(ctx, p)
}

// reconcile runs the steps in order, under a time limit (the deferred
// status patch of Reconcile runs outside it).
func (r *PluginReconciler) reconcile(ctx context.Context, p *streamv1.Plugin) (ctrl.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := r.reconcileSecret(ctx, p); err != nil {
		return ctrl.Result{}, err
	}
	repo, err := r.repositoryOf(ctx, p)
	if err != nil {
		return ctrl.Result{}, err
	}
	m, note, res, err := r.reconcileVersion(ctx, p, repo)
	if err != nil {
		return res, err
	}
	return res, r.reconcileChecks(p, repo, m, note)
}

// recordTransition records an event when Ready changed status or reason.
func (r *PluginReconciler) recordTransition(p *streamv1.Plugin, before *metav1.Condition) {
	after := conditions.Get(p, streamv1.ConditionReady)
	if after == nil || (before != nil && before.Status == after.Status && before.Reason == after.Reason) {
		return
	}
	kind := corev1.EventTypeNormal
	if after.Status != metav1.ConditionTrue && after.Reason != streamv1.ReasonDisabled {
		kind = corev1.EventTypeWarning
	}
	r.events.Eventf(p, kind, after.Reason, "Install", "%s", after.Message)
}

// reconcileSecret creates the plugin's signing Secret (32 random bytes,
// hex) once; an existing one is never overwritten, so a receiver keeps its
// secret across reconciles and agent restarts.
func (r *PluginReconciler) reconcileSecret(ctx context.Context, p *streamv1.Plugin) error {
	key := client.ObjectKey{Namespace: p.Namespace, Name: SigningSecretName(p.Name)}
	err := r.APIReader.Get(ctx, key, &corev1.Secret{})
	if err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
			Labels: map[string]string{"app.kubernetes.io/managed-by": reconciler.AgentName}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{SigningSecretKey: []byte(hex.EncodeToString(raw))},
	}
	if err := controllerutil.SetControllerReference(p, s, r.Scheme()); err != nil {
		return err
	}
	if err := r.Create(ctx, s); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create signing secret %s: %w", key.Name, err)
	}
	return nil
}

// repositoryOf reads the plugin's repository. Sets Ready=False with
// RepositoryUnavailable while it is missing (stalled until it appears) or
// has no catalog yet (waiting for it).
func (r *PluginReconciler) repositoryOf(ctx context.Context, p *streamv1.Plugin) (*streamv1.PluginRepository, error) {
	repo := &streamv1.PluginRepository{}
	err := r.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: p.Spec.Repository.Name}, repo)
	switch {
	case apierrors.IsNotFound(err):
		return nil, reconciler.Stall(streamv1.ReasonRepositoryUnavailable, "PluginRepository %s not found in namespace %s", p.Spec.Repository.Name, p.Namespace)
	case err != nil:
		return nil, err
	case repo.Status.LastSyncedRevision == "":
		return nil, reconciler.Wait(0, streamv1.ReasonRepositoryUnavailable, "PluginRepository %s has not published its catalog yet", repo.Name)
	}
	return repo, nil
}

// reconcileVersion resolves spec.version to a commit and reads the
// manifest and module there, unless the status already holds them for this
// spec (generation) and the repository's catalog did not move for this
// version. Sets Ready=False (stalled until Git or the spec changes) with
// VersionNotFound, ManifestInvalid or ArtifactMismatch. When only the
// catalog moved and the repository cannot be read, the plugin keeps its
// revision (its checks still run, and a Ready message and an event say why
// it was not re-resolved); otherwise an unreadable repository is
// RepositoryUnavailable, retried with backoff: a spec change (an approval
// withdrawn, another repository) is never taken without resolving it.
func (r *PluginReconciler) reconcileVersion(ctx context.Context, p *streamv1.Plugin, repo *streamv1.PluginRepository) (m *manifest.Manifest, note string, _ ctrl.Result, _ error) {
	st := &p.Status
	entry := catalogEntry(repo, p.Spec.PluginName)
	current := entry != nil && artifact.SameVersion(entry.Version, p.Spec.Version)
	var kept *manifest.Manifest
	if st.Revision != "" && st.Manifest != nil && artifact.SameVersion(st.InstalledVersion, p.Spec.Version) && st.ObservedGeneration == p.Generation {
		kept = &manifest.Manifest{}
		if err := json.Unmarshal(st.Manifest.Raw, kept); err != nil || kept.Name != p.Spec.PluginName {
			kept = nil
		}
	}
	if kept != nil && (!current || entry.Revision == st.Revision) {
		return kept, "", ctrl.Result{}, nil
	}
	m, err := r.resolve(ctx, p, repo, entry, current)
	var mismatch *artifact.MismatchError
	switch {
	case errors.As(err, &mismatch):
		r.forget(p)
		return nil, "", ctrl.Result{}, reconciler.Stall(streamv1.ReasonArtifactMismatch, "%s %s: module %s", p.Spec.PluginName, p.Spec.Version, err)
	case errors.Is(err, artifact.ErrVersionNotFound):
		r.forget(p)
		return nil, "", ctrl.Result{}, reconciler.Stall(streamv1.ReasonVersionNotFound, "%s", versionMessage(p, entry, err))
	case errors.Is(err, errManifest):
		r.forget(p)
		return nil, "", ctrl.Result{}, reconciler.Stall(streamv1.ReasonManifestInvalid, "%s", err)
	case err != nil && kept != nil:
		r.events.Eventf(p, corev1.EventTypeWarning, streamv1.ReasonRepositoryUnavailable, "Install", "cannot re-resolve %s: %s", p.Spec.Version, err)
		note = fmt.Sprintf("; the repository could not be read to re-resolve it (%s), so this revision is kept", err)
		return kept, note, ctrl.Result{RequeueAfter: retryUnavailable}, nil
	case err != nil:
		return nil, "", ctrl.Result{}, reconciler.Fail(streamv1.ReasonRepositoryUnavailable, err)
	}
	return m, "", ctrl.Result{}, nil
}

var errManifest = errors.New("manifest refused")

// resolve finds the commit of spec.version (the catalog's for its current
// version, else the newest commit of the history with that version), and
// reads and checks the manifest and module there into the status.
func (r *PluginReconciler) resolve(ctx context.Context, p *streamv1.Plugin, repo *streamv1.PluginRepository, entry *streamv1.IndexedPlugin, current bool) (*manifest.Manifest, error) {
	src, err := gitsync.SourceFor(ctx, r.APIReader, repo.Namespace, repo.Spec.URL, repo.Spec.Ref, repo.Spec.SecretRef)
	if err != nil {
		return nil, err
	}
	dir := path.Join(path.Clean("./"+repo.Spec.Path), p.Spec.PluginName)
	var g *artifact.Repository
	revision := repo.Status.LastSyncedRevision
	if current {
		revision, dir = entry.Revision, entry.Path
		g, err = artifact.OpenAt(ctx, src, revision)
	} else {
		g, err = artifact.Open(ctx, src, true)
	}
	if err != nil {
		return nil, err
	}
	defer g.Close()
	if !current {
		if revision, err = g.FindVersion(revision, dir, p.Spec.Version); err != nil {
			return nil, err
		}
	}
	file := path.Join(dir, manifest.FileName)
	data, err := g.ReadFile(revision, file, manifest.MaxSize)
	if err != nil {
		return nil, err
	}
	m, problems := manifest.Parse(file, data)
	if m == nil {
		var all []string
		for _, pr := range problems {
			all = append(all, pr.String())
		}
		return nil, fmt.Errorf("%w at %s: %s", errManifest, revision, strings.Join(all, "; "))
	}
	if m.Name != p.Spec.PluginName {
		return nil, fmt.Errorf("%w at %s: %s names plugin %s, not %s", errManifest, revision, file, m.Name, p.Spec.PluginName)
	}
	var art *streamv1.PluginArtifact
	if w := m.Entry.Wasm; w != nil {
		name := path.Join(dir, w.Module)
		module, err := g.ReadFile(revision, name, artifact.MaxSize)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errManifest, err)
		}
		if err := artifact.Verify(module, name, revision, w.SHA256); err != nil {
			return nil, err
		}
		art = &streamv1.PluginArtifact{Path: name, SHA256: w.SHA256}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	p.Status.Revision, p.Status.InstalledVersion, p.Status.Artifact = revision, m.Version, art
	p.Status.Manifest = &apiextensionsv1.JSON{Raw: raw}
	ctrl.LoggerFrom(ctx).Info("Resolved plugin version", "version", p.Spec.Version, "revision", revision)
	return m, nil
}

// forget clears what the status says is installed: nothing verified is.
func (r *PluginReconciler) forget(p *streamv1.Plugin) {
	p.Status.Revision, p.Status.InstalledVersion, p.Status.Artifact, p.Status.Manifest = "", "", nil, nil
	p.Status.Permissions = nil
}

func versionMessage(p *streamv1.Plugin, entry *streamv1.IndexedPlugin, err error) string {
	msg := fmt.Sprintf("plugin %s has no version %s: %s", p.Spec.PluginName, p.Spec.Version, err)
	if entry != nil {
		msg += fmt.Sprintf(" (the catalog's version is %s)", entry.Version)
	} else {
		msg += " (the plugin is not in the repository's catalog)"
	}
	return msg
}

// reconcileChecks checks the resolved plugin against its Plugin object:
// the configuration against the schema, the permissions against the
// repository's trust and the approvals, then enabled. Sets Ready=False
// (stalled until the spec, Git or the policy changes) with ConfigInvalid,
// BeyondTrust or PermissionsPending; Ready=False with Disabled; else
// Ready=True with Installed (note added to its message).
func (r *PluginReconciler) reconcileChecks(p *streamv1.Plugin, repo *streamv1.PluginRepository, m *manifest.Manifest, note string) error {
	var config []byte
	if p.Spec.Config != nil {
		config = p.Spec.Config.Raw
	}
	if err := manifest.ValidateConfig(m.ConfigSchema, config); err != nil {
		return reconciler.Stall(streamv1.ReasonConfigInvalid, "spec.config: %s", err)
	}
	maxRisk, err := manifest.ParseRisk(repo.Status.MaxRisk)
	if err != nil || repo.Status.MaxRisk == "" {
		maxRisk = manifest.RiskLow // as the policy without an entry
	}
	var beyond, pending []string
	p.Status.Permissions = nil
	for _, perm := range m.Permissions {
		risk, err := manifest.RiskOf(perm)
		if err != nil {
			return reconciler.Stall(streamv1.ReasonManifestInvalid, "permission %s: %s", perm, err)
		}
		approved := slices.Contains(p.Spec.ApprovedPermissions, perm)
		p.Status.Permissions = append(p.Status.Permissions, streamv1.PluginPermission{Name: perm, Risk: string(risk), Approved: approved})
		if risk.Exceeds(maxRisk) {
			beyond = append(beyond, fmt.Sprintf("%s (%s)", perm, risk))
		}
		if !approved {
			pending = append(pending, perm)
		}
	}
	if len(beyond) > 0 {
		return reconciler.Stall(streamv1.ReasonBeyondTrust, "PluginRepository %s may be granted at most %s-risk permissions; the plugin asks for %s", repo.Name, maxRisk, strings.Join(beyond, ", "))
	}
	if len(pending) > 0 {
		return reconciler.Stall(streamv1.ReasonPermissionsPending, "permissions not approved: %s (an admin approves them in spec.approvedPermissions)", strings.Join(pending, ", "))
	}
	if !p.Spec.Enabled {
		conditions.MarkFalse(p, streamv1.ConditionReady, streamv1.ReasonDisabled, "%s %s is resolved at %s but disabled", m.Name, m.Version, p.Status.Revision)
		return nil
	}
	conditions.MarkTrue(p, streamv1.ConditionReady, streamv1.ReasonInstalled, "Installed %s %s at %s%s", m.Name, m.Version, p.Status.Revision, note)
	return nil
}

func catalogEntry(repo *streamv1.PluginRepository, name string) *streamv1.IndexedPlugin {
	for i := range repo.Status.Plugins {
		if repo.Status.Plugins[i].Name == name {
			return &repo.Status.Plugins[i]
		}
	}
	return nil
}
