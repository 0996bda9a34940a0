package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

type route struct {
	iface string
	dst   *net.IPNet
}

// routes reads the IPv4 main routing table from /proc/net/route.
func routes() []route {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []route
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 {
			continue
		}
		dst, err1 := hex.DecodeString(fields[1])
		mask, err2 := hex.DecodeString(fields[7])
		if err1 != nil || err2 != nil || len(dst) != 4 || len(mask) != 4 {
			continue
		}
		// Little-endian on the hosts this runs on.
		ip := make(net.IP, 4)
		binary.BigEndian.PutUint32(ip, binary.LittleEndian.Uint32(dst))
		m := make(net.IPMask, 4)
		binary.BigEndian.PutUint32(m, binary.LittleEndian.Uint32(mask))
		out = append(out, route{iface: fields[0], dst: &net.IPNet{IP: ip, Mask: m}})
	}
	return out
}

func linkExists(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/class/net", name))
	return err == nil
}

// ensureBridge creates the CNI bridge with the gateway address up front (the
// bridge plugin would only on the first pod), so the subnet's route exists
// and another cluster on this machine picks a different subnet.
func ensureBridge(ctx context.Context, name, gatewayCIDR string) error {
	run := func(args ...string) error {
		if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
			return &cmdError{"ip " + strings.Join(args, " "), err, out}
		}
		return nil
	}
	if !linkExists(name) {
		if err := run("link", "add", "name", name, "type", "bridge"); err != nil {
			return err
		}
	}
	out, err := exec.CommandContext(ctx, "ip", "-4", "-o", "addr", "show", "dev", name).Output()
	if err != nil {
		return &cmdError{"ip addr show dev " + name, err, out}
	}
	if !strings.Contains(string(out), " "+gatewayCIDR+" ") {
		if err := run("addr", "add", gatewayCIDR, "dev", name); err != nil {
			return err
		}
	}
	return run("link", "set", name, "up")
}

// deleteBridge removes the CNI bridge (its veths went with the pods).
func deleteBridge(ctx context.Context, name string) error {
	if name == "" || !linkExists(name) {
		return nil
	}
	if out, err := exec.CommandContext(ctx, "ip", "link", "delete", name).CombinedOutput(); err != nil {
		return &cmdError{"ip link delete " + name, err, out}
	}
	return nil
}

// netnsDir is where containerd's CRI plugin pins pod network namespaces.
const netnsDir = "/var/run/netns"

// ourNetns lists the pinned network namespaces that hold an address in
// subnet: the pods' namespaces of this cluster, and only those.
func ourNetns(ctx context.Context, subnet string) []string {
	_, want, err := net.ParseCIDR(subnet)
	if err != nil {
		return nil
	}
	entries, _ := os.ReadDir(netnsDir)
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "cni-") {
			continue
		}
		addrs, err := exec.CommandContext(ctx, "ip", "-n", e.Name(), "-4", "-o", "addr", "show").Output()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(addrs), "\n") {
			f := strings.Fields(line)
			for i := 0; i+1 < len(f); i++ {
				if f[i] != "inet" {
					continue
				}
				if ip, _, err := net.ParseCIDR(f[i+1]); err == nil && want.Contains(ip) {
					out = append(out, e.Name())
				}
			}
		}
	}
	return out
}

func deleteNetns(ctx context.Context, name string) error {
	if out, err := exec.CommandContext(ctx, "ip", "netns", "delete", name).CombinedOutput(); err != nil {
		return &cmdError{"ip netns delete " + name, err, out}
	}
	return nil
}

type cmdError struct {
	cmd string
	err error
	out []byte
}

func (e *cmdError) Error() string {
	return e.cmd + ": " + e.err.Error() + ": " + strings.TrimSpace(string(e.out))
}
