package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/manifest"
	"github.com/streamspace/streamspace/portal/audit"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/gitwrite"
	"github.com/streamspace/streamspace/portal/store"
)

// PluginsAPI serves /api/v1/plugins: the catalog the PluginRepositories
// publish, the installed Plugins with their state, and an admin's install,
// enable, disable, configure, approve and uninstall. Like template and
// quota edits, a change is never written to the cluster: it becomes a pull
// request (or a commit) on the Plugin's YAML in the platform repository,
// and takes effect when the agent syncs it.
type PluginsAPI struct {
	Client    client.Client
	Namespace string
	// Writer proposes changes; nil: write-back is not configured (503).
	Writer *gitwrite.Writer
	// Users give the proposing admin's email to the commit.
	Users UserDirectory
	Audit *audit.Log
	// History reads back the proposals (the audit log), for the pull
	// requests still pending.
	History AuditReader
	// Deliveries reads each plugin's event delivery state (the outbox's);
	// nil: none shown.
	Deliveries DeliveryReader
	// Reader reads what the portal may only get, never list or watch (a
	// plugin repository and its credentials, for the theme's logo);
	// nil: Client.
	Reader client.Reader

	logo logoCache
}

// AuditReader reads the audit log.
type AuditReader interface {
	AuditLog(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error)
}

// DeliveryReader reads the plugins' delivery state.
type DeliveryReader interface {
	PluginDeliveries(ctx context.Context) ([]store.PluginDelivery, error)
}

// PluginDeliveryView is how a plugin's events are being delivered.
type PluginDeliveryView struct {
	Delivered int64 `json:"delivered"`
	Failed    int64 `json:"failed"`
	Pending   int64 `json:"pending"`
	Attempts  int   `json:"attempts"`
	// LastError is shown to admins only: it may name a host or echo a
	// receiver's answer.
	LastError   string     `json:"lastError,omitempty"`
	LastAttempt *time.Time `json:"lastAttempt,omitempty"`
	LastSuccess *time.Time `json:"lastSuccess,omitempty"`
}

// CatalogPluginView is one plugin version a repository offers.
type CatalogPluginView struct {
	Repository   string                       `json:"repository"`
	Name         string                       `json:"name"`
	Version      string                       `json:"version"`
	Revision     string                       `json:"revision"`
	DisplayName  string                       `json:"displayName"`
	Description  string                       `json:"description,omitempty"`
	Type         string                       `json:"type"`
	Category     string                       `json:"category,omitempty"`
	Icon         string                       `json:"icon,omitempty"`
	Events       []string                     `json:"events"`
	Permissions  []streamv1.CatalogPermission `json:"permissions"`
	ExceedsTrust bool                         `json:"exceedsTrust"`
	ConfigSchema json.RawMessage              `json:"configSchema,omitempty"`
	// Installed names the Plugin objects installed from it, any version.
	Installed []string `json:"installed"`
}

// PluginRepositoryView is a repository's sync state. Broken manifests
// are shown to admins only.
type PluginRepositoryView struct {
	Name               string                  `json:"name"`
	URL                string                  `json:"url"`
	Ready              string                  `json:"ready"`
	Reason             string                  `json:"reason,omitempty"`
	Message            string                  `json:"message,omitempty"`
	LastSyncedRevision string                  `json:"lastSyncedRevision,omitempty"`
	MaxRisk            string                  `json:"maxRisk,omitempty"`
	Plugins            int                     `json:"plugins"`
	Broken             []streamv1.BrokenPlugin `json:"broken"`
}

