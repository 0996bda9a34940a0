package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/streamspace/streamspace/local/cluster"
	"github.com/streamspace/streamspace/local/platform"
)

func localCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "local", Short: "Run the whole platform on a local Kubernetes on this machine"}
	root := repoRoot()
	c := cluster.New(root)
	var verbose bool
	opts := platform.Options{Root: root, Cluster: c, Out: os.Stdout, StateDir: filepath.Join(root, ".state"),
		AgentMetricsAddr: "127.0.0.1:8080", AgentProbeAddr: "127.0.0.1:8081",
		Images:             platform.SessionImages(filepath.Join(root, ".state")),
		IdleReporterBinary: filepath.Join(root, "bin", "streamspace-idle")}
	cmd.PersistentFlags().StringVar(&c.Bins, "bins", cluster.DefaultBins(), "Folder holding the Kubernetes binaries (make cluster-binaries).")
	up := &cobra.Command{
		Use:   "up",
		Short: "Start the local cluster, the session images, the agent and the portal; print the URL and the admin login",
		Long: `Start the local Kubernetes (see 'streamspace cluster'), import the session
images, install the CRDs and the quota webhook, and run the agent and the
portal in the foreground until interrupted. The agent syncs environments/local
from this checkout's committed content: commit a change and it applies.

Ctrl-C stops the agent and the portal; the cluster keeps running (sessions
too) until 'streamspace local down'.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// the ==> lines tell the story; the components' logs only when
			// something goes wrong (or with --verbose)
			level := zapcore.ErrorLevel
			if verbose {
				level = zapcore.InfoLevel
			}
			ctrl.SetLogger(zap.New(zap.ConsoleEncoder(), zap.Level(level)))
			p, err := platform.Up(ctx, opts)
			if err != nil {
				return err
			}
			node := "a real node (containerd + kubelet): sessions stream"
			if p.Status.Simulated {
				node = "a simulated node (kwok): sessions are scheduled, nothing runs or streams"
			}
			fmt.Printf(`
StreamSpace is up on %s.
The agent syncs environments/local from this checkout's committed content every 30s.

  portal:      %s/   (user admin; the first time, the line below names the file with its one-time password, to change at the first sign-in; lost it? go run ./cmd/streamspace portal reset-password admin)
  kubeconfig:  export KUBECONFIG=%s
  try:         kubectl get templates,sessions -n %s
  stop:        Ctrl-C stops the agent and the portal; 'make down' (streamspace local down) stops the cluster

`, node, p.PublicURL, p.Status.Kubeconfig, p.Namespace)
			go p.ReportFirstSync(ctx)
			return p.Run(ctx)
		},
	}
	up.Flags().BoolVar(&verbose, "verbose", false, "Log what the agent and the portal do, not only their errors.")
	up.Flags().BoolVar(&c.Simulated, "simulated", false, "Simulate the node with kwok even where a real one could run.")
	up.Flags().StringVar(&opts.PortalAddr, "addr", "127.0.0.1:8443", "Where the portal listens.")
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the local cluster and everything on it (home folders in .state/volumes stay)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.Log = cmd.OutOrStdout()
			return platform.Down(cmd.Context(), c)
		},
	}
	cmd.AddCommand(up, down)
	return cmd
}
