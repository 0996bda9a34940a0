package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CNIBinDir is where Debian's containernetworking-plugins installs the
// plugins.
const CNIBinDir = "/usr/lib/cni"

// snapshotter is containerd's snapshotter for the CRI and for imports.
const snapshotter = "overlayfs"

// realNodeBlocker says why no real node can run here, or "".
func (c *Cluster) realNodeBlocker() string {
	if os.Geteuid() != 0 {
		return "not root: a real node (containerd + kubelet) needs root"
	}
	if err := probeCgroups(); err != nil {
		return "cgroups are not usable (" + err.Error() + ")"
	}
	return ""
}

// cgroupHierarchies are the cgroup mounts under /sys/fs/cgroup (cgroup v1:
// one per controller plus name=systemd and the hybrid "unified"; cgroup v2:
// the root itself).
func cgroupHierarchies() []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}
	}
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	var out []string
	for _, e := range entries {
		if e.Type()&os.ModeSymlink != 0 || !e.IsDir() {
			continue
		}
		out = append(out, filepath.Join("/sys/fs/cgroup", e.Name()))
	}
	return out
}

func probeCgroups() error {
	hs := cgroupHierarchies()
	if len(hs) == 0 {
		return errors.New("no cgroup hierarchy under /sys/fs/cgroup")
	}
	if len(hs) > 1 { // cgroup v1: the kubelet needs these controllers
		for _, ctl := range []string{"cpu", "cpuacct", "cpuset", "memory", "pids"} {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", ctl, "cgroup.procs")); err != nil {
				return fmt.Errorf("controller %s is not mounted", ctl)
			}
		}
	}
	parent := "/sys/fs/cgroup/memory"
	if len(hs) == 1 {
		parent = hs[0]
	}
	probe := filepath.Join(parent, fmt.Sprintf(".streamspace-probe-%d", os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil {
		return fmt.Errorf("cannot create a cgroup: %w", err)
	}
	return os.Remove(probe)
}

// ensureCgroupRoot creates /<Name> in every hierarchy: the kubelet's
// cgroupRoot, under which it creates kubepods. It must exist beforehand.
func (c *Cluster) ensureCgroupRoot() error {
	for _, h := range cgroupHierarchies() {
		dir := filepath.Join(h, c.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		if filepath.Base(h) == "cpuset" {
			// A new cpuset has no CPUs or memory nodes until given some.
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				cur, _ := os.ReadFile(filepath.Join(dir, f))
				if strings.TrimSpace(string(cur)) != "" {
					continue
				}
				parent, err := os.ReadFile(filepath.Join(h, f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), parent, 0o644); err != nil {
					return fmt.Errorf("%s: %w", filepath.Join(dir, f), err)
				}
			}
		}
	}
	return nil
}

// ensurePackages installs containerd, runc and the CNI plugins from Debian
// when missing.
func (c *Cluster) ensurePackages(ctx context.Context, out io.Writer) error {
	var missing []string
	for _, p := range []struct{ pkg, file string }{
		{"containerd", "containerd"}, {"containerd", "ctr"}, {"runc", "runc"},
		{"containernetworking-plugins", filepath.Join(CNIBinDir, "bridge")},
		{"containernetworking-plugins", filepath.Join(CNIBinDir, "host-local")},
		{"containernetworking-plugins", filepath.Join(CNIBinDir, "loopback")},
		// kube-router (NetworkPolicy) programs iptables and ipsets
		{"iptables", "iptables"}, {"ipset", "ipset"},
	} {
		if !haveFile(p.file) && !contains(missing, p.pkg) {
			missing = append(missing, p.pkg)
		}
	}
	return c.aptInstall(ctx, out, missing...)
}

func haveFile(name string) bool {
	if filepath.IsAbs(name) {
		_, err := os.Stat(name)
		return err == nil
	}
	_, err := exec.LookPath(name)
	if err != nil {
		for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
			if _, err := os.Stat(filepath.Join(d, name)); err == nil {
				return true
			}
		}
	}
	return err == nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// aptInstall runs apt-get update and apt-get install for pkgs (none: no-op),
// logging to Dir/logs/apt.log.
func (c *Cluster) aptInstall(ctx context.Context, out io.Writer, pkgs ...string) error {
	if len(pkgs) == 0 {
		return nil
	}
	done := step(out, "installing %s (apt-get install)", strings.Join(pkgs, " "))
	if err := os.MkdirAll(filepath.Join(c.Dir, "logs"), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(c.logFile("apt"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	for _, args := range [][]string{{"update", "-qq"}, append([]string{"install", "-y", "-qq", "--no-install-recommends"}, pkgs...)} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(out, "failed")
			return fmt.Errorf("apt-get %s: %w; the end of %s:\n%s", args[0], err, c.logFile("apt"), lastLines(c.logFile("apt"), 10))
		}
	}
	done("installed")
	return nil
}

func (c *Cluster) containerdDir(parts ...string) string {
	return filepath.Join(append([]string{c.Dir, "containerd"}, parts...)...)
}

func (c *Cluster) containerdSocket() string { return c.containerdDir("containerd.sock") }

func (c *Cluster) cniConfDir() string { return filepath.Join(c.Dir, "cni", "net.d") }

func (c *Cluster) cniIPAMDir() string { return filepath.Join(c.Dir, "cni", "ipam") }

// writeContainerdConfig writes a containerd 1.6 config that keeps every
// folder and socket under Dir.
func (c *Cluster) writeContainerdConfig() error {
	if n := len(c.containerdSocket() + ".ttrpc"); n > 104 {
		return fmt.Errorf("containerd socket path too long (%d characters): use a shorter Dir", n)
	}
	cfg := fmt.Sprintf(`# Written by local/cluster: containerd for the local StreamSpace node.
version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # Root here lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj
  # below the runtime's own, and every sandbox would fail without this.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = %q
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %q

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
    max_conf_num = 1
`, c.containerdDir("root"), c.containerdDir("state"), c.containerdSocket(), c.containerdSocket()+".ttrpc",
		c.containerdDir("opt"), PauseImage, snapshotter, c.containerdDir("runc"), CNIBinDir, c.cniConfDir())
	return writeFile(c.containerdDir("config.toml"), []byte(cfg), 0o644)
}

// writeCNIConfig writes the bridge network: host-local IPAM on Subnet, the
// bridge as the pods' gateway (so the host routes to pod IPs), no IP
// masquerade and no portmap, hence no iptables rules.
func (c *Cluster) writeCNIConfig() error {
	ipnet, gw, err := c.gateway()
	if err != nil {
		return err
	}
	conf := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q, "gateway": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": %q
      }
    }
  ]
}
`, c.Name, c.Bridge, ipnet.String(), gw.String(), c.cniIPAMDir())
	if err := os.MkdirAll(c.cniConfDir(), 0o755); err != nil {
		return err
	}
	return writeFile(filepath.Join(c.cniConfDir(), "10-"+c.Name+".conflist"), []byte(conf), 0o644)
}

// gateway is the subnet's first address, the bridge's.
func (c *Cluster) gateway() (*net.IPNet, net.IP, error) {
	ip, ipnet, err := net.ParseCIDR(c.Subnet)
	if err != nil || ip.To4() == nil {
		return nil, nil, fmt.Errorf("subnet %q is not an IPv4 CIDR", c.Subnet)
	}
	gw := ip.Mask(ipnet.Mask).To4()
	gw[3]++
	return ipnet, gw, nil
}

func (c *Cluster) kubeletDir(parts ...string) string {
	return filepath.Join(append([]string{c.Dir, "kubelet"}, parts...)...)
}

func (c *Cluster) writeKubeletConfig() error {
	cfg := fmt.Sprintf(`# Written by local/cluster: the local StreamSpace node.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This host has cgroup v1; the kubelet refuses it unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
