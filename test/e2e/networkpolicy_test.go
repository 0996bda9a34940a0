package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/streamspace/streamspace/local/cluster"
	"github.com/streamspace/streamspace/sessionpod/xidle"
	"github.com/streamspace/streamspace/test/testenv"
)

// TestNetworkPolicy_enforcedOnARealNode checks, on the real node, that the
// NetworkPolicies hold: those of policies/network/ as the agent syncs them
// from environments/local, and the portal's (deploy/portal/networkpolicy.yaml)
// as an install applies it. The enforcer is the local cluster's kube-router
// (local lab only, see local/cluster/netpol.go).
//
// Two real sessions (A and B) run; the portal and the agent are stood in for
// by pause pods labelled as deploy/ labels theirs (in the local lab both run
// on this machine, and traffic from the node itself is always admitted);
// a control pod that no policy selects proves each target is there and
// reachable from the pod network, so a refused probe from a session is the
// policy, not an absent listener. Probes run from inside each pod's network
// namespace.
func TestNetworkPolicy_enforcedOnARealNode(t *testing.T) {
	e := needPlatform(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	k := e.Platform.Client
	root := testenv.RepoRoot()

	// the session policies arrive with the agent's sync of environments/local
	for _, name := range []string{"session-isolation", "session-internet-egress"} {
		waitFor(t, time.Minute, "NetworkPolicy "+name+" synced from policies/network", func() (bool, string) {
			err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &networkingv1.NetworkPolicy{})
			return err == nil, fmt.Sprint(err)
		})
	}
	portalPolicy := &networkingv1.NetworkPolicy{}
	decodeFirst(t, filepath.Join(root, "deploy", "portal", "networkpolicy.yaml"), "NetworkPolicy", portalPolicy)
	portalPolicy.Namespace = ns
	if err := k.Create(ctx, portalPolicy); err != nil {
		t.Fatalf("apply deploy/portal/networkpolicy.yaml: %v", err)
	}
	t.Cleanup(func() { _ = k.Delete(context.Background(), portalPolicy) })

	// the stand-ins and the control pod
	podLabels := func(file string) map[string]string {
		d := &appsv1.Deployment{}
		decodeFirst(t, filepath.Join(root, "deploy", file), "Deployment", d)
		return d.Spec.Template.Labels
	}
	portalPod := pausePod(ctx, t, k, "np-portal", podLabels("portal/deployment.yaml"))
	agentPod := pausePod(ctx, t, k, "np-agent", podLabels("agent/deployment.yaml"))
	control := pausePod(ctx, t, k, "np-control", map[string]string{"test": "np-control"})

	_, sessA := startSession(ctx, t, k, "terminal-local", "np-a-")
	_, sessB := startSession(ctx, t, k, "terminal-local", "np-b-")
	streamPort := 0
	for _, c := range sessB.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == "vnc-ws" {
				streamPort = int(p.ContainerPort)
			}
		}
	}
	if streamPort == 0 {
		t.Fatalf("session pod %s declares no vnc-ws port: %+v", sessB.Name, sessB.Spec.Containers)
	}

	// listeners: the idle reporter's port in session B (the e2e sessions run
	// without the sidecar), the portal's port in its stand-in, and a
	// metadata service at 169.254.169.254 reached from the pods only
	idle := listenIn(t, netnsOf(t, sessB), net.JoinHostPort(sessB.Status.PodIP, strconv.Itoa(xidle.DefaultPort)))
	portalLn := listenIn(t, netnsOf(t, portalPod), net.JoinHostPort(portalPod.Status.PodIP, "8443"))
	metadata := fakeMetadata(t, e.Status.PodSubnet)

	apiServer := strings.TrimPrefix(e.Status.Server, "https://")
	b := func(port int) string { return net.JoinHostPort(sessB.Status.PodIP, strconv.Itoa(port)) }
	a := func(port int) string { return net.JoinHostPort(sessA.Status.PodIP, strconv.Itoa(port)) }
	ctrlNS := netnsOf(t, control)
	// Every target answers where no policy stands in the way: a session's
	// ports from the node (whose traffic to its pods is always admitted),
	// the rest from the control pod, which no policy selects.
	denied := []struct{ what, addr, witness string }{
		{"session B's stream port", b(streamPort), ""},
		{"session B's idle reporter port", idle, ""},
		{"the API server", apiServer, ctrlNS},
		{"the API server's ClusterIP (kubernetes Service)", "10.0.0.1:443", ctrlNS},
		{"the portal's port", portalLn, ctrlNS},
		{"the metadata service", metadata, ctrlNS},
	}
	for _, d := range denied {
		waitFor(t, 30*time.Second, fmt.Sprintf("%s at %s answers without a policy (from %s)", d.what, d.addr, or(d.witness, "the node")), func() (bool, string) {
			err := dialIn(d.witness, d.addr)
			return err == nil, fmt.Sprint(err)
		})
	}
	allowed := []struct {
		from *corev1.Pod
		what string
		addr string
	}{
		{portalPod, "the portal reaches session A's stream port", a(streamPort)},
		{portalPod, "the portal reaches session B's stream port", b(streamPort)},
		{agentPod, "the agent reaches session B's idle reporter", idle},
	}
	deniedOthers := []struct {
		from *corev1.Pod
		what string
		addr string
	}{
		{portalPod, "the portal reaches session B's idle reporter", idle},
		{agentPod, "the agent reaches session B's stream port", b(streamPort)},
		{control, "another pod reaches session B's stream port", b(streamPort)},
		{portalPod, "the portal reaches the metadata service", metadata},
	}

	// kube-router programs a pod's chains after it sees the pod: wait until
	// every pod a policy selects has them (it writes all of them in one
	// sync, with the ipsets of the peers' addresses).
	waitFor(t, time.Minute, "kube-router's firewall chains for the policy-selected pods", func() (bool, string) {
		out, err := exec.Command("iptables", "-w", "5", "-t", "filter", "-S").CombinedOutput()
		if err != nil {
			return false, err.Error() + ": " + string(out)
		}
		for _, p := range []*corev1.Pod{sessA, sessB, portalPod} {
			if !bytes.Contains(out, []byte("POD name:"+p.Name+" namespace: "+ns)) {
				return false, "no chain for " + p.Name
			}
		}
		return true, ""
	})

	nsA := netnsOf(t, sessA)
	for _, d := range denied {
		if err := dialIn(nsA, d.addr); err == nil {
			t.Errorf("session A reaches %s at %s: the policy is not enforced", d.what, d.addr)
		} else {
			t.Logf("session A -> %s (%s): blocked (%v)", d.what, d.addr, err)
		}
	}
	for _, d := range deniedOthers {
		if err := dialIn(netnsOf(t, d.from), d.addr); err == nil {
			t.Errorf("%s at %s: the policy does not allow it", d.what, d.addr)
		} else {
			t.Logf("%s (%s): blocked (%v)", d.what, d.addr, err)
		}
	}
	for _, d := range allowed {
		if err := dialIn(netnsOf(t, d.from), d.addr); err != nil {
			t.Errorf("%s at %s: %v (the policies allow it)", d.what, d.addr, err)
		}
	}
	// The local lab's portal runs on this machine and dials session pods by
	// their IP: traffic from the node is admitted.
	if conn, err := net.DialTimeout("tcp", a(streamPort), 3*time.Second); err != nil {
		t.Errorf("the node (the local portal) reaches session A's stream port: %v", err)
	} else {
		conn.Close()
	}
}

