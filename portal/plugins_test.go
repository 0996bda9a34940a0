package portal_test

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/gitwrite"
	"github.com/streamspace/streamspace/portal/store"
)

// pluginSchema is the audit exporter's configuration schema in the test
// catalog: a required https endpoint and a bounded batch size.
const pluginSchema = `{"type":"object","required":["endpoint"],"additionalProperties":false,
"properties":{"endpoint":{"type":"string","format":"uri","pattern":"^https://"},"batch":{"type":"integer","minimum":1,"maximum":100}}}`

// seedPluginRepository makes a PluginRepository whose status is the
// catalog the agent would publish: an exporter (low risk), a theme, a
// plugin beyond the repository's trust, and a broken folder.
func seedPluginRepository(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	repo := &streamv1.PluginRepository{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: streamv1.PluginRepositorySpec{URL: "https://reader:s3cret@git.example.com/plugins.git"}}
	if err := env.Client.Create(ctx, repo); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), repo) })
	rev := "main@sha1:0123456789abcdef0123456789abcdef01234567"
	repo.Status = streamv1.PluginRepositoryStatus{LastSyncedRevision: rev, MaxRisk: "medium",
		Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Indexed", Message: "3 plugins", LastTransitionTime: metav1.Now()}},
		Plugins: []streamv1.IndexedPlugin{
			{Name: "audit-exporter", Version: "1.0.0", Revision: rev, Path: "audit-exporter", DisplayName: "Audit exporter", Type: "webhook", Category: "Compliance",
				Events: []string{"session.created"}, Permissions: []streamv1.CatalogPermission{{Name: "events:session.*", Risk: "low"}},
				ConfigSchema: &apiextensionsv1.JSON{Raw: []byte(pluginSchema)}},
			{Name: "midnight-theme", Version: "1.0.0", Revision: rev, Path: "midnight-theme", DisplayName: "Midnight", Type: "ui-theme"},
			{Name: "night-watch", Version: "2.0.0", Revision: rev, Path: "night-watch", DisplayName: "Night watch", Type: "extension", ExceedsTrust: true,
				Permissions: []streamv1.CatalogPermission{{Name: "events:session.*", Risk: "low"}, {Name: "sessions:hibernate", Risk: "high", BeyondTrust: true}}},
		},
		Broken: []streamv1.BrokenPlugin{{Path: "half-done", Problems: []string{"half-done/plugin.yaml:3: type \"x\" is not one of extension, webhook, api-integration, ui-theme, cli"}}},
	}
	if err := env.Client.Status().Update(ctx, repo); err != nil {
		t.Fatal(err)
	}
}

// pluginPlatform is a platform repository on a real Git server holding
// the installed audit exporter's YAML, and a portal that writes back to it
// with pull requests on the GitHub stand-in.
func pluginPlatform(t *testing.T) (*httptest.Server, *git.Repository, *gitHubStandIn) {
	t.Helper()
	files := map[string]string{
		"policies/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - plugins/audit-exporter.yaml\n",
		"policies/plugins/audit-exporter.yaml": `# Sends every session event to the SIEM.
apiVersion: stream.space/v1alpha1
kind: Plugin
metadata:
  name: audit-exporter
spec:
  repository:
    name: test-plugins
  pluginName: audit-exporter
  version: 1.0.0
  config:
    endpoint: https://siem.example.com/in
`,
	}
	gitURL, repo := platformRepo(t, files)
	gh := &gitHubStandIn{}
	own := httptest.NewServer(portal.NewRouter(newHandlers(func(c *portal.Components) { c.Writer = writerTo(t, gitURL, gh) })))
	t.Cleanup(own.Close)
	return own, repo, gh
}

