// Package e2e runs the whole platform on a real local Kubernetes — a
// kubelet on containerd, the session image built from Debian packages — and
// uses a session as a person would, through the portal: launch, stream,
// files in the home, idle hibernation, wake, terminate.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/hack/localcluster"
	"github.com/streamspace/streamspace/hack/localplatform"
	"github.com/streamspace/streamspace/test/testenv"
	"github.com/streamspace/streamspace/test/vnctest"
)

const ns = "streamspace"

// Targets of the seed's architecture.
const (
	launchTarget    = 30 * time.Second
	hibernateTarget = 5 * time.Second
	wakeTarget      = 20 * time.Second
)

// lockedBuffer is the platform's output, read while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// skipUnlessRealNode says why the machine cannot run the test.
func skipUnlessRealNode(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short mode: the end-to-end test builds a cluster and a session image")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: a real node (containerd, kubelet, CNI bridge) needs root")
	}
	bins := os.Getenv("KUBE_BIN")
	if bins == "" {
		bins = localcluster.DefaultBins()
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubectl"} {
		if _, err := os.Stat(filepath.Join(bins, b)); err != nil {
			t.Skipf("skipped: %s is missing in %s (make cluster-binaries builds it)", b, bins)
		}
	}
	for _, tool := range []string{"debootstrap", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipped: %s is not installed (the session image is built with it; make images installs it)", tool)
		}
	}
	return bins
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestSessionLifecycle_onARealNode is the story of issue 6: up → synced →
// sign in through the portal → launch the light template → pod Running on
// the kubelet → first frame through the portal's proxy → a file written in
// the home → idle → hibernated (pod gone, volume kept) → wake → the file
// is there → terminate (volume kept) → down leaves nothing behind.
func TestSessionLifecycle_onARealNode(t *testing.T) {
	bins := skipUnlessRealNode(t)
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	root := testenv.RepoRoot()
	// a short folder: containerd's socket path must stay under 108 bytes
	dir, err := os.MkdirTemp("", "sse2e-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cluster := &localcluster.Cluster{Dir: filepath.Join(dir, "c"), Bins: bins, Name: "sse2e", Bridge: "sse2e0", Log: t.Output(),
		Ports: localcluster.Ports{Etcd: 32379, EtcdPeer: 32380, APIServer: 36443, ControllerManager: 37257, Scheduler: 37259, Kubelet: 37250, KubeletHealthz: 37248}}
	out := &lockedBuffer{}
	portalAddr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	start := time.Now()
	p, err := localplatform.Up(ctx, localplatform.Options{Root: root, Namespace: ns, StateDir: dir, PortalAddr: portalAddr, Cluster: cluster,
		Images: localplatform.SessionImages(root, filepath.Join(os.TempDir(), "streamspace-e2e"), "light"), SyncInterval: 10 * time.Second, Out: out})
	downed := false
	down := func() {
		if downed {
			return
		}
		downed = true
		if err := cluster.Down(context.Background()); err != nil {
			t.Errorf("down: %v", err)
		}
	}
	defer down()
	if err != nil {
		t.Fatalf("up: %v\n%s", err, out.String())
	}
	if p.Status.Simulated {
		t.Fatalf("the node is simulated on a machine that should run a real one:\n%s", out.String())
	}
	t.Logf("cluster and platform installed in %s", time.Since(start).Round(100*time.Millisecond))
	runCtx, cancelPlatform := context.WithCancel(ctx)
	platformDone := make(chan error, 1)
	go func() { platformDone <- p.Run(runCtx) }()
	var stopOnce sync.Once
	stopPlatform := func() {
		stopOnce.Do(func() {
			cancelPlatform()
			select {
			case err := <-platformDone:
				if err != nil {
					t.Errorf("the agent or the portal: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("the agent and portal did not stop")
			}
		})
	}
	defer stopPlatform()

	k := p.Client
	// synced: the local template is in the cluster
	waitFor(t, 2*time.Minute, "the agent syncs environments/local", func() (bool, string) {
		tpl := &streamv1.Template{}
		err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: "terminal-local"}, tpl)
		return err == nil, fmt.Sprint(err)
	})

	api := &portalClient{t: t, base: "http://" + portalAddr}
	password := ""
	waitFor(t, time.Minute, "the portal prints the bootstrap admin's password", func() (bool, string) {
		m := regexp.MustCompile(`password (\S+) \(shown once`).FindStringSubmatch(out.String())
		if m != nil {
			password = m[1]
		}
		return m != nil, ""
	})
	api.login("admin", password)

	// launch
	launched := time.Now()
	var created map[string]any
	waitFor(t, time.Minute, "the portal accepts the launch", func() (bool, string) {
		code, body := api.do(http.MethodPost, "/api/v1/sessions", map[string]any{"template": "terminal-local"})
		created = body
		return code == http.StatusCreated, fmt.Sprint(code, body)
	})
	name := created["name"].(string)
	s := &streamv1.Session{}
	waitFor(t, 2*launchTarget, "the session is Running", func() (bool, string) {
		if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			return false, err.Error()
		}
		return s.Status.Phase == streamv1.PhaseRunning, string(s.Status.Phase) + " " + conditionMessage(s)
	})
	pod := &corev1.Pod{}
	if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: s.Status.PodName}, pod); err != nil || pod.Status.Phase != corev1.PodRunning || pod.Spec.NodeName != "localhost" {
		t.Fatalf("pod %s: %v %s on %q", s.Status.PodName, err, pod.Status.Phase, pod.Spec.NodeName)
	}

	// the first frame, through the portal's authenticated proxy
	viewer, err := vnctest.Dial(ctx, "ws://"+portalAddr+"/api/v1/sessions/"+name+"/connect", api.auth())
	if err != nil {
		t.Fatalf("connect through the portal: %v", err)
	}
	frame, err := viewer.FullFrame()
	firstFrame := time.Since(launched)
	if err != nil {
		t.Fatalf("first frame: %v", err)
	}
	if frame.Colors < 2 {
		t.Errorf("the first frame is blank (%d colour): the app did not paint", frame.Colors)
	}
	ls := s.Status.LastStart
	t.Logf("launch: scheduled +%s, image ready +%s, stream ready +%s, first frame (%dx%d, %d colours) +%s [target %s]",
		since(ls.RequestedAt, ls.ScheduledAt), since(ls.RequestedAt, ls.ImageReadyAt), since(ls.RequestedAt, ls.StreamReadyAt),
		viewer.Width, viewer.Height, frame.Colors, firstFrame.Round(time.Millisecond), launchTarget)
	if firstFrame > launchTarget {
		t.Errorf("launch to first frame %s, target %s", firstFrame, launchTarget)
	}
	if err := viewer.Key(0x61); err != nil { // the user types: activity
		t.Fatal(err)
	}
	viewer.Close()

	// a file in the home, written inside the session
	kubectl := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, filepath.Join(bins, "kubectl"), append([]string{"--kubeconfig", p.Status.Kubeconfig, "-n", ns}, args...)...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, b)
		}
		return string(b)
	}
	kubectl("exec", s.Status.PodName, "--", "sh", "-c", `echo "written in session $HOSTNAME" > "$HOME/e2e.txt"`)

	// idle: no input for the idle timeout (the shortest a Session accepts,
	// 1m; the test moves lastActivity back rather than wait the minute).
	// The clock moves first: the controller reads it when the spec change
	// wakes it, as it would read the portal's at its own deadline.
	idleSince := time.Now().Add(-50 * time.Second).Truncate(time.Second)
	act := client.RawPatch("application/merge-patch+json", []byte(fmt.Sprintf(`{"status":{"lastActivity":%q}}`, idleSince.UTC().Format(time.RFC3339))))
	if err := k.Status().Patch(ctx, s, act, client.FieldOwner("e2e-idle-clock")); err != nil {
		t.Fatal(err)
	}
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"idleTimeout":"1m"}}`))
	if err := k.Patch(ctx, s, patch); err != nil {
		t.Fatal(err)
	}
	// the deadline the controller set: a minute after the last input, or
	// after the start if that is later (a start is activity too)
	var deadline time.Time
	waitFor(t, 30*time.Second, "the controller sets the idle deadline", func() (bool, string) {
		if err := k.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
			return false, err.Error()
		}
		if s.Status.ObservedGeneration != s.Generation || s.Status.IdleDeadline == nil {
			return false, "not yet"
		}
		deadline = s.Status.IdleDeadline.Time
		return true, ""
	})
	t.Logf("idle deadline in %s", time.Until(deadline).Round(time.Second))
	waitFor(t, 2*time.Minute, "the idle session hibernates and its pod goes", func() (bool, string) {
		if err := k.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
			return false, err.Error()
		}
		return s.Status.Phase == streamv1.PhaseHibernated && podsOf(t, k, name) == 0, string(s.Status.Phase)
	})
	hibernated := time.Since(deadline)
	t.Logf("hibernate: pod gone %s after the idle deadline [target %s]", hibernated.Round(time.Millisecond), hibernateTarget)
	if hibernated > hibernateTarget {
		t.Errorf("hibernation took %s after the deadline, target %s", hibernated, hibernateTarget)
	}
	home := &corev1.PersistentVolumeClaim{}
	if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: "home-admin"}, home); err != nil || home.Status.Phase != corev1.ClaimBound {
		t.Fatalf("home volume after hibernation: %v %s", err, home.Status.Phase)
	}

	// wake, through the portal, as opening the session does
	woken := time.Now()
	if code, body := api.do(http.MethodGet, "/api/v1/sessions/"+name+"/connect", nil); code != http.StatusAccepted {
		t.Fatalf("connect to a hibernated session: %d %v", code, body)
	}
	var again *vnctest.Viewer
	waitFor(t, 2*wakeTarget, "the woken session streams again", func() (bool, string) {
		v, err := vnctest.Dial(ctx, "ws://"+portalAddr+"/api/v1/sessions/"+name+"/connect", api.auth())
		if err != nil {
			return false, err.Error()
		}
		again = v
		return true, ""
	})
	if _, err := again.FullFrame(); err != nil {
		t.Fatalf("frame after wake: %v", err)
	}
	again.Close()
	wake := time.Since(woken)
	t.Logf("wake: streaming again after %s [target %s]", wake.Round(time.Millisecond), wakeTarget)
	if wake > wakeTarget {
		t.Errorf("wake took %s, target %s", wake, wakeTarget)
	}
	if err := k.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
		t.Fatal(err)
	}
	if got := kubectl("exec", s.Status.PodName, "--", "sh", "-c", `cat "$HOME/e2e.txt"`); !strings.Contains(got, "written in session") {
		t.Errorf("the file written before hibernation: %q", got)
	}

	// terminate: the session stops, the home stays
	if code, body := api.do(http.MethodDelete, "/api/v1/sessions/"+name, nil); code != http.StatusOK {
		t.Fatalf("terminate: %d %v", code, body)
	}
	waitFor(t, time.Minute, "the terminated session's pod goes", func() (bool, string) {
		_ = k.Get(ctx, client.ObjectKeyFromObject(s), s)
		return s.Status.Phase == streamv1.PhaseTerminated && podsOf(t, k, name) == 0, string(s.Status.Phase)
	})
	if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: "home-admin"}, home); err != nil || home.DeletionTimestamp != nil {
		t.Errorf("the home volume after termination: %v %v", err, home.DeletionTimestamp)
	}

	// down: nothing is left
	stopPlatform()
	pids := clusterPIDs(t, cluster.Dir)
	down()
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d of the cluster still runs after down", pid)
		}
	}
	if b, _ := exec.Command("ip", "link", "show", cluster.Bridge).CombinedOutput(); !strings.Contains(string(b), "does not exist") {
		t.Errorf("bridge %s after down: %s", cluster.Bridge, b)
	}
	if mounts, _ := os.ReadFile("/proc/self/mounts"); strings.Contains(string(mounts), cluster.Dir) {
		t.Errorf("mounts under %s remain after down", cluster.Dir)
	}
	// the home's files outlive everything
	if _, err := os.Stat(filepath.Join(dir, "volumes", ns+"_home-admin", "e2e.txt")); err != nil {
		t.Errorf("the home folder on the machine: %v", err)
	}
}

func since(from metav1.Time, to *metav1.Time) string {
	if to == nil {
		return "?"
	}
	return to.Sub(from.Time).Round(time.Millisecond).String()
}

func conditionMessage(s *streamv1.Session) string {
	for _, c := range s.Status.Conditions {
		if c.Type == streamv1.ConditionReady {
			return c.Reason + ": " + c.Message
		}
	}
	return ""
}

func podsOf(t *testing.T, k client.Client, session string) int {
	var pods corev1.PodList
	if err := k.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range pods.Items {
		if strings.HasPrefix(p.Name, "ss-"+session+"-") {
			n++
		}
	}
	return n
}

func clusterPIDs(t *testing.T, dir string) []int {
	files, _ := filepath.Glob(filepath.Join(dir, "pids", "*.pid"))
	var out []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			out = append(out, pid)
		}
	}
	sort.Ints(out)
	if len(out) == 0 {
		t.Errorf("no PID files in %s/pids", dir)
	}
	return out
}

// alive: the process exists and is not a zombie waiting to be reaped.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s (last: %s)", what, d, last)
}

// portalClient calls the portal's API as an API client (Bearer token).
type portalClient struct {
	t     *testing.T
	base  string
	token string
}

func (c *portalClient) auth() http.Header {
	return http.Header{"Authorization": {"Bearer " + c.token}}
}

func (c *portalClient) login(user, password string) {
	c.t.Helper()
	code, body := c.do(http.MethodPost, "/api/v1/auth/login", map[string]string{"username": user, "password": password})
	if code != http.StatusOK {
		c.t.Fatalf("login: %d %v", code, body)
	}
	c.token = body["accessToken"].(string)
}

func (c *portalClient) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var buf bytes.Buffer
	if body != nil {
		_ = json.NewEncoder(&buf).Encode(body)
	}
	req, _ := http.NewRequest(method, c.base+path, &buf)
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}
