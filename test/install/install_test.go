// Package install installs the Helm chart on the real local node (a
// kubelet on containerd, kube-proxy, the API server on the pods' bridge):
// the agent and portal images built here from static binaries (one layer,
// no registry), imported into the node, `helm install`, then a session used
// through the in-cluster portal — launch, stream, hibernate, wake — and
// `helm upgrade` and `helm uninstall` (homes kept).
package install

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/streamspace/streamspace/agent/manager"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/local/cluster"
	"github.com/streamspace/streamspace/local/images"
	"github.com/streamspace/streamspace/local/platform"
	"github.com/streamspace/streamspace/local/volumes"
	"github.com/streamspace/streamspace/test/firstadmin"
	"github.com/streamspace/streamspace/test/gitserver"
	"github.com/streamspace/streamspace/test/testenv"
	"github.com/streamspace/streamspace/test/vnctest"
)

const (
	ns          = "streamspace"
	helmVersion = "v4.3.2"
	// portalStateClass is the class of the portal's state volume: a
	// static PersistentVolume owned by the portal's user (65532), which the
	// local provisioner (it makes folders for the sessions' user) does not.
	portalStateClass = "streamspace-portal-state"
)

func helmBin() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "streamspace", "tools-helm-"+helmVersion, "helm")
}

func whyNot(bins string) string {
	if os.Geteuid() != 0 {
		return "a real node needs root"
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"} {
		if _, err := os.Stat(filepath.Join(bins, b)); err != nil {
			return b + " is missing (make cluster-binaries)"
		}
	}
	if _, err := os.Stat(helmBin()); err != nil {
		return "helm is missing (make helm)"
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return "debootstrap is missing (make system-deps): the session image is built from Debian packages"
	}
	return ""
}