// platformRepo is a platform repository holding files on a real Git
// server (HTTP, token auth): its URL, and the server's copy to read
// branches from.
func platformRepo(t *testing.T, files map[string]string) (string, *git.Repository) {
	t.Helper()
	log.SetOutput(io.Discard) // gitkit logs every request
	content := t.TempDir()
	for name, text := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(content, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(content, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitSrv, err := gittestserver.NewTempGitServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(gitSrv.Root()) })
	gitSrv.Auth("git", "git-write-token")
	if err := gitSrv.StartHTTP(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gitSrv.StopHTTP)
	if err := gitSrv.InitRepo(content, "main", "platform.git"); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainOpen(filepath.Join(gitSrv.Root(), "platform.git"))
	if err != nil {
		t.Fatal(err)
	}
	return gitSrv.HTTPAddress() + "/platform.git", repo
}

// writerTo writes back to the repository at gitURL (under policies/),
// opening pull requests on the GitHub stand-in gh.
func writerTo(t *testing.T, gitURL string, gh http.Handler) *gitwrite.Writer {
	t.Helper()
	ghSrv := httptest.NewServer(gh)
	t.Cleanup(ghSrv.Close)
	w, err := gitwrite.New(gitwrite.Config{URL: gitURL, Paths: []string{"policies"},
		Auth:   gitwrite.Auth{Username: "git", Token: "git-write-token"},
		GitHub: &gitwrite.GitHubConfig{BaseURL: ghSrv.URL, Owner: "acme", Repo: "platform", Token: "gh-write-token"}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// fileAt is a file of a branch of repo, "" when the branch lacks it.
func fileAt(t *testing.T, repo *git.Repository, branch, path string) string {
	t.Helper()
	ref, err := repo.Reference(plumbing.NewBranchReferenceName(branch), true)
	if err != nil {
		t.Fatalf("branch %s: %v", branch, err)
	}
	commit, err := repo.CommitObject(ref.Hash())
	if err != nil {
		t.Fatal(err)
	}
	f, err := commit.File(path)
	if err != nil {
		return ""
	}
	text, _ := f.Contents()
	return text
}

// TestPlugins_installConfigureApproveUninstall_byPullRequest: every admin
// change to a plugin is checked (catalog, schema, permissions, trust)
// before it reaches Git, then becomes a pull request on the Plugin's YAML;
// the cluster is never written; users browse but change nothing and see
// no configuration.
func TestPlugins_installConfigureApproveUninstall_byPullRequest(t *testing.T) {
	ctx := context.Background()
	start := time.Now() // other tests' plugin changes share the audit log
	seedPluginRepository(t, "test-plugins")
	own, repo, gh := pluginPlatform(t)
	at := func(method, path, token string, body any) response {
		t.Helper()
		return callAt(t, own.URL, method, path, token, body)
	}
	root, _ := login(t, "root")
	alice, _ := login(t, "alice")

	// the catalog, for everyone; broken manifests and credentials for nobody but admins
	cat := at(http.MethodGet, "/api/v1/plugins/catalog", alice, nil)
	if cat.Status != http.StatusOK || len(cat.Body["plugins"].([]any)) != 3 {
		t.Fatalf("catalog: %d %v", cat.Status, cat.Body)
	}
	first := cat.Body["plugins"].([]any)[0].(map[string]any)
	if first["name"] != "audit-exporter" || first["configSchema"] == nil || first["permissions"].([]any)[0].(map[string]any)["risk"] != "low" {
		t.Errorf("catalog entry: %v", first)
	}
	r0 := cat.Body["repositories"].([]any)[0].(map[string]any)
	if strings.Contains(r0["url"].(string), "s3cret") || len(r0["broken"].([]any)) != 0 || r0["ready"] != "True" {
		t.Errorf("repository as a user: %v", r0)
	}
	cat = at(http.MethodGet, "/api/v1/plugins/catalog", root, nil)
	if b := cat.Body["repositories"].([]any)[0].(map[string]any)["broken"].([]any); len(b) != 1 || !strings.Contains(b[0].(map[string]any)["problems"].([]any)[0].(string), "plugin.yaml:3:") {
		t.Errorf("broken manifests as admin: %v", b)
	}

	// installed from Git already (its YAML is in the platform repository)
	live := &streamv1.Plugin{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "audit-exporter"}, Spec: streamv1.PluginSpec{
		Repository: streamv1.LocalObjectReference{Name: "test-plugins"}, PluginName: "audit-exporter", Version: "1.0.0",
		Config: &apiextensionsv1.JSON{Raw: []byte(`{"endpoint":"https://siem.example.com/in"}`)}}}
	if err := env.Client.Create(ctx, live); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), live) })
	// refused before Git: by who asks, by the catalog, the schema, the
	// permissions and the repository's trust
	install := map[string]any{"repository": "test-plugins", "plugin": "night-watch", "version": "2.0.0", "name": "watch"}
	refusals := []struct {
		who    string
		token  string
		body   map[string]any
		status int
		says   string
	}{
		{"a user", alice, install, http.StatusForbidden, "admins only"},
		{"unknown version", root, map[string]any{"repository": "test-plugins", "plugin": "night-watch", "version": "9.9.9"}, http.StatusNotFound, "offers no night-watch 9.9.9"},
		{"unknown repository", root, map[string]any{"repository": "nowhere", "plugin": "x", "version": "1.0.0"}, http.StatusNotFound, "nowhere"},
		{"misspelt field", root, map[string]any{"repository": "test-plugins", "plugin": "night-watch", "version": "2.0.0", "aprovedPermissions": []string{}}, http.StatusBadRequest, "aprovedPermissions"},
		{"bad name", root, map[string]any{"repository": "test-plugins", "plugin": "night-watch", "version": "2.0.0", "name": "Watch!"}, http.StatusBadRequest, "invalid fields"},
		{"beyond trust", root, map[string]any{"repository": "test-plugins", "plugin": "night-watch", "version": "2.0.0", "approvedPermissions": []string{"sessions:hibernate"}}, http.StatusForbidden, "beyond what repository test-plugins"},
		{"enabled beyond trust", root, map[string]any{"repository": "test-plugins", "plugin": "night-watch", "version": "2.0.0", "enabled": true}, http.StatusForbidden, "cannot be enabled"},
		{"permission not asked", root, map[string]any{"repository": "test-plugins", "plugin": "night-watch", "version": "2.0.0", "approvedPermissions": []string{"network:evil.example.com"}}, http.StatusBadRequest, "does not ask"},
		{"config the schema refuses", root, map[string]any{"repository": "test-plugins", "plugin": "audit-exporter", "version": "1.0.0", "name": "exporter-2",
			"config": map[string]any{"endpoint": "http://plain.example.com"}}, http.StatusUnprocessableEntity, "/endpoint"},
		{"already installed", root, map[string]any{"repository": "test-plugins", "plugin": "audit-exporter", "version": "1.0.0"}, http.StatusConflict, "already installed"},
	}
	for _, c := range refusals {
		r := at(http.MethodPost, "/api/v1/plugins/install", c.token, c.body)
		msg, _ := r.Body["error"].(map[string]any)["message"].(string)
		if r.Status != c.status || !strings.Contains(msg, c.says) {
			t.Errorf("install, %s: %d %v; want %d saying %q", c.who, r.Status, r.Body, c.status, c.says)
		}
	}
	if len(gh.calls) != 0 {
		t.Fatalf("a refused change reached GitHub: %v", gh.calls)
	}

	// an install: a new file and a pull request; the cluster untouched
	r := at(http.MethodPost, "/api/v1/plugins/install", root, map[string]any{"repository": "test-plugins", "plugin": "night-watch", "version": "2.0.0",
		"name": "watch", "approvedPermissions": []string{"events:session.*"}})
	if r.Status != http.StatusAccepted || r.Body["mode"] != "pull-request" || r.Body["url"] == nil {
		t.Fatalf("install: %d %v", r.Status, r.Body)
	}
	text := fileAt(t, repo, r.Body["branch"].(string), r.Body["file"].(string))
	for _, want := range []string{"kind: Plugin", "name: watch", "pluginName: night-watch", "version: 2.0.0", "events:session.*"} {
		if !strings.Contains(text, want) {
			t.Errorf("installed YAML lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "namespace:") || strings.Contains(text, "status") {
		t.Errorf("installed YAML carries cluster fields:\n%s", text)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "watch"}, &streamv1.Plugin{}); err == nil {
		t.Error("the portal created the Plugin itself")
	}

	// edits of the installed one, each a pull request on its file
	path := "/api/v1/plugins/audit-exporter"
	if r := at(http.MethodPut, path+"/config", root, map[string]any{"config": map[string]any{"endpoint": "https://siem.example.com/in", "batch": 1000}}); r.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(r.Body["error"].(map[string]any)["fields"].(map[string]any)["config"].(string), "maximum") {
		t.Errorf("config over the schema's maximum: %d %v", r.Status, r.Body)
	}
	if r := at(http.MethodPut, path+"/config", root, map[string]any{"config": []any{1}}); r.Status != http.StatusBadRequest && r.Status != http.StatusUnprocessableEntity {
		t.Errorf("config not an object: %d %v", r.Status, r.Body)
	}
	if r := at(http.MethodPut, path+"/permissions", root, map[string]any{"approvedPermissions": []string{"sessions:hibernate"}}); r.Status != http.StatusBadRequest {
		t.Errorf("approving what it does not ask: %d %v", r.Status, r.Body)
	}
	if r := at(http.MethodPost, "/api/v1/plugins/nothing-here/enable", root, nil); r.Status != http.StatusNotFound {
		t.Errorf("enable of no plugin: %d %v", r.Status, r.Body)
	}
	steps := []struct {
		method, path string
		body         any
		want         []string // in the new file
		gone         []string
	}{
		{http.MethodPut, path + "/config", map[string]any{"config": map[string]any{"endpoint": "https://siem.example.com/v2", "batch": 10}, "reason": "New SIEM endpoint"},
			[]string{"endpoint: https://siem.example.com/v2", "batch: 10", "# Sends every session event"}, nil},
		{http.MethodPut, path + "/permissions", map[string]any{"approvedPermissions": []string{"events:session.*"}}, []string{"approvedPermissions:", "- events:session.*"}, nil},
		{http.MethodPost, path + "/enable", nil, []string{"enabled: true"}, nil},
	}
	for _, s := range steps {
		r := at(s.method, s.path, root, s.body)
		if r.Status != http.StatusAccepted || r.Body["file"] != "policies/plugins/audit-exporter.yaml" {
			t.Errorf("%s %s: %d %v", s.method, s.path, r.Status, r.Body)
			continue
		}
		text := fileAt(t, repo, r.Body["branch"].(string), "policies/plugins/audit-exporter.yaml")
		for _, w := range s.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s %s: the file lacks %q:\n%s", s.method, s.path, w, text)
			}
		}
	}
	// disabling what is disabled in Git proposes nothing
	if r := at(http.MethodPost, path+"/disable", root, nil); r.Status != http.StatusOK || r.Body["unchanged"] != true {
		t.Errorf("disable of a disabled plugin: %d %v", r.Status, r.Body)
	}
	// uninstall: the file and its kustomization entry go
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	r = at(http.MethodDelete, path, root, map[string]any{"reason": "Replaced by the new exporter"})
	if r.Status != http.StatusAccepted {
		t.Fatalf("uninstall: %d %v", r.Status, r.Body)
	}
	if text := fileAt(t, repo, r.Body["branch"].(string), "policies/plugins/audit-exporter.yaml"); text != "" {
		t.Errorf("uninstall kept the file:\n%s", text)
	}
	if k := fileAt(t, repo, r.Body["branch"].(string), "policies/kustomization.yaml"); strings.Contains(k, "audit-exporter") {
		t.Errorf("uninstall kept the kustomization entry:\n%s", k)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(live), live); err != nil || live.Spec.Enabled {
		t.Errorf("the portal wrote the Plugin itself: %v %v", err, live.Spec)
	}
	// five pull requests, one per accepted change
	if len(gh.calls) != 5 {
		t.Errorf("GitHub calls: %d", len(gh.calls))
	}
	for _, action := range []string{"admin.plugin.install", "admin.plugin.configure", "admin.plugin.approve", "admin.plugin.enable", "admin.plugin.uninstall"} {
		if events, _ := db.AuditLog(ctx, store.AuditFilter{Action: action, Since: start}); len(events) != 1 || !strings.HasPrefix(events[0].Detail, "pull-request https://") {
			t.Errorf("audit %s: %+v", action, events)
		}
	}

	// the installed list: state for all, config and proposals for admins
	live.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionFalse, Reason: "PermissionsPending", Message: "not approved: events:session.*", LastTransitionTime: metav1.Now()}}
	live.Status.Permissions = []streamv1.PluginPermission{{Name: "events:session.*", Risk: "low"}}
	if err := env.Client.Status().Update(ctx, live); err != nil {
		t.Fatal(err)
	}
	mine := func(token string) map[string]any {
		t.Helper()
		r := at(http.MethodGet, "/api/v1/plugins/installed", token, nil)
		for _, p := range r.Body["plugins"].([]any) {
			if p.(map[string]any)["name"] == "audit-exporter" {
				return p.(map[string]any)
			}
		}
		t.Fatalf("installed: %d %v", r.Status, r.Body)
		return nil
	}
	since := func(list []any) (out []any) {
		for _, x := range list {
			if at, _ := time.Parse(time.RFC3339Nano, x.(map[string]any)["at"].(string)); !at.Before(start) {
				out = append(out, x)
			}
		}
		return out
	}
	p := mine(root)
	if ours := since(p["proposals"].([]any)); p["ready"] != "False" || p["reason"] != "PermissionsPending" || p["config"] == nil || p["configSchema"] == nil ||
		p["displayName"] != "Audit exporter" || len(ours) != 4 || ours[0].(map[string]any)["action"] != "uninstall" {
		t.Errorf("installed as admin: %v", p)
	}
	if p := mine(alice); p["config"] != nil || len(p["proposals"].([]any)) != 0 || p["ready"] != "False" {
		t.Errorf("installed as a user: %v", p)
	}
	if r := at(http.MethodGet, "/api/v1/plugins/proposals", root, nil); len(since(r.Body["proposals"].([]any))) != 5 {
		t.Errorf("proposals: %v", r.Body)
	}
}

