package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/streamspace/streamspace/local/cluster"
)

func clusterCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "A real local Kubernetes on this machine (etcd, API server, controller manager, scheduler, a node)",
		Long: `A loopback-only Kubernetes built from the binaries of 'make cluster-binaries':
etcd, kube-apiserver, kube-controller-manager and kube-scheduler as background
processes, and a node. As root with usable cgroups the node is real: a kubelet
on a private containerd, pods on a CNI bridge reachable from this machine.
Otherwise kwok simulates the node (pods are reported Running, nothing runs).

All state lives in --dir; 'cluster down' stops every process and removes the
network namespaces, the bridge, mounts and cgroups the node set up.`,
	}
	c := &cluster.Cluster{}
	root := repoRoot()
	cmd.PersistentFlags().StringVar(&c.Dir, "dir", filepath.Join(root, ".state", "cluster"), "State folder (certificates, kubeconfig, etcd data, node roots, logs, PIDs).")
	cmd.PersistentFlags().StringVar(&c.Bins, "bins", cluster.DefaultBins(), "Folder holding the Kubernetes binaries (make cluster-binaries).")

	up := &cobra.Command{
		Use:   "up",
		Short: "Start the cluster (reusing what already runs) and wait until the node is Ready",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			st, err := c.Up(ctx, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			printStatus(cmd, st)
			return nil
		},
	}
	up.Flags().BoolVar(&c.Simulated, "simulated", false, "Simulate the node with kwok even where a real one could run.")
	up.Flags().StringVar(&c.Subnet, "subnet", "", "Pod subnet (a /16) for the node's bridge; default: the first free of "+fmt.Sprint(cluster.SubnetCandidates)+".")

	down := &cobra.Command{
		Use:   "down",
		Short: "Stop every process of the cluster and clean up what the node set up (state in --dir is kept)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.Log = cmd.OutOrStdout()
			return c.Down(cmd.Context())
		},
	}

	status := &cobra.Command{
		Use:   "status",
		Short: "Show which components run and are healthy, and whether the node is Ready",
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := c.Status()
			if err != nil {
				return err
			}
			printStatus(cmd, st)
			return nil
		},
	}
	cmd.AddCommand(up, down, status)
	return cmd
}

func printStatus(cmd *cobra.Command, st *cluster.Status) {
	out := cmd.OutOrStdout()
	if len(st.Components) == 0 {
		fmt.Fprintln(out, "cluster: never started (streamspace cluster up)")
		return
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tPID\tRUNNING\tHEALTHY\t")
	for _, c := range st.Components {
		pid := "-"
		if c.PID != 0 {
			pid = fmt.Sprint(c.PID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%s\n", c.Name, pid, c.Running, c.Healthy, c.Detail)
	}
	_ = tw.Flush()
	node := "real (containerd + kubelet)"
	if st.Simulated {
		node = "simulated (kwok): sessions will be simulated; streaming will not work"
	}
	if !st.Running() {
		fmt.Fprintf(out, "cluster:    not running (streamspace cluster up); node %s\n", node)
		return
	}
	fmt.Fprintf(out, "node:       %s Ready=%v, %s\n", st.Node, st.NodeReady, node)
	fmt.Fprintf(out, "server:     %s\n", st.Server)
	fmt.Fprintf(out, "kubeconfig: %s\n", st.Kubeconfig)
	if !st.Simulated {
		fmt.Fprintf(out, "pods:       %s on bridge %s, routed from this machine (connect to a pod IP directly)\n", st.PodSubnet, st.Bridge)
		fmt.Fprintf(out, "containerd: %s (namespace k8s.io)\n", st.ContainerdSocket)
	}
}

// repoRoot is the folder holding go.mod above the working directory, else
// the working directory.
func repoRoot() string {
	wd, _ := os.Getwd()
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return wd
		}
		dir = parent
	}
}
