// Package observe proves StreamSpace's metrics, alert rules and dashboards
// with real parts: the agent binary with leader election against a real API
// server (envtest), a real Git server (git http-backend), promtool, and a
// real Prometheus and Alertmanager (built by `make prom-tools`).
package observe

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/streamspace/streamspace/test/freeport"
	"github.com/streamspace/streamspace/test/gitserver"
	"github.com/streamspace/streamspace/test/syncbuf"
	"github.com/streamspace/streamspace/test/testenv"
)

var (
	env *testenv.Env
	// kubeconfig lets an agent process reach the API server.
	kubeconfig string
	// agentBin and portalBin are cmd/streamspace-agent and
	// cmd/streamspace-portal, built once for the package.
	agentBin, portalBin string
	// git serves the platform repositories (git http-backend).
	git *gitserver.Server
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	ctrl.SetLogger(logr.Discard())
	tmp, err := os.MkdirTemp("", "observe-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)

	agentBin, portalBin = filepath.Join(tmp, "streamspace-agent"), filepath.Join(tmp, "streamspace-portal")
	for bin, pkg := range map[string]string{agentBin: "./cmd/streamspace-agent", portalBin: "./cmd/streamspace-portal"} {
		build := exec.Command("go", "build", "-o", bin, pkg)
		build.Dir = testenv.RepoRoot()
		if out, err := build.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("build %s: %v\n%s", pkg, err, out)
		}
	}

	if git, err = gitserver.Start(); err != nil {
		return 0, err
	}
	defer git.Close()

	env, err = testenv.Start(false)
	if err != nil {
		return 0, err
	}
	defer func() { _ = env.Stop() }()
	user, err := env.AddUser(envtest.User{Name: "streamspace-agent", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return 0, err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return 0, err
	}
	kubeconfig = filepath.Join(tmp, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

// pushSecret signs push notifications to the agents' receivers.
const pushSecret = "observe-push-secret"

// agent is one streamspace-agent process (a replica).
type agent struct {
	name     string
	cmd      *exec.Cmd
	metrics  string // URL of its /metrics
	receiver string // base URL of its push receiver
	log      *syncbuf.Buffer
}

// startAgent runs the agent binary with leader election in namespace ns,
// serving metrics and the push receiver on free loopback ports. It is killed
// when the test ends.
func startAgent(t *testing.T, name, ns string) *agent {
	t.Helper()
	port, receiver := freeport.For(t), freeport.For(t)
	cmd := exec.Command(agentBin, "--namespace", ns, "--leader-elect", "--disable-webhooks",
		"--metrics-addr", "127.0.0.1:"+strconv.Itoa(port), "--health-addr", "0",
		"--receiver-addr", "127.0.0.1:"+strconv.Itoa(receiver))
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "STREAMSPACE_WEBHOOK_SECRET="+pushSecret)
	a := &agent{name: name, cmd: cmd, log: &syncbuf.Buffer{},
		metrics:  fmt.Sprintf("http://127.0.0.1:%d/metrics", port),
		receiver: fmt.Sprintf("http://127.0.0.1:%d", receiver)}
	cmd.Stdout, cmd.Stderr = a.log, a.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.kill()
		if t.Failed() {
			t.Logf("agent %s log:\n%s", name, tail(a.log.String(), 60))
		}
	})
	return a
}

// kill ends the replica at once, as a crashed node would: no lease release.
func (a *agent) kill() {
	if a.cmd.ProcessState == nil {
		_ = a.cmd.Process.Signal(syscall.SIGKILL)
		_ = a.cmd.Wait()
	}
}

// sample is one line of the text exposition format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape reads an agent's /metrics; an error (not up yet) returns nil.
func scrape(url string) []sample {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	return parseText(resp.Body)
}

// parseText reads the samples of the Prometheus text format; label values
// here never hold commas or escaped quotes.
func parseText(r io.Reader) []sample {
	var out []sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		s := sample{labels: map[string]string{}, value: v}
		head := line[:i]
		if j := strings.IndexByte(head, '{'); j >= 0 {
			s.name = head[:j]
			for _, kv := range strings.Split(strings.TrimSuffix(head[j+1:], "}"), ",") {
				if k, val, ok := strings.Cut(kv, "="); ok {
					s.labels[k] = strings.Trim(val, `"`)
				}
			}
		} else {
			s.name = head
		}
		out = append(out, s)
	}
	return out
}

// find returns the samples of name whose labels include want.
func find(samples []sample, name string, want map[string]string) []sample {
	var out []sample
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

func sum(samples []sample) float64 {
	t := 0.0
	for _, s := range samples {
		t += s.value
	}
	return t
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
