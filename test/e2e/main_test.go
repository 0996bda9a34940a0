// Package e2e runs the whole platform on a real local Kubernetes — a
// kubelet on containerd, the session image built from Debian packages — and
// uses a session as a person would, through the portal: launch, stream,
// files in the home, idle hibernation, wake, terminate.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/local/cluster"
	"github.com/streamspace/streamspace/local/platform"
	"github.com/streamspace/streamspace/test/firstadmin"
	"github.com/streamspace/streamspace/test/syncbuf"
	"github.com/streamspace/streamspace/test/testenv"
)

const ns = "streamspace"

// Targets of the seed's architecture. They are printed beside the
// measured figures (MISSED when not met); the tests' waits are the bounds
// that fail, since timing on a shared machine is a figure, not a verdict.
const (
	launchTarget    = 30 * time.Second
	hibernateTarget = 5 * time.Second
	wakeTarget      = 20 * time.Second
)

// The platform, up once for every test of the package.
var (
	env      *platformEnv
	skipWhy  string // why the machine cannot run these tests
	setupErr error
)

// platformEnv is StreamSpace on a real local node.
type platformEnv struct {
	*platform.Platform
	Cluster    *cluster.Cluster
	Bins       string
	Dir        string
	PortalAddr string
	// Password of the bootstrap admin.
	Password string
	out      *syncbuf.Buffer
	stop     func() error
	tornDown bool
}

func TestMain(m *testing.M) {
	flag.Parse()
	if skipWhy = whyNot(); skipWhy == "" {
		env, setupErr = startPlatform()
	}
	code := m.Run()
	if env != nil && !env.tornDown {
		if err := env.teardown(); err != nil {
			fmt.Fprintln(os.Stderr, "down:", err)
			code = 1
		}
	}
	if env != nil {
		// The folder holds the cluster's state, logs and test homes
		// (~1 GiB): kept only to look into a failure.
		mounts := cluster.MountsUnder(env.Dir)
		if code == 0 && len(mounts) > 0 {
			// never delete through a mount that outlived the cluster
			fmt.Fprintln(os.Stderr, "e2e: kept", env.Dir, "as mounts remain under it:", mounts)
		} else if code == 0 {
			if err := os.RemoveAll(env.Dir); err != nil {
				fmt.Fprintln(os.Stderr, "remove the test folder:", err)
			}
		} else {
			fmt.Fprintln(os.Stderr, "e2e: the cluster's folder (logs, state) is kept for a look:", env.Dir)
		}
	}
	os.Exit(code)
}

// whyNot says why this machine cannot run a real node, or "".
func whyNot() string {
	if testing.Short() {
		return "skipped in -short mode: the end-to-end tests build a cluster and a session image"
	}
	if os.Geteuid() != 0 {
		return "skipped: a real node (containerd, kubelet, CNI bridge) needs root"
	}
	bins := cluster.DefaultBins()
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubectl"} {
		if _, err := os.Stat(filepath.Join(bins, b)); err != nil {
			return fmt.Sprintf("skipped: %s is missing in %s (make cluster-binaries builds it)", b, bins)
		}
	}
	for _, tool := range []string{"debootstrap", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("skipped: %s is not installed (the session image is built with it; make system-deps installs it)", tool)
		}
	}
	return ""
}

// needPlatform skips (saying why) or fails the test when the platform is
// not there.
func needPlatform(t *testing.T) *platformEnv {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
	if setupErr != nil {
		t.Fatalf("the platform did not come up: %v", setupErr)
	}
	return env
}

func startPlatform() (*platformEnv, error) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	root := testenv.RepoRoot()
	// a short folder: containerd's socket path must stay under 108 bytes
	dir, err := os.MkdirTemp("", "sse2e-")
	if err != nil {
		return nil, err
	}
	e := &platformEnv{Dir: dir, Bins: cluster.DefaultBins(), out: &syncbuf.Buffer{}}
	e.Cluster = &cluster.Cluster{Dir: filepath.Join(dir, "c"), Bins: e.Bins, Name: "sse2e", Bridge: "sse2e0", Log: os.Stderr,
		Ports: cluster.Ports{Etcd: 24379, EtcdPeer: 24380, APIServer: 24443, ControllerManager: 24257, Scheduler: 24259, Kubelet: 24250, KubeletHealthz: 24248}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e.PortalAddr = l.Addr().String()
	_ = l.Close()
	ctx := context.Background()
	start := time.Now()
	p, err := platform.Up(ctx, platform.Options{Root: root, Namespace: ns, StateDir: dir, PortalAddr: e.PortalAddr, Cluster: e.Cluster,
		Images: platform.SessionImages(filepath.Join(os.TempDir(), "streamspace-e2e"), "light"), SyncInterval: 10 * time.Second, Out: e.out})
	if err != nil {
		_ = e.Cluster.Down(ctx)
		return nil, fmt.Errorf("up: %w\n%s", err, e.out.String())
	}
	e.Platform = p
	if p.Status.Simulated {
		_ = e.Cluster.Down(ctx)
		return nil, fmt.Errorf("the node is simulated on a machine that should run a real one:\n%s", e.out.String())
	}
	fmt.Fprintf(os.Stderr, "e2e: cluster and platform installed in %s\n", time.Since(start).Round(100*time.Millisecond))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	e.stop = func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("the agent and portal did not stop within 30s")
		}
	}
	deadline := time.Now().Add(time.Minute)
	oneTime := ""
	for oneTime == "" && time.Now().Before(deadline) {
		if _, oneTime, _, err = firstadmin.OneTime(e.out.String()); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if oneTime == "" {
		_ = e.teardown()
		return nil, fmt.Errorf("no bootstrap password file named (%v):\n%s", err, e.out.String())
	}
	// the portal requires the one-time password changed first, as an
	// operator does
	e.Password = "e2e-admin-password"
	if _, err := firstadmin.Claim(ctx, "http://"+e.PortalAddr, "admin", oneTime, e.Password); err != nil {
		_ = e.teardown()
		return nil, err
	}
	// synced: the local templates are in the cluster
	for time.Now().Before(deadline.Add(time.Minute)) {
		if err := p.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "terminal-local"}, &streamv1.Template{}); err == nil {
			return e, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	_ = e.teardown()
	return nil, fmt.Errorf("the agent did not sync environments/local within 2 minutes:\n%s", e.out.String())
}

// teardown stops the agent and the portal, then the cluster.
func (e *platformEnv) teardown() error {
	e.tornDown = true
	var errs []error
	if e.stop != nil {
		errs = append(errs, e.stop())
	}
	errs = append(errs, e.Cluster.Down(context.Background()))
	return errors.Join(errs...)
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