// decodeFirst decodes the first document of kind in a YAML file of
// deploy/ (the manifests an install applies).
func decodeFirst(t *testing.T, path, kind string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s has no %s", path, kind)
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil || tm.Kind != kind {
			continue
		}
		if err := yaml.Unmarshal(doc, into); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return
	}
}

// pausePod runs a pod of the pause image (always on the node) with labels,
// and returns it Running with its IP.
func pausePod(ctx context.Context, t *testing.T, k client.Client, name string, labels map[string]string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{{Name: "pause", Image: cluster.PauseImage, ImagePullPolicy: corev1.PullNever}},
			TerminationGracePeriodSeconds: ptr.To[int64](0),
		},
	}
	if err := k.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.Delete(context.Background(), pod); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete pod %s: %v", name, err)
		}
	})
	waitFor(t, time.Minute, "pod "+name+" Running", func() (bool, string) {
		if err := k.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return false, err.Error()
		}
		return pod.Status.Phase == corev1.PodRunning && pod.Status.PodIP != "", string(pod.Status.Phase)
	})
	return pod
}

// netnsOf is the pinned network namespace (/var/run/netns/cni-...) that
// holds the pod's IP.
func netnsOf(t *testing.T, pod *corev1.Pod) string {
	t.Helper()
	want := net.ParseIP(pod.Status.PodIP)
	paths, _ := filepath.Glob("/var/run/netns/cni-*")
	for _, p := range paths {
		found := false
		_ = inNetns(p, func() error {
			addrs, err := net.InterfaceAddrs()
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(want) {
					found = true
				}
			}
			return err
		})
		if found {
			return p
		}
	}
	t.Fatalf("no network namespace under /var/run/netns holds %s (pod %s)", want, pod.Name)
	return ""
}

