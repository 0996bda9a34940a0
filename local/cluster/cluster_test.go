package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/sessions"
)

// TestUpPodDown runs the real thing: a cluster with its own folder, ports,
// bridge and cgroup (so it runs beside a developer's cluster), pods with the
// pause image, then down, and checks that nothing is left.
func TestUpPodDown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: a local cluster with a real node needs root")
	}
	bins := DefaultBins()
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kwok"} {
		if _, err := os.Stat(filepath.Join(bins, b)); err != nil {
			t.Skipf("skipped: %s is missing in %s (make cluster-binaries builds it)", b, bins)
		}
	}
	if err := (&Cluster{}).checkKubeRouter(); err != nil {
		t.Skip("skipped: " + err.Error())
	}
	// A short folder: containerd's socket path must stay under 108 bytes.
	dir, err := os.MkdirTemp("", "sslc-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{
		Dir: dir, Bins: bins, Name: "sslc-test", Bridge: "sslctest0", Log: t.Output(), MetricsServer: true,
		Ports: Ports{Etcd: 22379, EtcdPeer: 22380, APIServer: 26443, ControllerManager: 27257, Scheduler: 27259, Kubelet: 27250, KubeletHealthz: 27248, KubeProxy: 27256, KubeProxyMetrics: 27255, MetricsServer: 27443},
	}
	t.Cleanup(func() {
		if err := c.Down(context.Background()); err != nil {
			t.Errorf("cleanup down: %v", err)
		}
		_ = os.RemoveAll(dir)
	})
	// Long enough to wait for another package's cluster (one kube-proxy
	// per machine: make test's real-node packages take turns).
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()

	start := time.Now()
	st, err := c.Up(ctx, t.Output())
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	t.Logf("up (cold) in %.1fs", time.Since(start).Seconds())
	if !st.Running() || !st.NodeReady {
		t.Fatalf("after up: %+v", st)
	}
	if st.Kubeconfig != filepath.Join(dir, "kubeconfig") {
		t.Errorf("kubeconfig %s", st.Kubeconfig)
	}

	// A second up reuses what runs.
	start = time.Now()
	st2, err := c.Up(ctx, t.Output())
	if err != nil {
		t.Fatalf("second up: %v", err)
	}
	for i := range st.Components {
		if st.Components[i].PID != st2.Components[i].PID {
			t.Errorf("second up restarted %s", st.Components[i].Name)
		}
	}
	t.Logf("up (warm, all running) in %.1fs", time.Since(start).Seconds())

	cs, err := c.clientset()
	if err != nil {
		t.Fatal(err)
	}
	_, subnet, _ := net.ParseCIDR(st.PodSubnet)
	var ips []net.IP
	for _, name := range []string{"pause-a", "pause-b"} {
		start := time.Now()
		var labels map[string]string
		if name == "pause-a" {
			// labelled as the agent labels a session's pod, for the
			// real-use gauge (checkMetricsAPI)
			labels = map[string]string{sessions.LabelApp: sessions.AppSession, sessions.LabelTemplate: "pause"}
		}
		pod := runPause(ctx, t, cs, name, labels)
		t.Logf("pod %s Running with IP %s in %.1fs", name, pod.Status.PodIP, time.Since(start).Seconds())
		ip := net.ParseIP(pod.Status.PodIP)
		if st.Simulated {
			continue
		}
		if ip == nil || !subnet.Contains(ip) {
			t.Fatalf("pod %s IP %q is not in the bridge subnet %s", name, pod.Status.PodIP, st.PodSubnet)
		}
		ips = append(ips, ip)
	}
	if st.Simulated {
		t.Log("simulated node (cgroups unusable): network checks skipped")
	}
	for _, ip := range ips {
		// pause serves nothing: a refused connection proves the host
		// reaches the pod (no route would time out or be unreachable).
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), "1"), 3*time.Second)
		if err == nil {
			conn.Close()
			t.Errorf("%s:1 accepted a connection", ip)
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("pod %s is not reachable from the host: %v", ip, err)
		}
	}
	if !st.Simulated {
		if len(ourNetns(ctx, st.PodSubnet)) < 2 {
			t.Errorf("expected the pods' network namespaces, found %v", ourNetns(ctx, st.PodSubnet))
		}
		if len(MountsUnder(dir)) == 0 {
			t.Errorf("expected mounts under %s while pods run", dir)
		}
		checkServices(ctx, t, c, cs, st)
		checkMetricsAPI(ctx, t, c)
	}

	var pids []int
	for _, comp := range st.Components {
		pids = append(pids, comp.PID)
	}
	start = time.Now()
	if err := c.Down(ctx); err != nil {
		t.Fatalf("down: %v", err)
	}
	t.Logf("down in %.1fs", time.Since(start).Seconds())

	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d (%v) still runs", pid, cmdline(pid))
		}
	}
	if left := c.leftovers(map[int]bool{}); len(left) > 0 {
		for _, p := range left {
			t.Errorf("leftover process %d %v", p.pid, p.args)
		}
	}
	if m := MountsUnder(dir); len(m) > 0 {
		t.Errorf("still mounted: %v", m)
	}
	if ns := ourNetns(ctx, st.PodSubnet); len(ns) > 0 {
		t.Errorf("network namespaces left: %v", ns)
	}
	if linkExists(c.Bridge) {
		t.Errorf("bridge %s still exists", c.Bridge)
	}
	if out, err := exec.Command("nft", "list", "table", "ip", "kube-proxy").CombinedOutput(); err == nil {
		t.Errorf("kube-proxy's nftables table is left after down:\n%s", out)
	}
	if rules, err := iptablesRules(ctx); err != nil {
		t.Error(err)
	} else if left := kubeRouterCleanup(rules); len(left) > 0 {
		t.Errorf("kube-router's iptables rules are left after down: %q", left)
	}
	if sets, err := exec.Command("ipset", "list", "-n").Output(); err == nil {
		for _, s := range strings.Fields(string(sets)) {
			if kubeRouterSet(s) {
				t.Errorf("kube-router's ipset %s is left after down", s)
			}
		}
	}
	for _, h := range cgroupHierarchies() {
		if _, err := os.Stat(filepath.Join(h, c.Name)); err == nil {
			t.Errorf("cgroup %s still exists", filepath.Join(h, c.Name))
		}
	}
	if s, err := c.Status(); err != nil || s.Running() || s.NodeReady {
		t.Errorf("status after down: %+v, %v", s, err)
	}
	// Down again is a no-op.
	if err := c.Down(ctx); err != nil {
		t.Errorf("second down: %v", err)
	}
}

