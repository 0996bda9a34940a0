// Package cluster runs a real, loopback-only Kubernetes on this
// machine from binaries built by hack/kube-binaries.sh: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler as child
// processes, and a node. As root with usable cgroups the node is real: a
// kubelet on a private containerd, pods on a CNI bridge, kube-proxy
// (nftables, its own tables only) so that Services work for pods and for
// this machine, kube-router's policy controller enforcing NetworkPolicy
// (local lab only, see netpol.go), and the API server on the bridge's
// gateway address, the one address both this machine and the pods reach. Otherwise kwok simulates a
// node and says so, and everything stays on loopback.
//
// Everything lives under Cluster.Dir (certificates, kubeconfigs, etcd data,
// containerd's and the kubelet's roots, logs, PIDs); Down stops every process
// by PID and removes what the node set up outside Dir (network namespaces,
// the bridge, cgroups).
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"
)

// KubeVersion is the version of the binaries hack/kube-binaries.sh builds.
const KubeVersion = "v1.37.2"

// Ports are the loopback ports the components listen on.
type Ports struct {
	Etcd, EtcdPeer, APIServer, ControllerManager, Scheduler, Kubelet, KubeletHealthz int
	// KubeProxy is kube-proxy's healthz port, KubeProxyMetrics its metrics.
	KubeProxy, KubeProxyMetrics int
	// MetricsServer is metrics-server's port on the bridge's gateway.
	MetricsServer int
}

// DefaultPorts are uncommon ports, to stay clear of a cluster that may
// already run on the usual ones.
var DefaultPorts = Ports{
	Etcd: 12379, EtcdPeer: 12380, APIServer: 16443,
	ControllerManager: 17257, Scheduler: 17259, Kubelet: 17250, KubeletHealthz: 17248,
	KubeProxy: 17256, KubeProxyMetrics: 17255, MetricsServer: 17443,
}

// Cluster is one local cluster. The zero values of its optional fields take
// the defaults; a cluster that ran before keeps the subnet, bridge, name and
// ports it recorded in Dir/state.json.
type Cluster struct {
	// Dir holds all state: <repo>/.state/cluster by default.
	Dir string
	// Bins holds the binaries (hack/kube-binaries.sh's cache folder).
	Bins string

	// Name names the CNI network and the cgroup the pods live under
	// (/sys/fs/cgroup/<controller>/<Name>). Default "streamspace".
	Name string
	// Bridge is the CNI bridge's interface name. Default "ssbr0".
	Bridge string
	// Subnet is the pods' IPv4 /16; empty picks the first candidate that
	// clashes with no route or address of this machine.
	Subnet string
	// Ports; zero fields take DefaultPorts.
	Ports Ports
	// Simulated forces a kwok node even where a real node could run.
	Simulated bool
	// MetricsServer starts metrics-server (metrics.k8s.io, kubectl top) on
	// a real node. Off by default for now: with it on, the chart's install
	// test found the in-cluster portal's Service refusing connections after
	// helm install (cause not found yet).
	MetricsServer bool
	// Log receives Down's progress lines (Up writes to its out argument).
	Log io.Writer

	// apiAddress is the address the API server binds and advertises:
	// empty for loopback (a simulated node, or an API server started before
	// the cluster had one), else the bridge's gateway (a real node).
	apiAddress string
}

// Status is what runs.
type Status struct {
	Components []Component
	// Node is the node's name and NodeReady whether it reports Ready.
	Node      string
	NodeReady bool
	// Simulated is true when kwok fakes the node (no container runs).
	Simulated bool
	// Kubeconfig is the admin kubeconfig; Server the API server's URL.
	Kubeconfig, Server string
	// PodSubnet is the CNI bridge's subnet (real node only): the host
	// reaches a pod IP directly through Bridge.
	PodSubnet, Bridge string
	// ContainerdSocket is the node's containerd (real node only).
	ContainerdSocket string
}

// Running is true when every component runs and is healthy.
func (s *Status) Running() bool {
	if len(s.Components) == 0 {
		return false
	}
	for _, c := range s.Components {
		if !c.Running || !c.Healthy {
			return false
		}
	}
	return true
}

