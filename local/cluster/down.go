package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Down stops every process the cluster started, by PID, and removes what the
// node set up: the pods' sandboxes (through the CRI, which also tears their
// network down), mounts under Dir, the pods' network namespaces, the bridge
// and the pods' cgroups. Dir itself (certificates, etcd data) stays, so the
// next Up starts where this one left. Down on a stopped cluster does nothing.
func (c *Cluster) Down(ctx context.Context) error {
	out := c.Log
	if out == nil {
		out = io.Discard
	}
	if err := c.resolve(); err != nil {
		return err
	}
	if st, err := c.readState(); err == nil {
		c.Simulated = st.Simulated
	}
	var errs []error

	// Sessions we started: their members are ours to end. A recorded PID
	// counts while its process is ours, or once it is gone (Linux does not
	// reuse a PID while a session still bears it); a live stranger that
	// reuses the PID does not.
	sessions := map[int]bool{}
	entries, _ := os.ReadDir(filepath.Join(c.Dir, "pids"))
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".pid")
		if data, err := os.ReadFile(filepath.Join(c.Dir, "pids", e.Name())); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 1 && (c.pid(name) == pid || !alive(pid)) {
				sessions[pid] = true
			}
		}
	}

	stopped := 0
	stop := func(name string, grace time.Duration) {
		if pid := c.pid(name); pid != 0 {
			done := step(out, "stopping %s (pid %d)", name, pid)
			stopPID(ctx, pid, grace)
			done("stopped")
			stopped++
		}
		_ = os.Remove(c.pidFile(name))
	}

	// kube-router keeps its rules when it stops: delete them (its own
	// iptables chains and ipsets) once it is gone; before kube-proxy's
	// clean-up, while this cluster still holds the machine's node.
	if !c.Simulated && (c.pid("kube-router") != 0 || haveFile(c.componentKubeconfig("kube-router"))) {
		if err := c.downKubeRouter(ctx, stop); err != nil {
			errs = append(errs, err)
		}
	}
	// kube-proxy keeps its rules when it stops: delete them (its own
	// nftables tables) once it is gone.
	if _, err := os.Stat(c.kubeProxyDir("config.yaml")); err == nil && !c.Simulated {
		stop("kube-proxy", 10*time.Second)
		if err := c.cleanupKubeProxy(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	// The kubelet first, so it does not restart the pods removed next.
	stop("kubelet", 20*time.Second)
	if c.pid("containerd") != 0 {
		if n, err := c.removeSandboxes(ctx); err != nil {
			errs = append(errs, err)
		} else if n > 0 {
			fmt.Fprintf(out, "==> removed %d pod sandboxes\n", n)
		}
	}
	stop("containerd", 15*time.Second)
	for _, name := range []string{"metrics-server", "kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"} {
		stop(name, 15*time.Second)
	}

	// Whatever is left: shims, container processes, children.
	if left := c.leftovers(sessions); len(left) > 0 {
		var names []string
		for _, p := range left {
			names = append(names, fmt.Sprintf("%d %s", p.pid, strings.Join(p.args, " ")))
		}
		fmt.Fprintf(out, "==> ending %d leftover processes:\n    %s\n", len(left), strings.Join(names, "\n    "))
		if err := killAll(ctx, left); err != nil {
			errs = append(errs, err)
		}
	}

	if n, err := unmountUnder(c.Dir); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		fmt.Fprintf(out, "==> unmounted %d mounts under %s\n", n, c.Dir)
	}
	if c.Subnet != "" {
		for _, ns := range ourNetns(ctx, c.Subnet) {
			fmt.Fprintf(out, "==> deleting network namespace %s\n", ns)
			if err := deleteNetns(ctx, ns); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if linkExists(c.Bridge) && !c.Simulated {
		fmt.Fprintf(out, "==> deleting bridge %s\n", c.Bridge)
		if err := deleteBridge(ctx, c.Bridge); err != nil {
			errs = append(errs, err)
		}
	}
	if n, err := c.removeCgroups(ctx); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		fmt.Fprintf(out, "==> removed %d cgroups under /%s\n", n, c.Name)
	}
	c.removeHostLeftovers()
	if stopped == 0 && len(errs) == 0 {
		fmt.Fprintln(out, "==> nothing runs")
	}
	return errors.Join(errs...)
}

// removeSandboxes stops and removes every pod sandbox through the CRI:
// containerd kills the containers, runs CNI DEL (veth, IP) and deletes the
// network namespace.
func (c *Cluster) removeSandboxes(ctx context.Context) (int, error) {
	rt, closeFn, err := c.cri()
	if err != nil {
		return 0, err
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	list, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return 0, fmt.Errorf("list pod sandboxes: %w", err)
	}
	var errs []error
	for _, sb := range list.Items {
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("stop sandbox %s: %w", sb.Metadata.GetName(), err))
			continue
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("remove sandbox %s: %w", sb.Metadata.GetName(), err))
		}
	}
	return len(list.Items), errors.Join(errs...)
}