// TestChart_onARealNode is issue 13's proof on the real local node.
func TestChart_onARealNode(t *testing.T) {
	bins := cluster.DefaultBins()
	if why := whyNot(bins); why != "" {
		t.Skip("skipped: " + why)
	}
	if os.Getenv("STREAMSPACE_TEST_CHART_INSTALL") == "" {
		t.Skip("skipped: `make test` and `make test-chart-install` run it (STREAMSPACE_TEST_CHART_INSTALL=1; it builds static agent and portal binaries, minutes the first time)")
	}
	ctrl.SetLogger(logr.Discard()) // the provisioner's; failures show in the test's own checks
	root := testenv.RepoRoot()
	// a short folder: containerd's socket path must stay under 108 bytes
	dir, err := os.MkdirTemp("", "ssinst-")
	if err != nil {
		t.Fatal(err)
	}
	// before the cluster: a first static build takes minutes
	bin := buildBinaries(t, root)
	c := &cluster.Cluster{Dir: filepath.Join(dir, "c"), Bins: bins, Name: "ssinst", Bridge: "ssinst0", Log: t.Output(),
		Ports: cluster.Ports{Etcd: 29379, EtcdPeer: 29380, APIServer: 29443, ControllerManager: 29257, Scheduler: 29259,
			Kubelet: 29250, KubeletHealthz: 29248, KubeProxy: 29256, KubeProxyMetrics: 29255}}
	t.Cleanup(func() {
		if err := c.Down(context.Background()); err != nil {
			t.Errorf("down: %v", err)
		}
		_ = os.RemoveAll(dir)
	})
	// Up first waits while another package's cluster runs (one kube-proxy
	// per machine: in make test, the e2e node's): that wait is not this
	// test's, so it has its own, longer bound.
	upCtx, upCancel := context.WithTimeout(context.Background(), 25*time.Minute)
	st, err := c.Up(upCtx, t.Output())
	upCancel()
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if st.Simulated {
		t.Fatal("the node is simulated on a machine that should run a real one")
	}
	if err := platform.SessionImages(filepath.Join(dir, "images"), "light")(ctx, c, t.Output()); err != nil {
		t.Fatal(err)
	}
	agentRef, portalRef := importImages(ctx, t, c, bin, dir)
	t.Logf("images imported at %s: %s, %s", time.Since(began).Round(100*time.Millisecond), agentRef, portalRef)

	cfg, err := clientcmd.BuildConfigFromFlags("", st.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	k, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}

	// The platform repository, served where pods reach it: this machine's
	// address on the bridge (the API server's too).
	apiURL, _ := url.Parse(st.Server)
	git, err := gitserver.StartAt(net.JoinHostPort(apiURL.Hostname(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer git.Close()
	repo := git.NewRepo(t, "platform")
	for _, d := range []string{"catalog", "policies", "environments"} {
		repo.CopyDir(filepath.Join(root, d), d)
	}
	repo.Push("platform")

	// Storage, as a cluster's CSI driver would give it: the homes from the
	// local provisioner (the default class), the portal's state from a
	// static volume.
	if err := volumes.EnsureStorageClass(ctx, k); err != nil {
		t.Fatal(err)
	}
	volDir := filepath.Join(dir, "volumes")
	runProvisioner(ctx, t, cfg, volDir)
	stateDir := portalStateVolume(ctx, t, k, dir)

	kubeconfig := st.Kubeconfig
	helm := func(args ...string) string {
		t.Helper()
		start := time.Now()
		cmd := exec.CommandContext(ctx, helmBin(), append(args, "--kubeconfig", kubeconfig, "--namespace", ns)...)
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(dir, "helm"), "HELM_CONFIG_HOME="+filepath.Join(dir, "helm"), "HELM_DATA_HOME="+filepath.Join(dir, "helm"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("helm %s: %s", args[0], time.Since(start).Round(100*time.Millisecond))
		return string(out)
	}
	agentRepo, agentTag, _ := strings.Cut(agentRef, ":")
	portalRepo, portalTag, _ := strings.Cut(portalRef, ":")
	allowPortalToLocalAPIServer(ctx, t, k, st.Server)
	serving := watchServing(ctx, k)
	notes := helm("install", "streamspace", filepath.Join(root, "chart"), "--create-namespace", "--wait", "--timeout", "4m",
		"--set", "gitSync.url="+repo.URL, "--set", "gitSync.path=environments/local", "--set", "gitSync.interval=20s",
		"--set", "agent.image.repository="+agentRepo, "--set", "agent.image.tag="+agentTag, "--set", "agent.image.pullPolicy=Never",
		"--set", "portal.image.repository="+portalRepo, "--set", "portal.image.tag="+portalTag, "--set", "portal.image.pullPolicy=Never",
		"--set", "portal.database.storageClass="+portalStateClass, "--set", "portal.secureCookies=false",
		// no cluster DNS here: the agent reaches Git by address
		"--set", "agent.homes.size=1Gi")
	t.Logf("helm install done at %s; NOTES:\n%s", time.Since(began).Round(100*time.Millisecond), notes)

	// the portal, through its Service's ClusterIP (kube-proxy)
	svc := &corev1.Service{}
	if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: "streamspace-portal"}, svc); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://%s:%d", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port)
	helmDone := time.Now()
	waitServed(ctx, t, k, base, c.Ports.KubeProxyMetrics)
	t.Log(serving(helmDone))

	// the in-cluster agent syncs the repository: it reached the API server
	// through the kubernetes Service and the Git server through the bridge
	waitFor(t, 2*time.Minute, "the in-cluster agent syncs environments/local", func() (bool, string) {
		gs := &streamv1.GitSync{}
		if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: "platform"}, gs); err != nil {
			return false, err.Error()
		}
		err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: "terminal-local"}, &streamv1.Template{})
		return err == nil, fmt.Sprintf("%v; GitSync %+v", err, gs.Status.Conditions)
	})

	var oneTime string
	waitFor(t, time.Minute, "the portal writes the bootstrap admin's password", func() (bool, string) {
		b, err := os.ReadFile(filepath.Join(stateDir, "bootstrap-admin-password"))
		if err != nil {
			return false, err.Error()
		}
		_, pw, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
		oneTime = pw
		return ok, string(b)
	})
	token, err := firstadmin.Claim(ctx, base, "admin", oneTime, "install-admin-password")
	if err != nil {
		t.Fatalf("%v\nthe portal's pods and endpoints then:\n%s", err, portalState(ctx, k))
	}
	api := &portalClient{t: t, base: base, token: token}

	// launch → stream through the in-cluster portal
	launched := time.Now()
	var name string
	waitFor(t, time.Minute, "the portal accepts the launch", func() (bool, string) {
		code, body := api.do(http.MethodPost, "/api/v1/sessions", map[string]any{"template": "terminal-local"})
		name, _ = body["name"].(string)
		return code == http.StatusCreated, fmt.Sprint(code, body)
	})
	s := &streamv1.Session{}
	waitFor(t, time.Minute, "the session runs", func() (bool, string) {
		if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			return false, err.Error()
		}
		return s.Status.Phase == streamv1.PhaseRunning, string(s.Status.Phase)
	})
	frame := stream(ctx, t, api, name)
	t.Logf("launch → first frame through the in-cluster portal: %s (%d colours)", time.Since(launched).Round(time.Millisecond), frame)

	// hibernate → wake
	if code, body := api.do(http.MethodPost, "/api/v1/sessions/"+name+"/hibernate", nil); code != http.StatusOK && code != http.StatusAccepted {
		t.Fatalf("hibernate: %d %v", code, body)
	}
	waitFor(t, time.Minute, "the session hibernates and its pod goes", func() (bool, string) {
		if err := k.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
			return false, err.Error()
		}
		return s.Status.Phase == streamv1.PhaseHibernated && podsOf(ctx, t, k, name) == 0, string(s.Status.Phase)
	})
	woken := time.Now()
	if code, body := api.do(http.MethodGet, "/api/v1/sessions/"+name+"/connect", nil); code != http.StatusAccepted {
		t.Fatalf("connect to the hibernated session: %d %v", code, body)
	}
	stream(ctx, t, api, name)
	t.Logf("wake → streaming again: %s", time.Since(woken).Round(time.Millisecond))

	// helm upgrade to a changed value: one agent; it still reconciles
	helm("upgrade", "streamspace", filepath.Join(root, "chart"), "--reuse-values", "--wait", "--timeout", "3m", "--set", "agent.replicas=1")
	waitFor(t, 2*time.Minute, "one agent runs after the upgrade", func() (bool, string) {
		d := &appsv1.Deployment{}
		if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: "streamspace-agent"}, d); err != nil {
			return false, err.Error()
		}
		pods := &corev1.PodList{}
		_ = k.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/name": "streamspace-agent"})
		return *d.Spec.Replicas == 1 && d.Status.ReadyReplicas == 1 && len(pods.Items) == 1, fmt.Sprintf("spec %d ready %d pods %d", *d.Spec.Replicas, d.Status.ReadyReplicas, len(pods.Items))
	})
	if code, body := api.do(http.MethodDelete, "/api/v1/sessions/"+name, nil); code != http.StatusOK {
		t.Fatalf("terminate after the upgrade: %d %v", code, body)
	}
	waitFor(t, time.Minute, "the remaining agent ends the session", func() (bool, string) {
		_ = k.Get(ctx, client.ObjectKeyFromObject(s), s)
		return s.Status.Phase == streamv1.PhaseTerminated && podsOf(ctx, t, k, name) == 0, string(s.Status.Phase)
	})

	// helm uninstall: agent and portal go, the homes stay
	helm("uninstall", "streamspace", "--wait", "--timeout", "2m")
	waitFor(t, 2*time.Minute, "the agent's and portal's pods go", func() (bool, string) {
		pods := &corev1.PodList{}
		if err := k.List(ctx, pods, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		var left []string
		for _, p := range pods.Items {
			if c := p.Labels["app.kubernetes.io/name"]; c == "streamspace-agent" || c == "streamspace-portal" {
				left = append(left, p.Name)
			}
		}
		return len(left) == 0, strings.Join(left, " ")
	})
	home := &corev1.PersistentVolumeClaim{}
	if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: "home-admin"}, home); err != nil || home.DeletionTimestamp != nil || home.Status.Phase != corev1.ClaimBound {
		t.Errorf("the home volume after uninstall: %v %s", err, home.Status.Phase)
	}
	if _, err := os.Stat(filepath.Join(volDir, ns+"_home-admin")); err != nil {
		t.Errorf("the home folder after uninstall: %v", err)
	}
	if err := k.Get(ctx, client.ObjectKeyFromObject(s), &streamv1.Session{}); err != nil {
		t.Errorf("the Session after uninstall (CRDs stay): %v", err)
	}
	t.Logf("install → flow → upgrade → uninstall in %s", time.Since(began).Round(100*time.Millisecond))
}