func runPause(ctx context.Context, t *testing.T, cs *kubernetes.Clientset, name string, labels map[string]string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{{Name: "pause", Image: PauseImage, ImagePullPolicy: corev1.PullNever}},
			TerminationGracePeriodSeconds: new(int64),
		},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err == nil && got.Status.Phase == corev1.PodRunning && got.Status.PodIP != "" {
			return got
		}
		if time.Now().After(deadline) {
			status := fmt.Sprint(err)
			if got != nil {
				status = fmt.Sprintf("%s %+v", got.Status.Phase, got.Status.ContainerStatuses)
			}
			t.Fatalf("pod %s not Running after 60s: %s", name, status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkServices: pods find the API server where it listens, the bridge's
// gateway (the kubernetes Service's endpoint), and kube-proxy routes that
// Service's ClusterIP: this machine reaches the API server through it, with
// the certificate naming the service IP.
func checkServices(ctx context.Context, t *testing.T, c *Cluster, cs *kubernetes.Clientset, st *Status) {
	t.Helper()
	_, gw, _ := c.gateway()
	if want := "https://" + net.JoinHostPort(gw.String(), "26443"); st.Server != want {
		t.Errorf("API server at %s, want the bridge's gateway %s", st.Server, want)
	}
	var addrs []string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		slices, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=kubernetes"})
		if err == nil && len(slices.Items) > 0 && len(slices.Items[0].Endpoints) > 0 {
			addrs = slices.Items[0].Endpoints[0].Addresses
			break
		}
	}
	if len(addrs) != 1 || addrs[0] != gw.String() {
		t.Errorf("kubernetes Service endpoints %v, want [%s]", addrs, gw)
	}
	hc, err := c.tlsClient(c.pki("ca.crt"), "admin")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var body string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if body, err = get(ctx, hc, "https://"+firstServiceIP+"/readyz"); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Errorf("the API server through the kubernetes Service (%s:443, kube-proxy): %v", firstServiceIP, err)
	} else {
		t.Logf("API server through its ClusterIP in %.1fs: %s", time.Since(start).Seconds(), body)
	}
}