// MountsUnder lists the mount points at or under dir, most recent first.
func MountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder unmounts everything mounted at or under dir (lazily when
// busy) and returns how many mounts it removed.
func unmountUnder(dir string) (int, error) {
	n := 0
	for pass := 0; pass < 10; pass++ {
		mps := MountsUnder(dir)
		if len(mps) == 0 {
			return n, nil
		}
		for _, mp := range mps {
			if err := syscall.Unmount(mp, 0); err != nil {
				if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
					continue
				}
			}
			n++
		}
	}
	if left := MountsUnder(dir); len(left) > 0 {
		return n, fmt.Errorf("still mounted: %s", strings.Join(left, ", "))
	}
	return n, nil
}

// removeCgroups removes /<Name> and everything under it in every hierarchy,
// ending any process still inside first.
func (c *Cluster) removeCgroups(ctx context.Context) (int, error) {
	var dirs []string
	for _, h := range cgroupHierarchies() {
		root := filepath.Join(h, c.Name)
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
	}
	if len(dirs) == 0 {
		return 0, nil
	}
	// Deepest first.
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	var pids []int
	for _, d := range dirs {
		data, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				pids = append(pids, pid)
			}
		}
	}
	waitGone(ctx, pids, 5*time.Second)
	var errs []error
	n := 0
	for _, d := range dirs {
		var err error
		for try := 0; try < 20; try++ {
			if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				n++
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
		}
	}
	return n, errors.Join(errs...)
}

// cniCacheFile is libcni's result cache name: <network>-<container id>-<ifname>.
var cniCacheFile = regexp.MustCompile(`^(.+)-[0-9a-f]{64}-[^-]+$`)

// removeHostLeftovers removes what the kubelet and the CNI plugins write
// outside Dir: /var/log/containers links into our pod logs, libcni's cached
// results for our network, and the IPAM allocations (the pods are gone).
func (c *Cluster) removeHostLeftovers() {
	if entries, err := os.ReadDir("/var/log/containers"); err == nil {
		for _, e := range entries {
			p := filepath.Join("/var/log/containers", e.Name())
			if target, err := os.Readlink(p); err == nil && strings.HasPrefix(target, c.Dir+"/") {
				_ = os.Remove(p)
			}
		}
	}
	if entries, err := os.ReadDir("/var/lib/cni/results"); err == nil {
		for _, e := range entries {
			if m := cniCacheFile.FindStringSubmatch(e.Name()); m != nil && m[1] == c.Name {
				_ = os.Remove(filepath.Join("/var/lib/cni/results", e.Name()))
			}
		}
	}
	_ = os.RemoveAll(c.cniIPAMDir())
	if c.Simulated {
		return
	}
	// The kubelet's device-plugin socket has a fixed path whatever its root
	// dir: remove it once nothing listens on it.
	sock := "/var/lib/kubelet/device-plugins/kubelet.sock"
	if conn, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		_ = conn.Close()
	} else {
		_ = os.Remove(sock)
	}
	// Folders the node created on the host, removed only when empty (a
	// system containerd or kubelet keeps its files there).
	for _, d := range []string{
		"/var/lib/kubelet/device-plugins", "/var/lib/kubelet", "/var/lib/cni/results", "/var/lib/cni",
		"/var/log/containers", "/run/containerd/s", "/run/containerd", netnsDir,
	} {
		_ = syscall.Rmdir(d)
	}
}
