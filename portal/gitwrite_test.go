package portal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fluxcd/pkg/gittestserver"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/gitwrite"
	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/test/testenv"
)

// gitHubStandIn answers POST /api/v3/repos/acme/platform/pulls as GitHub
// does and keeps what it was sent.
type gitHubStandIn struct {
	mu    sync.Mutex
	calls []map[string]any
}

func (g *gitHubStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	body["_method"], body["_path"], body["_auth"] = r.Method, r.URL.Path, r.Header.Get("Authorization")
	g.mu.Lock()
	g.calls = append(g.calls, body)
	g.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/api/v3/repos/acme/platform/pulls" || r.Header.Get("Authorization") != "Bearer gh-write-token" {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"Not Found"}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"number":7,"state":"open","html_url":"https://github.example.com/acme/platform/pull/7","head":{"ref":%q},"base":{"ref":%q}}`, body["head"], body["base"])
}

// writeBackPortal serves a portal whose write-back goes to a real Git
// server holding this checkout's dirs (searched in paths), with pull
// requests on the GitHub stand-in. It returns the portal, the Git
// server's root and the stand-in.
func writeBackPortal(t *testing.T, paths []string, dirs ...string) (*httptest.Server, string, *gitHubStandIn) {
	t.Helper()
	log.SetOutput(io.Discard) // gitkit logs every request
	content := t.TempDir()
	for _, dir := range dirs {
		if err := os.CopyFS(filepath.Join(content, dir), os.DirFS(filepath.Join(testenv.RepoRoot(), dir))); err != nil {
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
	gh := &gitHubStandIn{}
	ghSrv := httptest.NewServer(gh)
	t.Cleanup(ghSrv.Close)
	w, err := gitwrite.New(gitwrite.Config{URL: gitSrv.HTTPAddress() + "/platform.git", Paths: paths,
		Auth:   gitwrite.Auth{Username: "git", Token: "git-write-token"},
		GitHub: &gitwrite.GitHubConfig{BaseURL: ghSrv.URL, Owner: "acme", Repo: "platform", Token: "gh-write-token"}})
	if err != nil {
		t.Fatal(err)
	}
	gitWriter = w
	own := httptest.NewServer(portal.NewRouter(newHandlers()))
	gitWriter = nil // only this router writes back
	t.Cleanup(own.Close)
	return own, gitSrv.Root(), gh
}

// TestWriteBack_quotaEditBecomesAPullRequest: an admin's quota edit through
// the API is a commit on a new branch of a real Git server and a pull
// request; the cluster is not touched.
func TestWriteBack_quotaEditBecomesAPullRequest(t *testing.T) {
	own, gitRoot, gh := writeBackPortal(t, []string{"policies"}, "policies")
	put := func(token string, body any) response {
		t.Helper()
		saved := srv
		srv = own
		defer func() { srv = saved }()
		return call(t, http.MethodPut, "/api/v1/admin/quotas/default", token, body)
	}

	root, _ := login(t, "root")
	live := &streamv1.Quota{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "default"}, live); err != nil {
		t.Fatal(err)
	}
	spec := live.Spec.DeepCopy()
	spec.Limits.MaxRunningSessions = ptrTo(int32(4))

	// bad input never reaches Git
	if r := put(root, map[string]any{"spec": map[string]any{"limits": map[string]any{"maxRunningSesions": 4}}, "reason": "typo"}); r.Status != http.StatusBadRequest {
		t.Errorf("unknown field: %d %v", r.Status, r.Body)
	}
	bad := spec.DeepCopy()
	bad.Limits.MaxRunningSessions = ptrTo(int32(-1))
	if r := put(root, map[string]any{"spec": bad, "reason": "negative"}); r.Status != http.StatusBadRequest || errorCode(r) != "invalid_request" {
		t.Errorf("invalid spec: %d %v", r.Status, r.Body)
	}
	if r := put(root, map[string]any{"spec": spec}); r.Status != http.StatusBadRequest {
		t.Errorf("no reason: %d %v", r.Status, r.Body)
	}
	if len(gh.calls) != 0 {
		t.Fatalf("a refused edit reached GitHub: %v", gh.calls)
	}

	r := put(root, map[string]any{"spec": spec, "reason": "Allow four running sessions"})
	if r.Status != http.StatusAccepted || r.Body["url"] != "https://github.example.com/acme/platform/pull/7" || r.Body["mode"] != "pull-request" {
		t.Fatalf("edit: %d %v", r.Status, r.Body)
	}
	branch := r.Body["branch"].(string)
	// the branch on the Git server: one commit, on the quota's file only
	repo, err := git.PlainOpen(filepath.Join(gitRoot, "platform.git"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := repo.Reference(plumbing.NewBranchReferenceName(branch), true)
	if err != nil {
		t.Fatalf("branch %s: %v", branch, err)
	}
	commit, _ := repo.CommitObject(ref.Hash())
	parent, _ := commit.Parent(0)
	main, _ := repo.Reference(plumbing.NewBranchReferenceName("main"), true)
	if parent == nil || parent.Hash != main.Hash() || !strings.Contains(commit.Message, "Requested-by: root") {
		t.Errorf("commit %s: parent %v, message %q", commit.Hash, parent, commit.Message)
	}
	f, err := commit.File("policies/quotas/default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := f.Contents()
	if !strings.Contains(text, "maxRunningSessions: 4") || !strings.Contains(text, "# Applies to everyone") || !strings.Contains(text, "memory: 8Gi") {
		t.Errorf("new file:\n%s", text)
	}
	patch, _ := parent.Patch(commit)
	if files := patch.FilePatches(); len(files) != 1 {
		t.Errorf("the commit changes %d files", len(files))
	}
	// the pull request GitHub was asked for
	if len(gh.calls) != 1 {
		t.Fatalf("GitHub calls: %v", gh.calls)
	}
	pr := gh.calls[0]
	if pr["head"] != branch || pr["base"] != "main" || !strings.Contains(pr["title"].(string), "default") || !strings.Contains(pr["body"].(string), "root") {
		t.Errorf("pull request: %v", pr)
	}
	// the cluster changes only when the agent syncs the merged change
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "default"}, live); err != nil || *live.Spec.Limits.MaxRunningSessions != 2 {
		t.Errorf("the portal wrote the Quota itself: %v %v", err, live.Spec.Limits.MaxRunningSessions)
	}
	// other tests propose other quotas: only this one's counts
	events, _ := db.AuditLog(context.Background(), store.AuditFilter{Action: "admin.quota.propose"})
	var mine []store.AuditEvent
	for _, e := range events {
		if e.Target == "default" {
			mine = append(mine, e)
		}
	}
	if len(mine) != 1 || !strings.Contains(mine[0].Detail, "pull/7") {
		t.Errorf("audit: %+v", events)
	}
	// an edit that changes nothing is answered as such, with no commit
	if r := put(root, map[string]any{"spec": live.Spec, "reason": "no-op"}); r.Status != http.StatusOK || r.Body["unchanged"] != true {
		t.Errorf("unchanged: %d %v", r.Status, r.Body)
	}
}

// TestWriteBack_notConfigured: without a repository the edit is refused
// plainly.
func TestWriteBack_notConfigured(t *testing.T) {
	root, _ := login(t, "root")
	r := call(t, http.MethodPut, "/api/v1/admin/templates/firefox", root, map[string]any{"spec": map[string]any{}, "reason": "x"})
	if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body["error"].(map[string]any)["message"].(string), "STREAMSPACE_GIT_URL") {
		t.Errorf("not configured: %d %v", r.Status, r.Body)
	}
}

func ptrTo[T any](v T) *T { return &v }