// Catalog returns every repository and the plugins it offers, by display
// name. Every signed-in user may browse it.
func (a *PluginsAPI) Catalog(c *gin.Context) {
	repos, plugins, err := a.read(c)
	if err != nil {
		Fail(c, err)
		return
	}
	installed := map[string][]string{}
	for _, p := range plugins {
		k := p.Spec.Repository.Name + "/" + p.Spec.PluginName
		installed[k] = append(installed[k], p.Name)
	}
	admin := auth.Principal(c).IsAdmin()
	views := []PluginRepositoryView{}
	entries := []CatalogPluginView{}
	for _, r := range repos {
		v := PluginRepositoryView{Name: r.Name, URL: withoutCredentials(r.Spec.URL), Ready: "Unknown",
			LastSyncedRevision: r.Status.LastSyncedRevision, MaxRisk: r.Status.MaxRisk, Plugins: len(r.Status.Plugins), Broken: []streamv1.BrokenPlugin{}}
		if cond := meta.FindStatusCondition(r.Status.Conditions, "Ready"); cond != nil {
			v.Ready, v.Reason, v.Message = string(cond.Status), cond.Reason, cond.Message
		}
		if admin {
			v.Broken = append(v.Broken, r.Status.Broken...)
		}
		views = append(views, v)
		for _, p := range r.Status.Plugins {
			e := CatalogPluginView{Repository: r.Name, Name: p.Name, Version: p.Version, Revision: p.Revision, DisplayName: p.DisplayName,
				Description: p.Description, Type: p.Type, Category: p.Category, Icon: p.Icon, Events: orEmpty(p.Events),
				Permissions: orEmpty(p.Permissions), ExceedsTrust: p.ExceedsTrust, Installed: orEmpty(installed[r.Name+"/"+p.Name])}
			if e.DisplayName == "" {
				e.DisplayName = p.Name
			}
			if p.ConfigSchema != nil {
				e.ConfigSchema = p.ConfigSchema.Raw
			}
			entries = append(entries, e)
		}
	}
	sort.SliceStable(entries, func(i, j int) bool {
		x, y := entries[i], entries[j]
		if x.DisplayName != y.DisplayName {
			return x.DisplayName < y.DisplayName
		}
		return x.Repository < y.Repository
	})
	c.JSON(http.StatusOK, gin.H{"repositories": views, "plugins": entries})
}

// InstalledPluginView is one Plugin object and its state.
type InstalledPluginView struct {
	Name                string                      `json:"name"`
	Repository          string                      `json:"repository"`
	PluginName          string                      `json:"pluginName"`
	Version             string                      `json:"version"`
	DisplayName         string                      `json:"displayName"`
	Type                string                      `json:"type,omitempty"`
	Enabled             bool                        `json:"enabled"`
	ApprovedPermissions []string                    `json:"approvedPermissions"`
	Permissions         []streamv1.PluginPermission `json:"permissions"`
	// Config is shown to admins only: it may hold a webhook's address or
	// a token.
	Config       json.RawMessage `json:"config,omitempty"`
	ConfigSchema json.RawMessage `json:"configSchema,omitempty"`
	Ready        string          `json:"ready"`
	Reason       string          `json:"reason,omitempty"`
	Message      string          `json:"message,omitempty"`
	Conditions   []ConditionView `json:"conditions"`
	// Proposals are the admins' changes to this plugin, newest first
	// (admins only).
	Proposals []PluginProposalView `json:"proposals"`
	// Delivery of its events; absent before its first.
	Delivery *PluginDeliveryView `json:"delivery,omitempty"`
}

// PluginProposalView is one change an admin proposed.
type PluginProposalView struct {
	Plugin string    `json:"plugin"`
	Action string    `json:"action"`
	Actor  string    `json:"actor"`
	At     time.Time `json:"at"`
	// Mode is pull-request or commit; URL the pull request's.
	Mode   string `json:"mode"`
	URL    string `json:"url,omitempty"`
	Commit string `json:"commit,omitempty"`
}

