package gitsync_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/streamspace/streamspace/agent/gitsync"
	"github.com/streamspace/streamspace/agent/manager"
	"github.com/streamspace/streamspace/test/testenv"
)

var (
	env     *testenv.Env
	metrics *gitsync.Metrics
	gitRoot string
	gitURL  string
)

// TestMain starts a real API server with the GitSync controller, and a real
// Git server: git http-backend, Git's own smart-HTTP server, on loopback.
func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	backend, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return 0, fmt.Errorf("git is needed for these tests: %w", err)
	}
	gitRoot, err = os.MkdirTemp("", "gitserver-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(gitRoot)
	srv := httptest.NewServer(&cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(backend)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + gitRoot, "GIT_HTTP_EXPORT_ALL=1"},
	})
	defer srv.Close()
	gitURL = srv.URL

	env, err = testenv.Start(false)
	if err != nil {
		return 0, err
	}
	defer func() { _ = env.Stop() }()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: manager.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		return 0, err
	}
	if metrics, err = gitsync.NewMetrics(prometheus.NewRegistry()); err != nil {
		return 0, err
	}
	desired := gitsync.NewDesiredStore()
	if err := (&gitsync.GitSyncReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("streamspace-agent"), Metrics: metrics, Desired: desired}).SetupWithManager(mgr); err != nil {
		return 0, err
	}
	if err := (&gitsync.DriftReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("streamspace-agent"), Metrics: metrics, Desired: desired}).SetupWithManager(mgr); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- mgr.Start(ctx) }()
	defer func() { cancel(); <-done }()
	return m.Run(), nil
}

var _ http.Handler = &cgi.Handler{}
