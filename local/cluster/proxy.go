package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// kube-proxy makes Services work on the real node: ClusterIPs for pods
// (the agent and the portal find the API server through the kubernetes
// Service, the portal dials a session's Service) and for this machine (the
// API server calls webhooks by their Service). It runs in nftables mode:
// its rules live in its own tables (ip/ip6 "kube-proxy"), which Down
// deletes with `kube-proxy --cleanup`, and no other table is touched.

func (c *Cluster) kubeProxyDir(parts ...string) string {
	return filepath.Join(append([]string{c.Dir, "kube-proxy"}, parts...)...)
}

func (c *Cluster) writeKubeProxyConfig() error {
	_, gw, err := c.gateway()
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf(`# Written by local/cluster: kube-proxy of the local StreamSpace node.
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection:
  kubeconfig: %[1]q
hostnameOverride: %[2]s
# Traffic from outside the pod subnet (this machine) to a ClusterIP is
# masqueraded to the bridge's gateway, so replies come back through it.
clusterCIDR: %[3]s
# NodePorts only on the bridge's gateway, never on this machine's network.
nodePortAddresses: [%[4]s/32]
healthzBindAddress: 127.0.0.1:%[5]d
metricsBindAddress: 127.0.0.1:%[6]d
# Root here lacks CAP_SYS_RESOURCE and may not write every sysctl: keep the
# machine's conntrack settings and OOM score as they are.
oomScoreAdj: 0
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, c.componentKubeconfig("kube-proxy"), NodeName, c.Subnet, gw, c.Ports.KubeProxy, c.Ports.KubeProxyMetrics)
	return writeFile(c.kubeProxyDir("config.yaml"), []byte(cfg), 0o644)
}

func (c *Cluster) upKubeProxy(ctx context.Context, out io.Writer) error {
	if err := c.writeKubeProxyConfig(); err != nil {
		return err
	}
	if c.pid("kube-proxy") != 0 {
		return c.ensureRunning(ctx, out, "kube-proxy", nil, nil, c.kubeProxyHealthy, 60*time.Second)
	}
	// kube-proxy's nftables table has one name on the whole machine: a
	// second local cluster (tests of several packages run at once) waits
	// until the first one's is gone.
	waiting := false
	for {
		unlock, err := lockFile(ctx, proxyLock)
		if err != nil {
			return err
		}
		holder := proxyHolder()
		if holder == "" || holder == c.Dir {
			err := c.ensureRunning(ctx, out, "kube-proxy", []string{"--config=" + c.kubeProxyDir("config.yaml")},
				pathEnv(), c.kubeProxyHealthy, 60*time.Second)
			if err == nil {
				err = writeFile(proxyOwner, []byte(strconv.Itoa(c.pid("kube-proxy"))+"\n"+c.Dir+"\n"), 0o644)
			}
			unlock()
			return err
		}
		unlock()
		if !waiting {
			fmt.Fprintf(out, "==> waiting for the local cluster in %s to go down: one kube-proxy runs on a machine at a time\n", holder)
			waiting = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-proxy: the local cluster in %s still runs its kube-proxy (one per machine): %w", holder, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// The machine-wide record of which local cluster's kube-proxy runs.
var (
	proxyLock  = "/run/streamspace-kube-proxy.lock"
	proxyOwner = "/run/streamspace-kube-proxy.owner"
)

// proxyHolder is the Dir of the cluster whose kube-proxy runs, or "".
func proxyHolder() string {
	data, err := os.ReadFile(proxyOwner)
	if err != nil {
		return ""
	}
	pidStr, dir, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	pid, err := strconv.Atoi(pidStr)
	if err != nil || !alive(pid) || !slices.ContainsFunc(cmdline(pid), func(a string) bool { return filepath.Base(a) == "kube-proxy" }) {
		return ""
	}
	return dir
}

// lockFile takes an exclusive flock on path, waiting until ctx ends.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
			return func() { _ = f.Close() }, nil
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// kubeProxyHealthy: healthz answers 200 once kube-proxy has programmed
// its rules at least once.
func (c *Cluster) kubeProxyHealthy(ctx context.Context) error {
	_, err := get(ctx, plainHTTP, "http://"+net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Ports.KubeProxy))+"/healthz")
	return err
}

// cleanupKubeProxy deletes the rules kube-proxy left (it keeps them when it
// stops, so that Services go on working across its restarts).
// Another cluster's kube-proxy (which owns the table now) is left alone.
func (c *Cluster) cleanupKubeProxy(ctx context.Context) error {
	bin := c.bin("kube-proxy")
	if !haveFile(bin) {
		return nil
	}
	unlock, err := lockFile(ctx, proxyLock)
	if err != nil {
		return err
	}
	defer unlock()
	if holder := proxyHolder(); holder != "" && holder != c.Dir {
		return nil
	}
	_ = os.Remove(proxyOwner)
	cmd := exec.CommandContext(ctx, bin, "--cleanup")
	cmd.Env = pathEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return &cmdError{"kube-proxy --cleanup", err, out}
	}
	return nil
}