// buildBinaries builds the agent and the portal as static binaries (the
// portal with the web UI when it is built) into <repo>/bin/static, and
// returns that folder. A folder that stays between runs: `go build -o`
// leaves a binary whose build ID matches the sources as it is, so a second
// make test neither compiles nor links them again.
func buildBinaries(t *testing.T, root string) string {
	t.Helper()
	binDir := filepath.Join(root, "bin", "static")
	// Linked statically by the C linker rather than CGO_ENABLED=0: the
	// packages then come from the same Go build cache as `go test` and
	// `make build` (a CGO_ENABLED=0 build recompiles everything: over 25
	// minutes on 2 busy cores). The images need no libc either way; the
	// portal and agent resolve names with Go's own resolver.
	args := []string{"build", "-ldflags=-s -w -linkmode external -extldflags -static", "-o", binDir + "/"}
	if _, err := os.Stat(filepath.Join(root, "portal", "web", "dist", "index.html")); err == nil {
		args = append(args, "-tags", "ui")
	}
	start := time.Now()
	cmd := exec.Command("go", append(args, "./cmd/streamspace-agent", "./cmd/streamspace-portal")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("static agent and portal binaries built in %s", time.Since(start).Round(100*time.Millisecond))
	return binDir
}

// importImages puts each binary into a one-layer image (no operating
// system, uid 65532, as the chart runs them) and imports it into the
// node; it returns their references.
func importImages(ctx context.Context, t *testing.T, c *cluster.Cluster, binDir, dir string) (agent, portal string) {
	t.Helper()
	o := images.DefaultOptions(filepath.Join(dir, "images"))
	var refs []string
	for _, b := range []struct{ name, bin string }{{"agent", "streamspace-agent"}, {"portal", "streamspace-portal"}} {
		res, err := images.BuildBinary(o, images.BinaryImage{
			Name:       b.name,
			Files:      []images.BinaryFile{{Path: "/usr/local/bin/" + b.bin, Src: filepath.Join(binDir, b.bin)}},
			Entrypoint: []string{"/usr/local/bin/" + b.bin},
			Title:      b.bin,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ImportImage(ctx, res.Tarball); err != nil {
			t.Fatalf("import %s: %v", res.Ref, err)
		}
		refs = append(refs, res.Ref)
	}
	return refs[0], refs[1]
}

// runProvisioner runs the local cluster's volume provisioner (homes, as
// the sessions' user 1000) until the test ends.
func runProvisioner(ctx context.Context, t *testing.T, cfg *rest.Config, dir string) {
	t.Helper()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: manager.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := (&volumes.Provisioner{Client: mgr.GetClient(), Dir: dir, Owner: 1000}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("volume provisioner: %v", err)
		}
	})
}

// portalStateVolume makes the static volume of the portal's state and
// returns its folder.
func portalStateVolume(ctx context.Context, t *testing.T, k client.Client, dir string) string {
	t.Helper()
	stateDir := filepath.Join(dir, "portal-state")
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(stateDir, 65532, 65532); err != nil {
		t.Fatal(err)
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "streamspace-portal-state"},
		Spec: corev1.PersistentVolumeSpec{
			StorageClassName:              portalStateClass,
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			ClaimRef:                      &corev1.ObjectReference{Namespace: ns, Name: "streamspace-portal-state"},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: stateDir}},
		},
	}
	if err := k.Create(ctx, pv); err != nil {
		t.Fatal(err)
	}
	return stateDir
}

