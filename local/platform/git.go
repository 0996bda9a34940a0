package platform

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// GitAddr is where the local platform serves this checkout's Git
// repository (read-only, loopback) as GitRepo: environments/local's
// PluginRepository (plugins/repository.yaml) names it, since a URL in Git
// cannot name the checkout's folder. The agent runs on this machine, so
// loopback reaches it.
const GitAddr = "127.0.0.1:8442"

// GitRepo is the checkout's path on the Git server.
const GitRepo = "/streamspace.git"

// serveGit serves the checkout's repository at GitAddr with Git's own
// smart-HTTP server (git http-backend), fetch only, until ctx ends. A
// failure is reported, not fatal: only the plugin catalog depends on it.
func (p *Platform) serveGit(ctx context.Context) {
	h, err := gitHandler(ctx, p.Root, filepath.Join(p.StateDir, "git"))
	var l net.Listener
	if err == nil {
		l, err = net.Listen("tcp", GitAddr)
	}
	if err != nil {
		fmt.Fprintf(p.Out, "==> Not serving this checkout's Git repository for the plugin catalog (%v): the PluginRepository streamspace-plugins stays not Ready\n", err)
		return
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(p.Out, "==> Git server for the plugin catalog stopped: %v\n", err)
	}
}

// gitHandler answers fetches of root's repository at GitRepo and nothing
// else (no push, no other path): exportDir is made to hold only a link to
// the checkout's Git folder.
func gitHandler(ctx context.Context, root, exportDir string) (http.Handler, error) {
	gitDir, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--absolute-git-dir").Output()
	if err != nil {
		return nil, fmt.Errorf("find the checkout's Git folder: %w", err)
	}
	execPath, err := exec.CommandContext(ctx, "git", "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("find git http-backend: %w", err)
	}
	if err := os.RemoveAll(exportDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(exportDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Symlink(strings.TrimSpace(string(gitDir)), filepath.Join(exportDir, strings.TrimPrefix(GitRepo, "/"))); err != nil {
		return nil, err
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + exportDir, "GIT_HTTP_EXPORT_ALL=1"},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetch := (r.Method == http.MethodGet && r.URL.Path == GitRepo+"/info/refs" && r.URL.Query().Get("service") == "git-upload-pack") ||
			(r.Method == http.MethodPost && r.URL.Path == GitRepo+"/git-upload-pack")
		if !fetch {
			http.Error(w, "only fetches of "+GitRepo+" are served", http.StatusForbidden)
			return
		}
		backend.ServeHTTP(w, r)
	}), nil
}
