// Package gitserver serves Git repositories for tests with Git's own
// smart-HTTP server (git http-backend) on loopback, and gives each test a
// working copy to commit and push from.
package gitserver

import (
	"fmt"
	"io"
	"net"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Server is a running git http-backend.
type Server struct {
	// Root holds the bare repositories; URL serves them.
	Root, URL string
	srv       *httptest.Server
}

// Start serves the bare repositories of a new temporary folder.
func Start() (*Server, error) { return StartAt("") }

// StartAt is Start listening on addr (host:port, e.g. a local node's
// bridge address that pods reach); empty: a free loopback port.
func StartAt(addr string) (*Server, error) {
	backend, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("git is needed for these tests: %w", err)
	}
	root, err := os.MkdirTemp("", "gitserver-")
	if err != nil {
		return nil, err
	}
	srv := httptest.NewUnstartedServer(&cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(backend)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
		// "Not a git repository" for a test's missing repository is
		// expected; the client sees the HTTP error.
		Stderr: io.Discard,
	})
	if addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			_ = os.RemoveAll(root)
			return nil, err
		}
		_ = srv.Listener.Close()
		srv.Listener = l
	}
	srv.Start()
	return &Server{Root: root, URL: srv.URL, srv: srv}, nil
}

// Close stops the server and removes the repositories.
func (s *Server) Close() {
	s.srv.Close()
	_ = os.RemoveAll(s.Root)
}

// Repo is a served repository with a working copy on branch main.
type Repo struct {
	t    testing.TB
	URL  string
	Work string
}

// NewRepo creates the bare repository name (served at s.URL/name.git) and
// a working copy whose first push happens at the first Commit.
func (s *Server) NewRepo(t testing.TB, name string) *Repo {
	t.Helper()
	bare := name + ".git"
	Git(t, s.Root, "init", "-q", "--bare", "--initial-branch=main", bare)
	r := &Repo{t: t, URL: s.URL + "/" + bare, Work: t.TempDir()}
	Git(t, r.Work, "init", "-q", "--initial-branch=main", ".")
	Git(t, r.Work, "remote", "add", "origin", s.Root+"/"+bare)
	return r
}

// Write writes a file of the working copy.
func (r *Repo) Write(path, content string) {
	r.t.Helper()
	p := filepath.Join(r.Work, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// CopyDir copies a folder (e.g. of this project) into the working copy.
func (r *Repo) CopyDir(from, to string) {
	r.t.Helper()
	if err := os.MkdirAll(filepath.Join(r.Work, filepath.Dir(to)), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-r", from, filepath.Join(r.Work, to)).CombinedOutput(); err != nil {
		r.t.Fatalf("copy %s: %v %s", from, err, out)
	}
}

// Push commits everything and pushes main; it returns the revision as the
// agent reports it ("main@sha1:<hash>").
func (r *Repo) Push(message string) string {
	r.t.Helper()
	Git(r.t, r.Work, "add", "-A")
	Git(r.t, r.Work, "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-m", message)
	Git(r.t, r.Work, "push", "-q", "origin", "main")
	return "main@sha1:" + Git(r.t, r.Work, "rev-parse", "HEAD")
}

// Git runs git in dir and returns its trimmed output.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
