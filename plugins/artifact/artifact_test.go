package artifact_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamspace/streamspace/agent/gitsync"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/artifact"
	"github.com/streamspace/streamspace/test/gitserver"
)

// served pushes two versions of a plugin's module to a real Git server
// (git http-backend) and returns the repository and both revisions.
func served(t *testing.T) (*streamv1.PluginRepository, *gitserver.Repo, string, string) {
	t.Helper()
	srv, err := gitserver.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	repo := srv.NewRepo(t, "plugins")
	repo.Write("p/plugin.yaml", "name: p\nversion: 1.0.0\n")
	repo.Write("p/p.wasm", "one")
	rev1 := repo.Push("1.0.0")
	repo.Write("p/plugin.yaml", "name: p\nversion: 2.0.0\n")
	repo.Write("p/p.wasm", "two")
	// A link out of the repository, with the path of a module.
	if err := os.Symlink("/etc/passwd", filepath.Join(repo.Work, "p/link.wasm")); err != nil {
		t.Fatal(err)
	}
	rev2 := repo.Push("2.0.0")
	pr := &streamv1.PluginRepository{Spec: streamv1.PluginRepositorySpec{URL: repo.URL}}
	pr.Namespace = "default"
	return pr, repo, rev1, rev2
}

func TestFetch_pinnedByRevisionAndDigest(t *testing.T) {
	ctx := context.Background()
	pr, _, rev1, rev2 := served(t)
	for _, tc := range []struct{ rev, want string }{{rev2, "two"}, {rev1, "one"}} {
		got, err := artifact.Fetch(ctx, nil, pr, tc.rev, streamv1.PluginArtifact{Path: "p/p.wasm", SHA256: artifact.Digest([]byte(tc.want))})
		if err != nil || string(got) != tc.want {
			t.Errorf("Fetch at %s = %q, %v; want %q", tc.rev, got, err, tc.want)
		}
	}
	// The older commit's module, pinned to the newer digest.
	_, err := artifact.Fetch(ctx, nil, pr, rev1, streamv1.PluginArtifact{Path: "p/p.wasm", SHA256: artifact.Digest([]byte("two"))})
	var mismatch *artifact.MismatchError
	if !errors.As(err, &mismatch) || mismatch.Got != artifact.Digest([]byte("one")) {
		t.Errorf("a module with another digest: got %v, want a MismatchError", err)
	}
}

func TestFetch_refusesWhatIsNotAFileOfTheRepository(t *testing.T) {
	ctx := context.Background()
	pr, _, _, rev2 := served(t)
	for path, want := range map[string]string{
		"p/link.wasm":    "is not a regular file",
		"../p/p.wasm":    "is not a path inside the repository",
		"/etc/passwd":    "is not a path inside the repository",
		"p/../p/p.wasm":  "is not a path inside the repository",
		"p/missing.wasm": "is not in commit",
		"p":              "is not a regular file",
	} {
		_, err := artifact.Fetch(ctx, nil, pr, rev2, streamv1.PluginArtifact{Path: path, SHA256: strings.Repeat("0", 64)})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", path, err, want)
		}
	}
	if _, err := artifact.Fetch(ctx, nil, pr, "main", streamv1.PluginArtifact{Path: "p/p.wasm"}); err == nil || !strings.Contains(err.Error(), "does not name a commit") {
		t.Errorf("a revision without a commit: got %v", err)
	}
}

func TestFindVersion_newestCommitWithTheVersion(t *testing.T) {
	ctx := context.Background()
	pr, repo, rev1, rev2 := served(t)
	// A later commit that keeps 2.0.0 is the one 2.0.0 resolves to.
	repo.Write("p/README.md", "docs\n")
	rev3 := repo.Push("docs")
	src, err := artifact.Open(ctx, mustSource(t, pr), true)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for version, want := range map[string]string{"1.0.0": rev1, "v2.0.0": rev3} {
		if got, err := src.FindVersion(rev3, "p", version); err != nil || got != want {
			t.Errorf("FindVersion(%s) = %s, %v; want %s", version, got, err, want)
		}
	}
	if got, _ := src.FindVersion(rev2, "p", "2.0.0"); got != rev2 {
		t.Errorf("from %s: got %s", rev2, got)
	}
	if _, err := src.FindVersion(rev3, "p", "3.0.0"); !errors.Is(err, artifact.ErrVersionNotFound) {
		t.Errorf("a version never pushed: got %v", err)
	}
}

func mustSource(t *testing.T, pr *streamv1.PluginRepository) *gitsync.Source {
	t.Helper()
	src, err := gitsync.NewSource(pr.Spec.URL, pr.Spec.Ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	return src
}
