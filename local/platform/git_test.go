package platform

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/streamspace/streamspace/agent/gitsync"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/artifact"
	"github.com/streamspace/streamspace/plugins/manifest"
	"github.com/streamspace/streamspace/test/testenv"
)

// TestGitHandler_servesTheCheckoutForThePluginCatalog: the agent's own Git
// client fetches this checkout's plugins/repository from the local Git
// server at the URL environments/local's PluginRepository names; pushes
// and other paths are refused.
func TestGitHandler_servesTheCheckoutForThePluginCatalog(t *testing.T) {
	ctx := context.Background()
	root := testenv.RepoRoot()
	h, err := gitHandler(ctx, root, filepath.Join(t.TempDir(), "git"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	// the PluginRepository of environments/local, with this server's port
	data, err := os.ReadFile(filepath.Join(root, "environments", "local", "plugins", "repository.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var repo streamv1.PluginRepository
	if err := yaml.UnmarshalStrict(data, &repo); err != nil {
		t.Fatal(err)
	}
	if want := "http://" + GitAddr + GitRepo; repo.Spec.URL != want {
		t.Fatalf("environments/local's PluginRepository points at %s, the local platform serves %s", repo.Spec.URL, want)
	}
	src := &gitsync.Source{URL: strings.Replace(repo.Spec.URL, "http://"+GitAddr, srv.URL, 1), Ref: repo.Spec.Ref}
	g, err := artifact.Open(ctx, src, false)
	if err != nil {
		t.Fatalf("the agent's clone: %v", err)
	}
	defer g.Close()
	head, err := g.Head()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"midnight-theme", "audit-exporter"} {
		file := repo.Spec.Path + "/" + name + "/" + manifest.FileName
		if _, err := g.ReadFile(head, file, manifest.MaxSize); err != nil {
			t.Errorf("%s at %s: %v", file, head, err)
		}
	}

	for _, rq := range []struct{ method, path string }{
		{http.MethodGet, GitRepo + "/info/refs?service=git-receive-pack"},
		{http.MethodPost, GitRepo + "/git-receive-pack"},
		{http.MethodGet, "/other.git/info/refs?service=git-upload-pack"},
		{http.MethodGet, GitRepo + "/HEAD"},
	} {
		req, _ := http.NewRequest(rq.method, srv.URL+rq.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s: %d, want 403", rq.method, rq.path, resp.StatusCode)
		}
	}
}