// TestPlugins_theme: the enabled, Ready theme plugin's palette is the UI's
// theme; none, a disabled one, or one not Ready leaves the UI's own.
func TestPlugins_theme(t *testing.T) {
	ctx := context.Background()
	alice, _ := login(t, "alice")
	theme := func() map[string]any {
		t.Helper()
		r := call(t, http.MethodGet, "/api/v1/plugins/theme", alice, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("theme: %d %v", r.Status, r.Body)
		}
		th, _ := r.Body["theme"].(map[string]any)
		return th
	}
	if th := theme(); th != nil {
		t.Errorf("no theme plugin: %v", th)
	}
	m, _ := json.Marshal(map[string]any{"name": "midnight-theme", "version": "1.0.0", "type": "ui-theme", "displayName": "Midnight",
		"entry": map[string]any{"theme": map[string]any{"palette": map[string]string{"primary": "#112233", "background": "#000000", "text": "red; background:url(x)", "evil": "#ffffff"}}}})
	p := &streamv1.Plugin{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "midnight"}, Spec: streamv1.PluginSpec{
		Repository: streamv1.LocalObjectReference{Name: "x"}, PluginName: "midnight-theme", Version: "1.0.0", Enabled: true}}
	if err := env.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), p) })
	p.Status.Manifest = &apiextensionsv1.JSON{Raw: m}
	meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "PermissionsPending", Message: "x"})
	if err := env.Client.Status().Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	if th := theme(); th != nil {
		t.Errorf("a theme not Ready: %v", th)
	}
	meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Installed", Message: "x"})
	if err := env.Client.Status().Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	th := theme()
	pal, _ := th["palette"].(map[string]any)
	if th["displayName"] != "Midnight" || pal["primary"] != "#112233" || pal["background"] != "#000000" || len(pal) != 2 {
		t.Errorf("the Ready theme, only its valid colours: %v", th)
	}
	p.Spec.Enabled = false
	if err := env.Client.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for theme() != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // the client may read from a cache
	}
	if th := theme(); th != nil {
		t.Errorf("a disabled theme: %v", th)
	}
}