// stream opens the session's stream through the portal (retrying while it
// starts) and returns the colours of its first full frame.
func stream(ctx context.Context, t *testing.T, api *portalClient, name string) int {
	t.Helper()
	var v *vnctest.Viewer
	waitFor(t, time.Minute, "the stream opens through the portal", func() (bool, string) {
		var err error
		v, err = vnctest.Dial(ctx, "ws"+strings.TrimPrefix(api.base, "http")+"/api/v1/sessions/"+name+"/connect", api.header())
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	defer v.Close()
	frame, err := v.FullFrame()
	if err != nil {
		t.Fatalf("frame: %v", err)
	}
	if frame.Colors < 2 {
		t.Errorf("the frame is blank (%d colour): the app did not paint", frame.Colors)
	}
	return frame.Colors
}

func podsOf(ctx context.Context, t *testing.T, k client.Client, session string) int {
	t.Helper()
	pods := &corev1.PodList{}
	if err := k.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{"stream.space/session": session}); err != nil {
		t.Fatal(err)
	}
	return len(pods.Items)
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s (%s)", what, d, last)
}

type portalClient struct {
	t           *testing.T
	base, token string
}

func (c *portalClient) header() http.Header {
	return http.Header{"Authorization": {"Bearer " + c.token}}
}

func (c *portalClient) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header = c.header()
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// waitServed waits until the portal answers through its Service. helm
// install --wait returns once the Deployment counts its pod Ready; the
// Service answers only once the EndpointSlice controller has marked that
// endpoint ready and kube-proxy has programmed it, and until then
// kube-proxy rejects connections to the ClusterIP (connection refused).
// A portal that restarts meanwhile is a failure, not something to wait
// out. It logs how long the Service took and what was refused before.
func waitServed(ctx context.Context, t *testing.T, k client.Client, base string, proxyMetrics int) {
	t.Helper()
	start := time.Now()
	first := ""
	waitFor(t, 2*time.Minute, "the portal answers through its Service", func() (bool, string) {
		if n := portalRestarts(ctx, t, k); n > 0 {
			t.Fatalf("the portal restarted %d times after helm install --wait:\n%s", n, portalState(ctx, k))
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true, ""
			}
			err = fmt.Errorf("/readyz answered %d", resp.StatusCode)
		}
		if first == "" {
			first = fmt.Sprintf("%v at +%s; the portal's pods and endpoints then:\n%s  kube-proxy: %s", err, time.Since(start).Round(time.Millisecond), portalState(ctx, k), kubeProxySync(proxyMetrics))
		}
		return false, err.Error()
	})
	if first == "" {
		t.Logf("the portal's Service answered at once after helm install --wait")
		return
	}
	t.Logf("the portal's Service answered %s after helm install --wait returned; first refusal: %s", time.Since(start).Round(time.Millisecond), first)
}