// Component is one process of the cluster.
type Component struct {
	Name    string
	PID     int // 0 when not running
	Running bool
	Healthy bool
	Detail  string
}

// DefaultBins is $KUBE_BIN (the Makefile's variable) when set, else the
// folder the Makefile builds the binaries into:
// $XDG_CACHE_HOME/streamspace/kube-<version>, else ~/.cache/....
func DefaultBins() string {
	if bins := os.Getenv("KUBE_BIN"); bins != "" {
		return bins
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "streamspace", "kube-"+KubeVersion)
}

// New is the default cluster of the checkout at repoRoot.
func New(repoRoot string) *Cluster {
	return &Cluster{Dir: filepath.Join(repoRoot, ".state", "cluster"), Bins: DefaultBins()}
}

// state is what a cluster records about itself in Dir/state.json, so that
// status and down work on what up really set up.
type state struct {
	Simulated bool   `json:"simulated"`
	Name      string `json:"name"`
	Bridge    string `json:"bridge"`
	Subnet    string `json:"subnet,omitempty"`
	Ports     Ports  `json:"ports"`
	// APIAddress is where the API server listens; empty: 127.0.0.1.
	APIAddress string `json:"apiAddress,omitempty"`
}

func (c *Cluster) statePath() string { return filepath.Join(c.Dir, "state.json") }

func (c *Cluster) readState() (*state, error) {
	data, err := os.ReadFile(c.statePath())
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", c.statePath(), err)
	}
	return &s, nil
}

func (c *Cluster) writeState() error {
	data, _ := json.MarshalIndent(state{Simulated: c.Simulated, Name: c.Name, Bridge: c.Bridge, Subnet: c.Subnet, Ports: c.Ports, APIAddress: c.apiAddress}, "", "  ")
	return writeFile(c.statePath(), append(data, '\n'), 0o644)
}

// resolve fills the defaults: recorded state first, then the defaults.
func (c *Cluster) resolve() error {
	if c.Dir == "" {
		return errors.New("local cluster: Dir is empty")
	}
	abs, err := filepath.Abs(c.Dir)
	if err != nil {
		return err
	}
	c.Dir = abs
	if c.Bins == "" {
		c.Bins = DefaultBins()
	}
	if st, err := c.readState(); err == nil {
		if c.Name == "" {
			c.Name = st.Name
		}
		if c.Bridge == "" {
			c.Bridge = st.Bridge
		}
		if c.Subnet == "" {
			c.Subnet = st.Subnet
		}
		if c.Ports == (Ports{}) {
			c.Ports = st.Ports
		}
		c.apiAddress = st.APIAddress
	}
	if c.Name == "" {
		c.Name = "streamspace"
	}
	if c.Bridge == "" {
		c.Bridge = "ssbr0"
	}
	if len(c.Bridge) > 15 {
		return fmt.Errorf("bridge name %q is longer than 15 characters", c.Bridge)
	}
	d := DefaultPorts
	for _, p := range []struct {
		v   *int
		def int
	}{
		{&c.Ports.Etcd, d.Etcd}, {&c.Ports.EtcdPeer, d.EtcdPeer}, {&c.Ports.APIServer, d.APIServer},
		{&c.Ports.ControllerManager, d.ControllerManager}, {&c.Ports.Scheduler, d.Scheduler},
		{&c.Ports.Kubelet, d.Kubelet}, {&c.Ports.KubeletHealthz, d.KubeletHealthz},
		{&c.Ports.KubeProxy, d.KubeProxy}, {&c.Ports.KubeProxyMetrics, d.KubeProxyMetrics},
		{&c.Ports.MetricsServer, d.MetricsServer},
	} {
		if *p.v == 0 {
			*p.v = p.def
		}
	}
	return c.Ports.validate()
}