// Installed returns every Plugin object, by name.
func (a *PluginsAPI) Installed(c *gin.Context) {
	repos, plugins, err := a.read(c)
	if err != nil {
		Fail(c, err)
		return
	}
	admin := auth.Principal(c).IsAdmin()
	var proposals []PluginProposalView
	if admin {
		if proposals, err = a.proposals(c); err != nil {
			Fail(c, err)
			return
		}
	}
	deliveries := map[string]store.PluginDelivery{}
	if a.Deliveries != nil {
		list, err := a.Deliveries.PluginDeliveries(c)
		if err != nil {
			Fail(c, err)
			return
		}
		for _, d := range list {
			deliveries[d.Plugin] = d
		}
	}
	out := make([]InstalledPluginView, 0, len(plugins))
	for i := range plugins {
		p := &plugins[i]
		v := InstalledPluginView{Name: p.Name, Repository: p.Spec.Repository.Name, PluginName: p.Spec.PluginName, Version: p.Spec.Version,
			DisplayName: p.Spec.PluginName, Enabled: p.Spec.Enabled, ApprovedPermissions: orEmpty(p.Spec.ApprovedPermissions),
			Permissions: orEmpty(p.Status.Permissions), Ready: "Unknown", Conditions: conditionViews(p.Status.Conditions), Proposals: []PluginProposalView{}}
		if entry := findEntry(repos, p.Spec.Repository.Name, p.Spec.PluginName, p.Spec.Version); entry != nil {
			v.Type = entry.Type
			if entry.DisplayName != "" {
				v.DisplayName = entry.DisplayName
			}
			if entry.ConfigSchema != nil {
				v.ConfigSchema = entry.ConfigSchema.Raw
			}
		}
		if cond := meta.FindStatusCondition(p.Status.Conditions, "Ready"); cond != nil {
			v.Ready, v.Reason, v.Message = string(cond.Status), cond.Reason, cond.Message
		}
		if d, ok := deliveries[p.Name]; ok {
			v.Delivery = &PluginDeliveryView{Delivered: d.Delivered, Failed: d.Failed, Pending: d.Pending, Attempts: d.Attempts,
				LastAttempt: d.LastAttempt, LastSuccess: d.LastSuccess}
			if admin {
				v.Delivery.LastError = d.LastError
			}
		}
		if admin {
			if p.Spec.Config != nil {
				v.Config = p.Spec.Config.Raw
			}
			for _, pr := range proposals {
				if pr.Plugin == p.Name {
					v.Proposals = append(v.Proposals, pr)
				}
			}
		}
		out = append(out, v)
	}
	c.JSON(http.StatusOK, gin.H{"plugins": out})
}

// Proposals returns the admins' plugin changes, newest first, for the
// admin page's list of pull requests (a Plugin whose install is pending
// has no object yet, so it is not in Installed).
func (a *PluginsAPI) Proposals(c *gin.Context) {
	out, err := a.proposals(c)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"proposals": out})
}

// pluginActions are the audit actions of plugin changes.
var pluginActions = []string{audit.AdminPluginInstall, audit.AdminPluginEnable, audit.AdminPluginDisable,
	audit.AdminPluginConfigure, audit.AdminPluginApprove, audit.AdminPluginUninstall}

