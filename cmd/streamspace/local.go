package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/streamspace/streamspace/agent/manager"
	"github.com/streamspace/streamspace/agent/manifests"
	"github.com/streamspace/streamspace/agent/sessions"
	"github.com/streamspace/streamspace/agent/users"
	"github.com/streamspace/streamspace/test/testenv"
)

func localCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "local", Short: "Run StreamSpace on this machine"}
	var stateDir, namespace string
	up := &cobra.Command{
		Use:   "up",
		Short: "Start a local control plane (kube-apiserver + etcd) with the CRDs, the agent and its webhook, and the catalog",
		Long: `Start a local control plane (kube-apiserver + etcd, loopback only) with the
StreamSpace CRDs and the quota webhook installed, apply catalog/ and policies/
into the platform namespace, and run the agent against it until interrupted.

This control plane has no node: sessions are reconciled (home volume,
Deployment, Service) but no pod runs. A real local node comes with
'make cluster-up'.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return localUp(ctx, stateDir, namespace)
		},
	}
	up.Flags().StringVar(&stateDir, "state-dir", ".state", "Folder for the kubeconfig and local state.")
	up.Flags().StringVar(&namespace, "namespace", "streamspace", "Platform namespace.")
	cmd.AddCommand(up)
	return cmd
}

func step(format string, args ...any) func() {
	start := time.Now()
	fmt.Printf("==> "+format+" … ", args...)
	return func() { fmt.Printf("done (%.1fs)\n", time.Since(start).Seconds()) }
}

func localUp(ctx context.Context, stateDir, namespace string) error {
	ctrl.SetLogger(zap.New(zap.UseDevMode(false)))
	root := testenv.RepoRoot()
	done := step("Starting kube-apiserver and etcd")
	env, err := testenv.Start(true)
	if err != nil {
		return err
	}
	defer func() {
		d := step("Stopping the control plane")
		_ = env.Stop()
		d()
	}()
	done()

	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("create admin user: %w", err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfigPath, _ := filepath.Abs(filepath.Join(stateDir, "kubeconfig"))
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return err
	}

	done = step("Applying catalog/ and policies/ into namespace %s", namespace)
	c := env.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	count := 0
	for _, dir := range []string{"catalog", "policies"} {
		objs, err := manifests.ReadDir(filepath.Join(root, dir))
		if err != nil {
			return err
		}
		for _, o := range objs {
			o.SetNamespace(namespace)
			if err := c.Patch(ctx, o.Unstructured, client.Apply, client.FieldOwner("streamspace-local"), client.ForceOwnership); err != nil {
				return fmt.Errorf("apply %s: %w", o.Source, err)
			}
			count++
		}
	}
	done()
	fmt.Printf("    %d objects applied\n", count)

	wh := env.WebhookInstallOptions
	mgr, err := manager.New(ctx, env.Config, manager.Config{
		Namespace:      namespace,
		MetricsAddr:    "127.0.0.1:8080",
		ProbeAddr:      "127.0.0.1:8081",
		WebhookHost:    wh.LocalServingHost,
		WebhookPort:    wh.LocalServingPort,
		WebhookCertDir: wh.LocalServingCertDir,
		Sessions:       sessions.Options{Home: users.HomeOptions{DefaultSize: resource.MustParse("10Gi")}},
	})
	if err != nil {
		return err
	}
	fmt.Printf(`
StreamSpace is up (control plane without a node: sessions are reconciled, no pod runs).

  kubeconfig:  export KUBECONFIG=%s
  metrics:     http://127.0.0.1:8080/metrics
  try:         kubectl get templates -n %s
               kubectl create -n %s -f - <<< '{"apiVersion":"stream.space/v1alpha1","kind":"Session","metadata":{"name":"me-firefox"},"spec":{"user":"me","template":"firefox"}}'
               kubectl get ss -n %s
  stop:        Ctrl-C

`, kubeconfigPath, namespace, namespace, namespace)
	return mgr.Start(ctx)
}