// validate refuses a port in this machine's ephemeral range: the
// kernel gives those to outgoing connections, so a component told to
// listen on one fails now and then with "address already in use" (it
// happened to etcd's peer port while other tests ran). It refuses the
// NodePort range too.
func (p Ports) validate() error {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return nil // not Linux, or no procfs: nothing to check against
	}
	var low, high int
	if _, err := fmt.Sscan(string(data), &low, &high); err != nil {
		return nil
	}
	for name, port := range map[string]int{
		"etcd": p.Etcd, "etcd peer": p.EtcdPeer, "kube-apiserver": p.APIServer,
		"kube-controller-manager": p.ControllerManager, "kube-scheduler": p.Scheduler,
		"kubelet": p.Kubelet, "kubelet healthz": p.KubeletHealthz, "kube-proxy healthz": p.KubeProxy,
		"kube-proxy metrics": p.KubeProxyMetrics, "metrics-server": p.MetricsServer,
	} {
		if port >= low && port <= high {
			return fmt.Errorf("the %s port %d is in this machine's ephemeral port range %d-%d (net.ipv4.ip_local_port_range), which outgoing connections take: choose a port below %d", name, port, low, high, low)
		}
		if port >= 30000 && port <= 32767 {
			// kube-router lets NodePorts through every NetworkPolicy
			return fmt.Errorf("the %s port %d is in Kubernetes' NodePort range 30000-32767, which NetworkPolicy enforcement exempts: choose another", name, port)
		}
	}
	return nil
}

// step prints "==> what … " and returns a func that ends the line.
func step(out io.Writer, format string, args ...any) func(result string) {
	start := time.Now()
	fmt.Fprintf(out, "==> "+format+" … ", args...)
	return func(result string) {
		fmt.Fprintf(out, "%s in %.1fs\n", result, time.Since(start).Seconds())
	}
}

// Up starts what is not running yet and waits until the node is Ready.
// Components that already run (a second Up) are reused.
func (c *Cluster) Up(ctx context.Context, out io.Writer) (*Status, error) {
	if out == nil {
		out = io.Discard
	}
	if err := c.resolve(); err != nil {
		return nil, err
	}
	started := time.Now()
	need := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}
	if err := c.checkBins(need...); err != nil {
		return nil, err
	}

	// A node kind is kept while its processes run; otherwise decide anew.
	if st, err := c.readState(); err == nil && (c.pid("kubelet") != 0 || c.pid("containerd") != 0 || c.pid("kwok") != 0) {
		if c.Simulated != st.Simulated {
			fmt.Fprintf(out, "==> the node that runs is kept (simulated=%v): run down first to change it\n", st.Simulated)
		}
		c.Simulated = st.Simulated
	}
	if !c.Simulated {
		if reason := c.realNodeBlocker(); reason != "" {
			fmt.Fprintf(out, "==> %s\n", reason)
			c.Simulated = true
		}
	}
	if c.Simulated {
		if err := c.checkBins("kwok"); err != nil {
			return nil, err
		}
		fmt.Fprintln(out, "==> No real node: sessions will be simulated (kwok); streaming will not work")
	} else {
		if err := c.checkBins("kubelet", "kube-proxy"); err != nil {
			return nil, err
		}
		if c.Subnet == "" || !c.subnetUsable(c.Subnet) {
			subnet, err := c.pickSubnet()
			if err != nil {
				return nil, err
			}
			c.Subnet = subnet
		}
	}
	// The API server listens where pods reach it, the bridge's gateway,
	// which therefore exists before it starts. One that already runs keeps
	// the address it was started with.
	if c.pid("kube-apiserver") == 0 {
		c.apiAddress = ""
		if !c.Simulated {
			ipnet, gw, err := c.gateway()
			if err != nil {
				return nil, err
			}
			ones, _ := ipnet.Mask.Size()
			if err := ensureBridge(ctx, c.Bridge, fmt.Sprintf("%s/%d", gw, ones)); err != nil {
				return nil, err
			}
			c.apiAddress = gw.String()
		}
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := c.ensurePKI(); err != nil {
		return nil, err
	}
	if err := c.writeKubeconfigs(); err != nil {
		return nil, err
	}
	if err := c.writeState(); err != nil {
		return nil, err
	}

	if err := c.upControlPlane(ctx, out); err != nil {
		return nil, err
	}
	if c.Simulated {
		if err := c.upKwok(ctx, out); err != nil {
			return nil, err
		}
	} else {
		if err := c.upNode(ctx, out); err != nil {
			return nil, err
		}
	}
	if err := c.upMetricsServer(ctx, out); err != nil {
		return nil, err
	}
	if err := c.waitDefaultServiceAccount(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "==> cluster up in %.1fs; kubeconfig: %s\n", time.Since(started).Seconds(), c.Kubeconfig())
	return c.Status()
}