// kubeProxySync is what kube-proxy's metrics say of its rules: the
// endpoint changes it has not programmed yet and how long ago it last
// synced.
func kubeProxySync(port int) string {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "kubeproxy_sync_proxy_rules_endpoint_changes_pending "):
			out = append(out, "endpoint changes pending "+strings.Fields(l)[1])
		case strings.HasPrefix(l, "kubeproxy_sync_proxy_rules_last_timestamp_seconds "):
			if ts, err := strconv.ParseFloat(strings.Fields(l)[1], 64); err == nil {
				out = append(out, fmt.Sprintf("last sync %s ago", time.Since(time.Unix(0, int64(ts*1e9))).Round(time.Millisecond)))
			}
		}
	}
	return strings.Join(out, ", ")
}

// watchServing follows, from before helm install, when the portal's
// endpoint turns ready and when its Service first answers, beside the
// pod's Ready condition: the gap helm install --wait leaves open. The
// func it returns stops it and says what it saw relative to helm's return.
func watchServing(ctx context.Context, k client.Client) func(helmDone time.Time) string {
	ctx, cancel := context.WithCancel(ctx)
	var endpointReady, answered time.Time
	done := make(chan struct{})
	go func() {
		defer close(done)
		hc := &http.Client{Timeout: time.Second}
		for ctx.Err() == nil && answered.IsZero() {
			time.Sleep(100 * time.Millisecond)
			svc := &corev1.Service{}
			if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: "streamspace-portal"}, svc); err != nil || len(svc.Spec.Ports) == 0 {
				continue
			}
			if endpointReady.IsZero() && portalEndpointReady(ctx, k) {
				endpointReady = time.Now()
			}
			if resp, err := hc.Get(fmt.Sprintf("http://%s:%d/readyz", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port)); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					answered = time.Now()
				}
			}
		}
	}()
	return func(helmDone time.Time) string {
		cancel()
		<-done
		podReady := "?"
		var pods corev1.PodList
		if err := k.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/name": "streamspace-portal"}); err == nil {
			for _, p := range pods.Items {
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
						podReady = c.LastTransitionTime.Sub(helmDone).Round(time.Second).String()
					}
				}
			}
		}
		rel := func(at time.Time) string {
			if at.IsZero() {
				return "not seen"
			}
			return at.Sub(helmDone).Round(10 * time.Millisecond).String()
		}
		return fmt.Sprintf("relative to helm install --wait returning: the portal's pod Ready %s (1 s resolution), its endpoint ready %s, its Service first answered %s", podReady, rel(endpointReady), rel(answered))
	}
}

