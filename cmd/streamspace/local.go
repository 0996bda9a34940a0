package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
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
	"github.com/streamspace/streamspace/agent/sessions"
	"github.com/streamspace/streamspace/agent/users"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/test/testenv"
)

func localCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "local", Short: "Run StreamSpace on this machine"}
	var stateDir, namespace string
	up := &cobra.Command{
		Use:   "up",
		Short: "Start a local control plane (kube-apiserver + etcd) with the CRDs, the agent and its webhook, syncing environments/local",
		Long: `Start a local control plane (kube-apiserver + etcd, loopback only) with the
StreamSpace CRDs and the quota webhook installed, and run the agent against
it until interrupted. A GitSync makes the agent sync environments/local
(catalog and policies) from this checkout's committed content.

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

	c := env.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	// The agent syncs environments/local from this very checkout, as it
	// would from the platform repository: commit a change and it applies.
	branch, err := currentBranch(root)
	if err != nil {
		return err
	}
	sync := &streamv1.GitSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "platform"},
		Spec: streamv1.GitSyncSpec{
			URL: root, Ref: streamv1.GitReference{Branch: branch}, Path: "environments/local",
			Interval: metav1.Duration{Duration: 30 * time.Second}, Prune: true, DriftMode: streamv1.DriftWarn,
		},
	}
	if err := c.Create(ctx, sync); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create GitSync: %w", err)
	}

	wh := env.WebhookInstallOptions
	mgr, err := manager.New(ctx, env.Config, manager.Config{
		Namespace:        namespace,
		SyncAllowedKinds: "ConfigMap",
		MetricsAddr:      "127.0.0.1:8080",
		ProbeAddr:        "127.0.0.1:8081",
		WebhookHost:      wh.LocalServingHost,
		WebhookPort:      wh.LocalServingPort,
		WebhookCertDir:   wh.LocalServingCertDir,
		Sessions:         sessions.Options{Home: users.HomeOptions{DefaultSize: resource.MustParse("10Gi")}},
	})
	if err != nil {
		return err
	}
	fmt.Printf(`
StreamSpace is up (control plane without a node: sessions are reconciled, no pod runs).
The agent syncs environments/local from this checkout's committed content every 30s.

  kubeconfig:  export KUBECONFIG=%s
  portal API:  http://127.0.0.1:8443/api/v1 (sign in: POST /api/v1/auth/login; the admin password is printed once below, the first time)
  metrics:     http://127.0.0.1:8080/metrics
  try:         kubectl get templates -n %s
               kubectl create -n %s -f - <<< '{"apiVersion":"stream.space/v1alpha1","kind":"Session","metadata":{"name":"me-firefox"},"spec":{"user":"me","template":"firefox"}}'
               kubectl get ss -n %s
  stop:        Ctrl-C

`, kubeconfigPath, namespace, namespace, namespace)
	go reportFirstSync(ctx, c, sync)
	portalErr := make(chan error, 1)
	go func() {
		portalErr <- portal.Run(ctx, portal.Config{Addr: "127.0.0.1:8443", Namespace: namespace, StateDir: stateDir, Out: os.Stdout, Log: ctrl.Log.WithName("portal")}, env.Config)
	}()
	if err := mgr.Start(ctx); err != nil {
		return err
	}
	return <-portalErr
}

// reportFirstSync prints the outcome of the first sync, so a newcomer sees
// the catalog arrive (or why it did not).
func reportFirstSync(ctx context.Context, c client.Client, gs *streamv1.GitSync) {
	start := time.Now()
	for ctx.Err() == nil {
		got := &streamv1.GitSync{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(gs), got); err == nil {
			for _, cond := range got.Status.Conditions {
				if cond.Type == streamv1.ConditionReady && cond.Status != metav1.ConditionUnknown && got.Status.LastAttemptedRevision != "" {
					fmt.Printf("==> First sync of %s (branch %s) from this checkout, %.1fs: %s: %s\n",
						gs.Spec.Path, gs.Spec.Ref.Branch, time.Since(start).Seconds(), cond.Reason, cond.Message)
					return
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func currentBranch(root string) (string, error) {
	out, err := exec.Command("git", "-C", root, "symbolic-ref", "--short", "HEAD").Output()
	if err != nil {
		return "", fmt.Errorf("find the checkout's branch (the agent syncs committed content from it): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
