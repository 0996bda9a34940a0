package gitwrite

import (
	"io"
	"log"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/fluxcd/pkg/gittestserver"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/streamspace/streamspace/test/githubtest"
)

const gitToken = "s3cret-write-token"

func TestMain(m *testing.M) {
	log.SetOutput(io.Discard) // gitkit logs every request with the standard logger
	os.Exit(m.Run())
}

// platform is testdata/platform served by a real Git server (gitkit, which
// runs git's own upload-pack and receive-pack) over HTTP with basic auth.
type platform struct {
	srv *gittestserver.GitServer
	url string
	t   *testing.T
}

func newPlatform(t *testing.T) *platform {
	t.Helper()
	srv, err := gittestserver.NewTempGitServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(srv.Root()) })
	srv.Auth("git", gitToken)
	if err := srv.StartHTTP(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.StopHTTP)
	if err := srv.InitRepo("testdata/platform", "main", "platform.git"); err != nil {
		t.Fatal(err)
	}
	return &platform{srv: srv, url: srv.HTTPAddress() + "/platform.git", t: t}
}

// config writes to the platform directly, as a bot.
func (p *platform) config() Config {
	return Config{
		URL:    p.url,
		Auth:   Auth{Username: "git", Token: gitToken},
		Author: Signature{Name: "StreamSpace Bot", Email: "bot@stream.space"},
	}
}

// pullRequestWriter opens pull requests on a GitHub stand-in of its own.
func (p *platform) pullRequestWriter() (*Writer, *githubtest.Server) {
	p.t.Helper()
	gh := githubtest.New(p.t, "acme", "platform", "gh-token")
	cfg := p.config()
	cfg.GitHub = &GitHubConfig{BaseURL: gh.URL, Owner: "acme", Repo: "platform", Token: "gh-token"}
	w, err := New(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	return w, gh
}

func (p *platform) repo() *git.Repository {
	p.t.Helper()
	r, err := git.PlainOpen(filepath.Join(p.srv.Root(), "platform.git"))
	if err != nil {
		p.t.Fatal(err)
	}
	return r
}

// refs are the server's branches and where they point.
func (p *platform) refs() map[string]string {
	p.t.Helper()
	iter, err := p.repo().References()
	if err != nil {
		p.t.Fatal(err)
	}
	out := map[string]string{}
	_ = iter.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference {
			out[r.Name().String()] = r.Hash().String()
		}
		return nil
	})
	return out
}

func (p *platform) head(branch string) *object.Commit {
	p.t.Helper()
	r := p.repo()
	ref, err := r.Reference(plumbing.NewBranchReferenceName(branch), true)
	if err != nil {
		p.t.Fatalf("branch %s: %v", branch, err)
	}
	c, err := r.CommitObject(ref.Hash())
	if err != nil {
		p.t.Fatal(err)
	}
	return c
}

func (p *platform) file(c *object.Commit, path string) string {
	p.t.Helper()
	f, err := c.File(path)
	if err != nil {
		p.t.Fatalf("%s at %s: %v", path, c.Hash, err)
	}
	s, err := f.Contents()
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// changedFiles are the paths c changes against its only parent.
func (p *platform) changedFiles(c *object.Commit) []string {
	p.t.Helper()
	if c.NumParents() != 1 {
		p.t.Fatalf("commit %s has %d parents", c.Hash, c.NumParents())
	}
	parent, err := c.Parent(0)
	if err != nil {
		p.t.Fatal(err)
	}
	patch, err := parent.Patch(c)
	if err != nil {
		p.t.Fatal(err)
	}
	var files []string
	for _, fp := range patch.FilePatches() {
		from, to := fp.Files()
		switch {
		case to != nil:
			files = append(files, to.Path())
		case from != nil:
			files = append(files, from.Path())
		}
	}
	sort.Strings(files)
	return files
}