# The pods' cgroups live under /%[1]s/kubepods in every hierarchy; down
# removes /%[1]s.
cgroupRoot: /%[1]s
address: 127.0.0.1
port: %[2]d
healthzBindAddress: 127.0.0.1
healthzPort: %[3]d
readOnlyPort: 0
makeIPTablesUtilChains: false
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %[4]q
authorization:
  mode: Webhook
tlsCertFile: %[5]q
tlsPrivateKeyFile: %[6]q
serverTLSBootstrap: false
rotateCertificates: false
containerRuntimeEndpoint: %[7]q
podLogsDir: %[8]q
failSwapOn: false
# Imported images (no registry to pull them again) must never be collected.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 2%%
  imagefs.available: 2%%
  nodefs.inodesFree: 2%%
maxPods: 110
`, c.Name, c.Ports.Kubelet, c.Ports.KubeletHealthz, c.pki("ca.crt"), c.pki("kubelet-serving.crt"), c.pki("kubelet-serving.key"),
		"unix://"+c.containerdSocket(), c.kubeletDir("pod-logs"))
	return writeFile(c.kubeletDir("config.yaml"), []byte(cfg), 0o644)
}

func (c *Cluster) kubeletArgs() []string {
	return []string{
		"--config=" + c.kubeletDir("config.yaml"),
		"--kubeconfig=" + c.componentKubeconfig("kubelet"),
		"--hostname-override=" + NodeName,
		"--root-dir=" + c.kubeletDir("root"),
		"--cert-dir=" + c.kubeletDir("pki"),
	}
}

// pathEnv makes sure containerd finds runc and its shim.
func pathEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH") + ":/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"}
}

func (c *Cluster) upNode(ctx context.Context, out io.Writer) error {
	if err := c.checkKubeRouter(); err != nil {
		return err
	}
	if err := c.ensurePackages(ctx, out); err != nil {
		return err
	}
	pauseTar, err := c.ensurePauseImage(ctx, out)
	if err != nil {
		return err
	}
	for _, f := range []func() error{c.writeContainerdConfig, c.writeCNIConfig, c.writeKubeletConfig, c.ensureCgroupRoot} {
		if err := f(); err != nil {
			return err
		}
	}
	ipnet, gw, _ := c.gateway()
	ones, _ := ipnet.Mask.Size()
	if err := ensureBridge(ctx, c.Bridge, fmt.Sprintf("%s/%d", gw, ones)); err != nil {
		return err
	}
	if err := c.ensureRunning(ctx, out, "containerd",
		[]string{"--config=" + c.containerdDir("config.toml"), "--log-level=warn"},
		pathEnv(), c.containerdHealthy, 60*time.Second); err != nil {
		return err
	}
	if has, _ := c.hasImage(ctx, PauseImage); !has {
		done := step(out, "importing %s", PauseImage)
		if err := c.ImportImage(ctx, pauseTar); err != nil {
			fmt.Fprintln(out, "failed")
			return err
		}
		done("imported")
	}
	since := time.Time{}
	if c.pid("kubelet") == 0 {
		since = time.Now()
		if err := c.forgetFakeNode(ctx); err != nil {
			return err
		}
	}
	if err := c.ensureRunning(ctx, out, "kubelet", c.kubeletArgs(), pathEnv(), c.kubeletHealthy, 60*time.Second); err != nil {
		return err
	}
	if err := c.waitNodeReady(ctx, out, since, 120*time.Second, "containerd", "kubelet"); err != nil {
		return err
	}
	// After the node registers: kube-proxy reads the node's addresses.
	if err := c.upKubeProxy(ctx, out); err != nil {
		return err
	}
	// After kube-proxy: this cluster is then the only one on the machine
	// with a node (see netpol.go), and kube-router reads the node too.
	return c.upKubeRouter(ctx, out)
}

// cri opens a CRI runtime client on the node's containerd.
func (c *Cluster) cri() (runtimeapi.RuntimeServiceClient, func(), error) {
	conn, err := grpc.NewClient("unix://"+c.containerdSocket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, err
	}
	return runtimeapi.NewRuntimeServiceClient(conn), func() { _ = conn.Close() }, nil
}

func (c *Cluster) containerdHealthy(ctx context.Context) error {
	if _, err := os.Stat(c.containerdSocket()); err != nil {
		return errors.New("no socket yet")
	}
	rt, closeFn, err := c.cri()
	if err != nil {
		return err
	}
	defer closeFn()
	_, err = rt.Version(ctx, &runtimeapi.VersionRequest{})
	return err
}

func (c *Cluster) kubeletHealthy(ctx context.Context) error {
	_, err := get(ctx, plainHTTP, "http://127.0.0.1:"+strconv.Itoa(c.Ports.KubeletHealthz)+"/healthz")
	return err
}

// ctr runs containerd's CLI against the node's containerd, namespace k8s.io
// (the CRI's).
func (c *Cluster) ctr(ctx context.Context, args ...string) ([]byte, error) {
	args = append([]string{"--address", c.containerdSocket(), "--namespace", "k8s.io"}, args...)
	cmd := exec.CommandContext(ctx, "ctr", args...)
	cmd.Env = append(os.Environ(), pathEnv()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, &cmdError{"ctr " + strings.Join(args[4:], " "), err, out}
	}
	return out, nil
}

func (c *Cluster) hasImage(ctx context.Context, ref string) (bool, error) {
	out, err := c.ctr(ctx, "images", "ls", "-q", "name=="+ref)
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(out)) != "", nil
}

// ImportImage imports an image tarball (docker-archive, as `docker save` or
// go-containerregistry's tarball.WriteToFile write it) into the node's
// containerd, where pods use it by its tag with imagePullPolicy: Never.
// On a simulated (kwok) node there is nothing to import into: it does
// nothing and returns nil.
func (c *Cluster) ImportImage(ctx context.Context, tarPath string) error {
	if err := c.resolve(); err != nil {
		return err
	}
	if st, err := c.readState(); err == nil && st.Simulated {
		return nil
	}
	if err := c.containerdHealthy(ctx); err != nil {
		return fmt.Errorf("the node's containerd does not run (%v): run `streamspace cluster up` first", err)
	}
	_, err := c.ctr(ctx, "images", "import", "--snapshotter", snapshotter, tarPath)
	return err
}