func (c *Cluster) checkBins(names ...string) error {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(c.Bins, n)); err != nil {
			return fmt.Errorf("%s is missing in %s: build it with `make cluster-binaries`", n, c.Bins)
		}
	}
	return nil
}

// Status reports what runs: each component (PID alive and health
// endpoint), the node's readiness and the kubeconfig.
func (c *Cluster) Status() (*Status, error) {
	if err := c.resolve(); err != nil {
		return nil, err
	}
	st, err := c.readState()
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return &Status{Kubeconfig: c.Kubeconfig(), Server: c.Server()}, nil
		}
		return nil, err
	}
	c.Simulated = st.Simulated
	s := &Status{
		Node:       NodeName,
		Simulated:  st.Simulated,
		Kubeconfig: c.Kubeconfig(),
		Server:     c.Server(),
	}
	if !st.Simulated {
		s.PodSubnet, s.Bridge, s.ContainerdSocket = st.Subnet, st.Bridge, c.containerdSocket()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, comp := range c.components() {
		pid := c.pid(comp.name)
		cs := Component{Name: comp.name, PID: pid, Running: pid != 0}
		if pid != 0 {
			if err := comp.health(ctx); err != nil {
				cs.Detail = err.Error()
			} else {
				cs.Healthy = true
			}
		}
		s.Components = append(s.Components, cs)
	}
	if s.Components[1].Healthy { // kube-apiserver
		ready, err := c.nodeReady(ctx, time.Time{})
		s.NodeReady = ready
		if err != nil && !ready {
			s.Node = NodeName + " (" + err.Error() + ")"
		}
	}
	return s, nil
}

// components are the processes of this cluster in start order.
type component struct {
	name   string
	health func(context.Context) error
}

func (c *Cluster) components() []component {
	comps := []component{
		{"etcd", c.etcdHealthy},
		{"kube-apiserver", c.apiserverHealthy},
		{"kube-controller-manager", c.httpsHealthy(c.Ports.ControllerManager)},
		{"kube-scheduler", c.httpsHealthy(c.Ports.Scheduler)},
	}
	if c.Simulated {
		return append(comps, component{"kwok", func(context.Context) error { return nil }})
	}
	comps = append(comps,
		component{"containerd", c.containerdHealthy},
		component{"kubelet", c.kubeletHealthy},
		component{"kube-proxy", c.kubeProxyHealthy},
		component{"kube-router", c.kubeRouterHealthy})
	if c.MetricsServer && haveFile(c.MetricsServerBin()) && c.aggregationLayer() {
		comps = append(comps, component{"metrics-server", c.metricsServerHealthy})
	}
	return comps
}

// subnetUsable: no route or address of this machine overlaps subnet, other
// than our own bridge's.
func (c *Cluster) subnetUsable(subnet string) bool {
	_, want, err := net.ParseCIDR(subnet)
	if err != nil {
		return false
	}
	for _, r := range routes() {
		if r.iface == c.Bridge || r.dst.Contains(net.IPv4zero) && r.dst.Mask.String() == net.CIDRMask(0, 32).String() {
			continue
		}
		if overlaps(r.dst, want) {
			return false
		}
	}
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Name == c.Bridge {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && want.Contains(ipn.IP) {
				return false
			}
		}
	}
	return true
}

// SubnetCandidates are the /16s a real node picks its pod subnet from.
var SubnetCandidates = []string{"10.88.0.0/16", "10.89.0.0/16", "10.90.0.0/16", "10.91.0.0/16", "172.30.0.0/16", "172.31.0.0/16"}

func (c *Cluster) pickSubnet() (string, error) {
	for _, s := range SubnetCandidates {
		if c.subnetUsable(s) {
			return s, nil
		}
	}
	return "", fmt.Errorf("every candidate pod subnet (%v) clashes with a route of this machine: set one with --subnet", SubnetCandidates)
}

func overlaps(a, b *net.IPNet) bool { return a.Contains(b.IP) || b.Contains(a.IP) }