// proposals reads the latest plugin changes back from the audit log, where
// each was recorded with where it went ("<mode> <url or commit>").
func (a *PluginsAPI) proposals(ctx context.Context) ([]PluginProposalView, error) {
	out := []PluginProposalView{}
	if a.History == nil {
		return out, nil
	}
	for _, action := range pluginActions {
		events, err := a.History.AuditLog(ctx, store.AuditFilter{Action: action, Limit: 50})
		if err != nil {
			return nil, err
		}
		for _, e := range events {
			p := PluginProposalView{Plugin: e.Target, Action: strings.TrimPrefix(action, "admin.plugin."), Actor: e.Actor, At: e.At}
			mode, where, _ := strings.Cut(e.Detail, " ")
			p.Mode = mode
			if mode == gitwrite.ModePullRequest {
				p.URL = where
			} else {
				p.Commit = where
			}
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	return out, nil
}

// InstallRequest installs a plugin of the catalog.
type InstallRequest struct {
	Repository string `json:"repository"`
	Plugin     string `json:"plugin"`
	Version    string `json:"version"`
	// Name of the Plugin object; the plugin's name when empty.
	Name                string          `json:"name"`
	Enabled             bool            `json:"enabled"`
	Config              json.RawMessage `json:"config"`
	ApprovedPermissions []string        `json:"approvedPermissions"`
	Reason              string          `json:"reason"`
}

// Install proposes a new Plugin object.
func (a *PluginsAPI) Install(c *gin.Context) {
	if !a.configured(c) {
		return
	}
	var req InstallRequest
	if !bindStrict(c, &req) {
		return
	}
	if req.Name == "" {
		req.Name = req.Plugin
	}
	fields := map[string]string{}
	for k, v := range map[string]string{"repository": req.Repository, "plugin": req.Plugin, "version": req.Version} {
		if v == "" {
			fields[k] = "required"
		}
	}
	if errs := validation.IsDNS1123Subdomain(req.Name); len(errs) > 0 {
		fields["name"] = strings.Join(errs, "; ")
	}
	if len(req.Reason) > 200 {
		fields["reason"] = "at most 200 characters: it titles the pull request"
	}
	if len(fields) > 0 {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "the request has invalid fields", Fields: fields})
		return
	}
	repo := &streamv1.PluginRepository{}
	if err := a.Client.Get(c, client.ObjectKey{Namespace: a.Namespace, Name: req.Repository}, repo); err != nil {
		Fail(c, notFound(err, "plugin repository", req.Repository))
		return
	}
	entry := findEntry([]streamv1.PluginRepository{*repo}, req.Repository, req.Plugin, req.Version)
	if entry == nil {
		Fail(c, Errorf(http.StatusNotFound, CodeNotFound, fmt.Sprintf("plugin repository %s offers no %s %s", req.Repository, req.Plugin, req.Version)))
		return
	}
	existing := &streamv1.Plugin{}
	switch err := a.Client.Get(c, client.ObjectKey{Namespace: a.Namespace, Name: req.Name}, existing); {
	case err == nil:
		Fail(c, Errorf(http.StatusConflict, CodeConflict, fmt.Sprintf("a Plugin %q is already installed", req.Name)))
		return
	case !apierrors.IsNotFound(err):
		Fail(c, err)
		return
	}
	p := &streamv1.Plugin{TypeMeta: metav1.TypeMeta{APIVersion: streamv1.GroupVersion.String(), Kind: "Plugin"},
		ObjectMeta: metav1.ObjectMeta{Name: req.Name, Namespace: a.Namespace},
		Spec: streamv1.PluginSpec{Repository: streamv1.LocalObjectReference{Name: req.Repository}, PluginName: req.Plugin,
			Version: req.Version, Enabled: req.Enabled}}
	if len(req.Config) > 0 && string(req.Config) != "null" {
		p.Spec.Config = &apiextensionsv1.JSON{Raw: req.Config}
	}
	if len(req.ApprovedPermissions) > 0 {
		p.Spec.ApprovedPermissions = req.ApprovedPermissions
	}
	if !a.check(c, p, entry) {
		return
	}
	if err := a.Client.Create(c, p.DeepCopy(), client.DryRunAll, client.FieldOwner(FieldManager)); err != nil {
		Fail(c, apiServerRefusal(err))
		return
	}
	reason := req.Reason
	if reason == "" {
		reason = fmt.Sprintf("Install plugin %s %s from %s", req.Plugin, req.Version, req.Repository)
	}
	a.propose(c, audit.AdminPluginInstall, gitwrite.Change{Op: gitwrite.OpCreate, Kind: "Plugin", Name: req.Name, Object: p, Reason: reason})
}

// PluginChangeRequest is the body of enable, disable and uninstall: why
// (optional; a title is made up without it).
type PluginChangeRequest struct {
	Reason string `json:"reason"`
}

// Enable proposes spec.enabled: true.
func (a *PluginsAPI) Enable(c *gin.Context) {
	a.edit(c, audit.AdminPluginEnable, "Enable plugin %s", func(p *streamv1.Plugin, _ *streamv1.IndexedPlugin) error {
		p.Spec.Enabled = true
		return nil
	})
}

