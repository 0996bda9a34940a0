package plugins_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/streamspace/streamspace/agent/manager"
	"github.com/streamspace/streamspace/agent/plugins"
	"github.com/streamspace/streamspace/test/gitserver"
	"github.com/streamspace/streamspace/test/testenv"
)

var (
	env *testenv.Env
	git *gitserver.Server
)

// TestMain starts a real API server with the PluginRepository and Plugin
// controllers and the Plugin admission webhook, and a real Git server (git
// http-backend) on loopback.
func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	var err error
	if git, err = gitserver.Start(); err != nil {
		return 0, err
	}
	defer git.Close()
	if env, err = testenv.Start(true); err != nil {
		return 0, err
	}
	defer func() { _ = env.Stop() }()
	wh := env.WebhookInstallOptions
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:  manager.Scheme(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: wh.LocalServingHost, Port: wh.LocalServingPort, CertDir: wh.LocalServingCertDir,
		}),
	})
	if err != nil {
		return 0, err
	}
	metrics, err := plugins.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		return 0, err
	}
	if err := (&plugins.RepositoryReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("streamspace-agent"), Metrics: metrics}).SetupWithManager(mgr); err != nil {
		return 0, err
	}
	if err := (&plugins.PluginReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("streamspace-agent")}).SetupWithManager(mgr); err != nil {
		return 0, err
	}
	if err := (&plugins.PluginValidator{}).SetupWebhookWithManager(mgr); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- mgr.Start(ctx) }()
	defer func() { cancel(); <-done }()
	addr := net.JoinHostPort(wh.LocalServingHost, strconv.Itoa(wh.LocalServingPort))
	for range 200 {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // local test server
		if err == nil {
			_ = c.Close()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return m.Run(), nil
}