// checkMetricsAPI: metrics.k8s.io through the aggregation layer — `kubectl
// top pods` lists the pause pods — and metrics-server believes the
// X-Remote-User headers only from the front proxy's certificate: the same
// headers sent by another client of the cluster CA (here the kubelet's) get
// that client's own rights, not the user they name.
func checkMetricsAPI(ctx context.Context, t *testing.T, c *Cluster) {
	t.Helper()
	if !haveFile(c.MetricsServerBin()) {
		t.Logf("metrics-server is not built (make cluster-binaries): metrics.k8s.io not checked")
		return
	}
	start := time.Now()
	var out []byte
	var err error
	// metrics-server scrapes every 15 s and lists a new pod after two.
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(time.Second) {
		out, err = exec.CommandContext(ctx, filepath.Join(c.Bins, "kubectl"), "--kubeconfig", c.Kubeconfig(), "top", "pods", "-n", "default").CombinedOutput()
		if err == nil && bytes.Contains(out, []byte("pause-a")) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || !bytes.Contains(out, []byte("pause-a")) {
		t.Errorf("kubectl top pods (metrics.k8s.io through the aggregation layer): %v\n%s\nmetrics-server log:\n%s", err, out, lastLines(c.logFile("metrics-server"), 15))
		return
	}
	t.Logf("kubectl top pods answers %.1fs after the pods run:\n%s", time.Since(start).Seconds(), out)

	direct := "https://" + net.JoinHostPort(c.apiAddress, strconv.Itoa(c.Ports.MetricsServer)) + "/apis/metrics.k8s.io/v1beta1/pods"
	forged := func(cert string) int {
		hc, err := c.tlsClient(c.pki("ca.crt"), cert)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, direct, nil)
		req.Header.Set("X-Remote-User", "streamspace-admin")
		req.Header.Set("X-Remote-Group", "system:masters")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("metrics-server at %s: %v", direct, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := forged("kubelet"); code != http.StatusForbidden {
		t.Errorf("X-Remote-User from the kubelet's certificate: %d, want 403 (the headers trusted from a non-proxy client)", code)
	}
	if code := forged(""); code != http.StatusForbidden && code != http.StatusUnauthorized {
		t.Errorf("X-Remote-User without a client certificate: %d, want 401 or 403", code)
	}
	if code := forged("front-proxy-client"); code != http.StatusOK {
		t.Errorf("the same headers from the front proxy's certificate: %d, want 200", code)
	}
	checkRealUseGauge(ctx, t, c)
}

// checkRealUseGauge: the agent's streamspace_session_resource_used, read
// from this real metrics-server as the agent reads it (the API server, no
// cache), reports the session-labelled pause-a's memory under its
// template, and nothing for pause-b, which is no session's.
func checkRealUseGauge(ctx context.Context, t *testing.T, c *Cluster) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	reader, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := sessions.RegisterRealUse(reg, reader, "default", nil); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += fmt.Sprintf(",%s=%s", l.GetName(), l.GetValue())
			}
			got[key] = m.GetGauge().GetValue()
		}
	}
	const memory = "streamspace_session_resource_used,resource=memory,template=pause"
	if got[memory] <= 0 || len(got) != 2 {
		t.Errorf("real-use gauge from metrics-server: %v, want the pause template's cpu and memory only, memory > 0", got)
		return
	}
	t.Logf("real-use gauge from metrics-server: %v", got)
}