// Disable proposes spec.enabled: false.
func (a *PluginsAPI) Disable(c *gin.Context) {
	a.edit(c, audit.AdminPluginDisable, "Disable plugin %s", func(p *streamv1.Plugin, _ *streamv1.IndexedPlugin) error {
		p.Spec.Enabled = false
		return nil
	})
}

// ConfigRequest is a plugin's whole new configuration.
type ConfigRequest struct {
	Config json.RawMessage `json:"config"`
	Reason string          `json:"reason"`
}

// Configure proposes a new spec.config, checked against the plugin's
// schema first.
func (a *PluginsAPI) Configure(c *gin.Context) {
	var req ConfigRequest
	if !a.configured(c) || !bindStrict(c, &req) {
		return
	}
	if len(req.Config) == 0 || string(req.Config) == "null" {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "config is required: the whole new configuration", Fields: map[string]string{"config": "required"}})
		return
	}
	a.editWith(c, req.Reason, audit.AdminPluginConfigure, "Configure plugin %s", func(p *streamv1.Plugin, _ *streamv1.IndexedPlugin) error {
		p.Spec.Config = &apiextensionsv1.JSON{Raw: req.Config}
		return nil
	})
}

// PermissionsRequest is the whole new list of approved permissions.
type PermissionsRequest struct {
	ApprovedPermissions []string `json:"approvedPermissions"`
	Reason              string   `json:"reason"`
}

// Approve proposes spec.approvedPermissions.
func (a *PluginsAPI) Approve(c *gin.Context) {
	var req PermissionsRequest
	if !a.configured(c) || !bindStrict(c, &req) {
		return
	}
	if req.ApprovedPermissions == nil {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "approvedPermissions is required: the whole list ([] approves none)",
			Fields: map[string]string{"approvedPermissions": "required"}})
		return
	}
	a.editWith(c, req.Reason, audit.AdminPluginApprove, "Approve permissions of plugin %s", func(p *streamv1.Plugin, _ *streamv1.IndexedPlugin) error {
		p.Spec.ApprovedPermissions = req.ApprovedPermissions
		if len(req.ApprovedPermissions) == 0 {
			p.Spec.ApprovedPermissions = nil
		}
		return nil
	})
}

// Uninstall proposes removing the Plugin's YAML from Git.
func (a *PluginsAPI) Uninstall(c *gin.Context) {
	var req PluginChangeRequest
	if !a.configured(c) || !bindOptional(c, &req) {
		return
	}
	live, ok := a.live(c)
	if !ok {
		return
	}
	reason := req.Reason
	if reason == "" {
		reason = fmt.Sprintf("Uninstall plugin %s", live.Name)
	}
	a.propose(c, audit.AdminPluginUninstall, gitwrite.Change{Op: gitwrite.OpDelete, Kind: "Plugin", Name: live.Name, Object: live, Reason: reason})
}

// edit reads an optional {reason} and proposes the edit.
func (a *PluginsAPI) edit(c *gin.Context, action, title string, change func(*streamv1.Plugin, *streamv1.IndexedPlugin) error) {
	var req PluginChangeRequest
	if !a.configured(c) || !bindOptional(c, &req) {
		return
	}
	a.editWith(c, req.Reason, action, title, change)
}

