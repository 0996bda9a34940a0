package sessions_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/streamspace/streamspace/agent/manager"
	"github.com/streamspace/streamspace/agent/sessions"
	"github.com/streamspace/streamspace/agent/users"
	"github.com/streamspace/streamspace/test/testenv"
)

var (
	env      *testenv.Env
	registry *prometheus.Registry
)

// TestMain starts one real API server for the package, and the agent
// (controllers and webhook) against it, as in production.
func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapLevel())))
	var err error
	env, err = testenv.Start(true)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// The home storage class, expandable like an NFS provisioner's.
	if err := env.Client.Create(ctx, &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "nfs-client"}, Provisioner: "nfs.csi.k8s.io", AllowVolumeExpansion: ptr.To(true),
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	registry = prometheus.NewRegistry()
	wh := env.WebhookInstallOptions
	mgr, err := manager.New(ctx, env.Config, manager.Config{
		MetricsAddr:    "0",
		ProbeAddr:      "0",
		WebhookHost:    wh.LocalServingHost,
		WebhookPort:    wh.LocalServingPort,
		WebhookCertDir: wh.LocalServingCertDir,
		Registry:       registry,
		Sessions: sessions.Options{
			Home:      users.HomeOptions{StorageClassName: "nfs-client", DefaultSize: resource.MustParse("10Gi")},
			PortalURL: "https://streamspace.test",
			// Every session pod gets the reporter; idle_test.go says
			// where each answers.
			IdleReporter: sessions.IdleReporterOptions{Image: testIdleImage, Address: idleReporterAddress},
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	done := make(chan error)
	go func() { done <- mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		fmt.Fprintln(os.Stderr, "cache did not sync")
		os.Exit(1)
	}
	waitForWebhook(wh.LocalServingHost, wh.LocalServingPort)
	if err := letObjectsBypassWebhook(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}

	code := m.Run()
	cancel()
	<-done
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop envtest:", err)
	}
	os.Exit(code)
}

func zapLevel() zapcoreLevel {
	if os.Getenv("TEST_AGENT_LOGS") != "" {
		return -1
	}
	return 2 // errors only: a passing run stays quiet
}

func waitForWebhook(host string, port int) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := dialTLS(host, port); err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// BypassWebhookLabel exempts a Session from the admission webhook, to test
// what the reconciler does on its own when the webhook is missing or raced.
const BypassWebhookLabel = "test.stream.space/bypass-webhook"

func letObjectsBypassWebhook(ctx context.Context) error {
	var cfg admissionv1.ValidatingWebhookConfiguration
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "validating-webhook-configuration"}, &cfg); err != nil {
		return err
	}
	for i := range cfg.Webhooks {
		cfg.Webhooks[i].ObjectSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: BypassWebhookLabel, Operator: metav1.LabelSelectorOpDoesNotExist},
		}}
	}
	return env.Client.Update(ctx, &cfg)
}
