package portal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/portal/web"
	"github.com/streamspace/streamspace/test/freeport"
	"github.com/streamspace/streamspace/test/testenv"
)

// mergingGitHub answers POST .../pulls like GitHub and then merges the pull
// request at once (main moves to its branch: every write-back branches
// from main) and applies the merged Plugin YAML to the cluster, as an admin
// merging and the agent syncing would; status comes from its apply.
type mergingGitHub struct {
	t     *testing.T
	repo  *git.Repository
	apply func(file string, text string) // "" text: the file was removed
	mu    sync.Mutex
	n     int
}

func (g *mergingGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	if r.Method != http.MethodPost || r.URL.Path != "/api/v3/repos/acme/platform/pulls" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	head, _ := body["head"].(string)
	ref, err := g.repo.Reference(plumbing.NewBranchReferenceName(head), true)
	if err != nil {
		g.t.Errorf("pull request of an unknown branch %s: %v", head, err)
		w.WriteHeader(http.StatusUnprocessableEntity)
		return
	}
	if err := g.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName("main"), ref.Hash())); err != nil {
		g.t.Errorf("merge %s: %v", head, err)
	}
	commit, _ := g.repo.CommitObject(ref.Hash())
	parent, _ := commit.Parent(0)
	patch, _ := parent.Patch(commit)
	for _, fp := range patch.FilePatches() {
		from, to := fp.Files()
		switch {
		case to != nil && strings.HasPrefix(to.Path(), "policies/plugins/"):
			f, _ := commit.File(to.Path())
			text, _ := f.Contents()
			g.apply(to.Path(), text)
		case to == nil && from != nil && strings.HasPrefix(from.Path(), "policies/plugins/"):
			g.apply(from.Path(), "")
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"number":%d,"state":"open","html_url":"https://github.example.com/acme/platform/pull/%d","head":{"ref":%q},"base":{"ref":"main"}}`, g.n, g.n, head)
}

// TestPlugins_inChromium_browseInstallApproveConfigureDeliverDisable: an
// admin in the real UI browses the catalog, installs the audit exporter,
// approves its permission, configures it through the form its schema
// generates (the form's refusal first), sees its deliveries and disables
// it; each change is a pull request on a real Git server, merged by the
// GitHub stand-in and applied to the real API server as the agent would.
func TestPlugins_inChromium_browseInstallApproveConfigureDeliverDisable(t *testing.T) {
	uiDir := filepath.Join(testenv.RepoRoot(), "portal", "web")
	if why := whyNoBrowser(uiDir); why != "" {
		t.Skip("skipped: " + why)
	}
	ctx := context.Background()
	seedPluginRepository(t, "browser-plugins")

	gitURL, repo := platformRepo(t, map[string]string{
		"policies/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n",
	})

	// what the agent does with a merged Plugin, enough for the pages: the
	// object from Git, and its status (permissions, Ready) from its spec
	// and the catalog entry
	var applied []string
	delivering := false
	apply := func(file, text string) {
		applied = append(applied, file)
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		live := &streamv1.Plugin{}
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, live)
		if text == "" {
			if err == nil {
				_ = env.Client.Delete(ctx, live)
			}
			return
		}
		var fromGit streamv1.Plugin
		if err := yaml.UnmarshalStrict([]byte(text), &fromGit); err != nil {
			t.Errorf("merged %s: %v\n%s", file, err, text)
			return
		}
		switch {
		case apierrors.IsNotFound(err):
			live = &streamv1.Plugin{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: fromGit.Spec}
			err = env.Client.Create(ctx, live)
		case err == nil:
			live.Spec = fromGit.Spec
			err = env.Client.Update(ctx, live)
		}
		if err != nil {
			t.Errorf("apply %s: %v", file, err)
			return
		}
		live.Status.Permissions = []streamv1.PluginPermission{{Name: "events:session.*", Risk: "low", Approved: slices.Contains(live.Spec.ApprovedPermissions, "events:session.*")}}
		cond := metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Installed", Message: "delivering events"}
		switch {
		case !live.Status.Permissions[0].Approved:
			cond = metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "PermissionsPending", Message: "not approved: events:session.*"}
		case !live.Spec.Enabled:
			cond = metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "Disabled", Message: "spec.enabled is false"}
		}
		meta.SetStatusCondition(&live.Status.Conditions, cond)
		if err := env.Client.Status().Update(ctx, live); err != nil {
			t.Errorf("status of %s: %v", name, err)
		}
		if cond.Status == metav1.ConditionTrue && !delivering {
			delivering = true
			// the dispatcher's record of what it delivered, in the store
			now := time.Now()
			if _, err := db.StartPluginDelivery(ctx, name, []string{"session.created"}); err != nil {
				t.Errorf("start delivery: %v", err)
			}
			if err := db.SavePluginDelivery(ctx, name, store.DeliveryProgress{Delivered: 42, Failed: 1, LastAttempt: &now, LastSuccess: &now}); err != nil {
				t.Errorf("save delivery: %v", err)
			}
		}
	}
	t.Cleanup(func() {
		_ = env.Client.DeleteAllOf(context.Background(), &streamv1.Plugin{}, client.InNamespace(ns))
	})
	gh := &mergingGitHub{t: t, repo: repo, apply: apply}
	w := writerTo(t, gitURL, gh)

	port := freeport.For(t)
	public := fmt.Sprintf("http://localhost:%d", port)
	h := newHandlers(func(c *portal.Components) { c.Writer = w })
	h.UI = web.Handler()
	pl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: portal.Handler(h)}
	go func() { _ = srv.Serve(pl) }()
	t.Cleanup(func() { _ = srv.Close() })
	if resp, body := (&appsPortal{t: t, srv: &httptest.Server{URL: public}}).do(http.MethodGet, "", "/", nil); resp.StatusCode != http.StatusOK || strings.Contains(body, "not built into this binary") {
		t.Skipf("skipped: this test binary's portal has no web UI (%d %.80q): go test -tags ui ./portal (after make ui)", resp.StatusCode, body)
	}

	run, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(run, "node", "e2e/plugins.mjs")
	cmd.Dir = uiDir
	cmd.Env = append(os.Environ(), "PORTAL_URL="+public, "USER_NAME=root", "USER_PASSWORD=password-of-root", "OUT_DIR="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Chromium is node's child
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("plugins.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("plugins.mjs: %v", err)
	}

	// what the browser did, as Git and the cluster saw it
	gh.mu.Lock()
	defer gh.mu.Unlock()
	if gh.n != 5 || len(applied) != 5 {
		t.Errorf("%d pull requests merged, %d Plugin files applied (%v); want 5 (install, approve, enable, configure, disable)", gh.n, len(applied), applied)
	}
	p := &streamv1.Plugin{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "audit-exporter"}, p); err != nil {
		t.Fatal(err)
	}
	if p.Spec.Enabled || !slices.Equal(p.Spec.ApprovedPermissions, []string{"events:session.*"}) || p.Spec.Config == nil ||
		string(p.Spec.Config.Raw) != `{"batch":50,"endpoint":"https://siem.example.com/in"}` {
		t.Errorf("the Plugin after the flow: %+v %s", p.Spec, p.Spec.Config.Raw)
	}
}