// editWith applies change to the live Plugin, checks the result as an
// install is checked, and proposes it.
func (a *PluginsAPI) editWith(c *gin.Context, reason, action, title string, change func(*streamv1.Plugin, *streamv1.IndexedPlugin) error) {
	if len(reason) > 200 {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "the request has invalid fields", Fields: map[string]string{"reason": "at most 200 characters: it titles the pull request"}})
		return
	}
	live, ok := a.live(c)
	if !ok {
		return
	}
	repo := &streamv1.PluginRepository{}
	var entry *streamv1.IndexedPlugin
	if err := a.Client.Get(c, client.ObjectKey{Namespace: a.Namespace, Name: live.Spec.Repository.Name}, repo); err == nil {
		entry = findEntry([]streamv1.PluginRepository{*repo}, repo.Name, live.Spec.PluginName, live.Spec.Version)
	} else if !apierrors.IsNotFound(err) {
		Fail(c, err)
		return
	}
	edited := live.DeepCopy()
	if err := change(edited, entry); err != nil {
		Fail(c, err)
		return
	}
	if entry == nil {
		// Without the catalog entry the schema and the permissions cannot
		// be checked; only turning a plugin off needs neither.
		if action != audit.AdminPluginDisable {
			Fail(c, Errorf(http.StatusConflict, CodeConflict, fmt.Sprintf("plugin repository %s offers no %s %s (any more): only disable or uninstall it",
				live.Spec.Repository.Name, live.Spec.PluginName, live.Spec.Version)))
			return
		}
	} else if !a.check(c, edited, entry) {
		return
	}
	if err := a.Client.Update(c, edited.DeepCopy(), client.DryRunAll, client.FieldOwner(FieldManager)); err != nil {
		Fail(c, apiServerRefusal(err))
		return
	}
	if reason == "" {
		reason = fmt.Sprintf(title, live.Name)
	}
	a.propose(c, action, gitwrite.Change{Kind: "Plugin", Name: live.Name, Object: edited, Base: live, Reason: reason})
}

// check refuses, before anything reaches Git, a Plugin the agent would not
// run: a config its schema refuses (422 with the schema's message), an
// approval of a permission the plugin does not ask for or beyond its
// repository's trust, and enabling a plugin that exceeds that trust.
func (a *PluginsAPI) check(c *gin.Context, p *streamv1.Plugin, entry *streamv1.IndexedPlugin) bool {
	if p.Spec.Config != nil {
		var schema []byte
		if entry.ConfigSchema != nil {
			schema = entry.ConfigSchema.Raw
		}
		if err := validateConfig(schema, p.Spec.Config.Raw); err != nil {
			Fail(c, &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalid, Message: "config: " + err.Error(), Fields: map[string]string{"config": err.Error()}})
			return false
		}
	}
	asked := map[string]streamv1.CatalogPermission{}
	for _, perm := range entry.Permissions {
		asked[perm.Name] = perm
	}
	for _, perm := range p.Spec.ApprovedPermissions {
		got, ok := asked[perm]
		switch {
		case !ok:
			Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: fmt.Sprintf("%s %s does not ask for the permission %q", entry.Name, entry.Version, perm),
				Fields: map[string]string{"approvedPermissions": "not asked for: " + perm}})
			return false
		case got.BeyondTrust:
			Fail(c, &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: fmt.Sprintf("the permission %q (%s risk) is beyond what repository %s may be granted", perm, got.Risk, p.Spec.Repository.Name),
				Fields: map[string]string{"approvedPermissions": "beyond trust: " + perm}})
			return false
		}
	}
	if p.Spec.Enabled && entry.ExceedsTrust {
		Fail(c, Errorf(http.StatusForbidden, CodeForbidden, fmt.Sprintf("%s %s asks for permissions beyond what repository %s may be granted: it cannot be enabled", entry.Name, entry.Version, p.Spec.Repository.Name)))
		return false
	}
	return true
}

// validateConfig checks a configuration against the plugin's schema; a
// plugin without a schema takes only an empty object.
func validateConfig(schema, config []byte) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(config))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("not JSON: %v", err)
	}
	obj, isObject := v.(map[string]any)
	if !isObject {
		return errors.New("must be an object")
	}
	if len(schema) == 0 {
		if len(obj) > 0 {
			return errors.New("this plugin takes no configuration (its manifest has no configSchema)")
		}
		return nil
	}
	s, err := manifest.CompileSchema(schema)
	if err != nil {
		return fmt.Errorf("the plugin's configSchema does not compile: %v", err)
	}
	if err := s.Validate(v); err != nil {
		return errors.New(schemaMessage(err))
	}
	return nil
}