func portalEndpointReady(ctx context.Context, k client.Client) bool {
	var slices discoveryv1.EndpointSliceList
	if err := k.List(ctx, &slices, client.InNamespace(ns), client.MatchingLabels{discoveryv1.LabelServiceName: "streamspace-portal"}); err != nil {
		return false
	}
	for _, sl := range slices.Items {
		for _, e := range sl.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				return true
			}
		}
	}
	return false
}

func portalRestarts(ctx context.Context, t *testing.T, k client.Client) int32 {
	t.Helper()
	var pods corev1.PodList
	if err := k.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/name": "streamspace-portal"}); err != nil {
		t.Fatal(err)
	}
	var n int32
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			n += cs.RestartCount
		}
	}
	return n
}

// portalState says what a failed call to the in-cluster portal met: its
// pods (phase, readiness, restarts, last termination) and the ready
// addresses behind its Service.
func portalState(ctx context.Context, k client.Client) string {
	var b strings.Builder
	var pods corev1.PodList
	if err := k.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/name": "streamspace-portal"}); err != nil {
		return err.Error()
	}
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "  pod %s %s ip %s", p.Name, p.Status.Phase, p.Status.PodIP)
		for _, c := range p.Status.Conditions {
			fmt.Fprintf(&b, " %s=%s", c.Type, c.Status)
		}
		for _, cs := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, " [%s ready=%v restarts=%d", cs.Name, cs.Ready, cs.RestartCount)
			if t := cs.LastTerminationState.Terminated; t != nil {
				fmt.Fprintf(&b, " last exit %d %s %q", t.ExitCode, t.Reason, t.Message)
			}
			b.WriteString("]")
		}
		b.WriteString("\n")
	}
	var slices discoveryv1.EndpointSliceList
	if err := k.List(ctx, &slices, client.InNamespace(ns), client.MatchingLabels{discoveryv1.LabelServiceName: "streamspace-portal"}); err != nil {
		return b.String() + err.Error()
	}
	for _, sl := range slices.Items {
		for _, e := range sl.Endpoints {
			fmt.Fprintf(&b, "  endpoint %v ready=%v\n", e.Addresses, e.Conditions.Ready != nil && *e.Conditions.Ready)
		}
	}
	return b.String()
}