// inNetns runs fn on an OS thread that has entered the network namespace
// at path. The thread is never handed back (the goroutine ends locked, so
// the runtime ends the thread); sockets fn opens stay in that namespace.
func inNetns(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(path)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// dialIn opens a TCP connection to addr from the network namespace at
// path ("": this machine's): nil when it connects (within 3 s).
func dialIn(path, addr string) error {
	dial := func() error {
		conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	if path == "" {
		return dial()
	}
	return inNetns(path, dial)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// listenIn listens on addr inside the network namespace at path, accepts
// (and closes) connections until the test ends, and returns the address.
func listenIn(t *testing.T, path, addr string) string {
	t.Helper()
	var ln net.Listener
	if err := inNetns(path, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, path, err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.Close()
		}
	}()
	return ln.Addr().String()
}

// fakeMetadata serves 169.254.169.254:80 to the pods only: a network
// namespace (held by a process, never pinned under /var/run/netns, where
// `ip netns add` would bind-mount the folder over the pods' own pins)
// holds the address, and a routing rule sends the pod subnet's packets for
// it there. This machine's own route to that address (its provider's
// metadata service) is untouched.
func fakeMetadata(t *testing.T, podSubnet string) string {
	t.Helper()
	const addr, table = "169.254.169.254", "16925"
	holder := exec.Command("unshare", "--net", "--", "sleep", "3600")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(holder.Process.Pid)
	host, peer := fmt.Sprintf("ssmeta%dh", holder.Process.Pid%100000), "meta0"
	t.Cleanup(func() {
		_ = exec.Command("ip", "rule", "del", "from", podSubnet, "to", addr+"/32", "table", table).Run()
		_ = exec.Command("ip", "route", "flush", "table", table).Run()
		_ = exec.Command("ip", "link", "del", host).Run()
		_ = holder.Process.Kill()
		_ = holder.Wait()
	})
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	nsPath := "/proc/" + pid + "/ns/net"
	// unshare has switched namespaces once its namespace differs from ours
	waitFor(t, 10*time.Second, "the metadata namespace", func() (bool, string) {
		mine, _ := os.Readlink("/proc/self/ns/net")
		its, err := os.Readlink(nsPath)
		return err == nil && its != mine, fmt.Sprint(err)
	})
	in := func(args ...string) { run(append([]string{"nsenter", "--net=" + nsPath, "ip"}, args...)...) }
	run("ip", "link", "add", host, "type", "veth", "peer", "name", peer, "netns", pid)
	in("addr", "add", addr+"/32", "dev", peer)
	in("link", "set", "lo", "up")
	in("link", "set", peer, "up")
	in("route", "add", "default", "dev", peer)
	run("ip", "link", "set", host, "up")
	// the namespace's replies ask for the pods' addresses on the link
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+host+"/proxy_arp", []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	run("ip", "route", "add", addr+"/32", "dev", host, "table", table)
	run("ip", "rule", "add", "from", podSubnet, "to", addr+"/32", "table", table)
	return listenIn(t, nsPath, net.JoinHostPort(addr, "80"))
}