// schemaMessage keeps the lines of the validator's tree that say what is
// wrong, on one line.
func schemaMessage(err error) string {
	lines := strings.Split(err.Error(), "\n")
	var out []string
	for _, l := range lines[1:] {
		if l = strings.TrimPrefix(strings.TrimSpace(l), "- "); l != "" {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return lines[0]
	}
	return strings.Join(out, "; ")
}

// propose writes the change to Git and answers with where it went.
func (a *PluginsAPI) propose(c *gin.Context, action string, ch gitwrite.Change) {
	res := writeBack{a.Writer, a.Users}.propose(c, ch)
	if res == nil {
		return
	}
	detail := res.Mode + " " + res.Commit
	if res.URL != "" {
		detail = res.Mode + " " + res.URL
	}
	audited(c, a.Audit, action, ch.Name, detail)
	c.JSON(http.StatusAccepted, res)
}

func (a *PluginsAPI) configured(c *gin.Context) bool {
	return writeBack{a.Writer, a.Users}.configured(c)
}

// live reads the Plugin the path names.
func (a *PluginsAPI) live(c *gin.Context) (*streamv1.Plugin, bool) {
	p := &streamv1.Plugin{}
	if err := a.Client.Get(c, client.ObjectKey{Namespace: a.Namespace, Name: c.Param("id")}, p); err != nil {
		Fail(c, notFound(err, "Plugin", c.Param("id")))
		return nil, false
	}
	return p, true
}

// read lists the repositories and the installed plugins.
func (a *PluginsAPI) read(ctx context.Context) ([]streamv1.PluginRepository, []streamv1.Plugin, error) {
	var repos streamv1.PluginRepositoryList
	if err := a.Client.List(ctx, &repos, client.InNamespace(a.Namespace)); err != nil {
		return nil, nil, err
	}
	var plugins streamv1.PluginList
	if err := a.Client.List(ctx, &plugins, client.InNamespace(a.Namespace)); err != nil {
		return nil, nil, err
	}
	sort.Slice(repos.Items, func(i, j int) bool { return repos.Items[i].Name < repos.Items[j].Name })
	sort.Slice(plugins.Items, func(i, j int) bool { return plugins.Items[i].Name < plugins.Items[j].Name })
	return repos.Items, plugins.Items, nil
}

// findEntry is the catalog entry of a plugin version, or nil.
func findEntry(repos []streamv1.PluginRepository, repo, plugin, version string) *streamv1.IndexedPlugin {
	for i := range repos {
		if repos[i].Name != repo {
			continue
		}
		for j := range repos[i].Status.Plugins {
			if e := &repos[i].Status.Plugins[j]; e.Name == plugin && e.Version == version {
				return e
			}
		}
	}
	return nil
}

func conditionViews(conds []metav1.Condition) []ConditionView {
	out := make([]ConditionView, 0, len(conds))
	for _, c := range conds {
		out = append(out, ConditionView{Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message, Since: c.LastTransitionTime.Time})
	}
	return out
}

// notFound answers a failed read of kind/name.
func notFound(err error, kind, name string) error {
	if apierrors.IsNotFound(err) {
		return Errorf(http.StatusNotFound, CodeNotFound, fmt.Sprintf("no %s %q", kind, name))
	}
	return err
}

// apiServerRefusal is the API server's dry-run refusal of an object.
func apiServerRefusal(err error) error {
	if apierrors.IsInvalid(err) {
		return invalidObject(err)
	}
	return kubeError(err)
}

// bindStrict decodes a JSON body, refusing fields the shape does not have
// (a misspelt "aprovedPermissions" must not approve nothing silently).
func bindStrict(c *gin.Context, v any) bool {
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "the body must be JSON of the documented shape: " + err.Error()})
		return false
	}
	return true
}

// bindOptional is bindStrict for a body that may be absent.
func bindOptional(c *gin.Context, v any) bool {
	if c.Request.Body == nil || c.Request.Body == http.NoBody || c.Request.ContentLength == 0 {
		return true
	}
	return bindStrict(c, v)
}

// withoutCredentials drops a user:password@ from a repository URL.
func withoutCredentials(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
