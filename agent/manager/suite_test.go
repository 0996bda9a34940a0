package manager_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/streamspace/streamspace/agent/manager"
	"github.com/streamspace/streamspace/agent/sessions"
	"github.com/streamspace/streamspace/agent/users"
	"github.com/streamspace/streamspace/test/freeport"
	"github.com/streamspace/streamspace/test/syncbuf"
	"github.com/streamspace/streamspace/test/testenv"
)

var (
	env *testenv.Env
	// apiFile holds how a child agent reaches the API server.
	apiFile string
)

// childEnv makes the test binary run as one agent replica instead of the
// tests: a replica is its own process, so killing it is a real crash (no
// lease released, no deferred cleanup), as when a node dies.
const childEnv = "STREAMSPACE_HA_TEST_AGENT"

// agentConfig is what the parent hands a child agent.
type agentConfig struct {
	API          apiServer
	Namespace    string
	ReceiverAddr string
	ProbeAddr    string
	Secret       string
	Lease        time.Duration
}

type apiServer struct {
	Host                      string
	CAData, CertData, KeyData []byte
}

// The lease the tests use: short, so a failover takes seconds.
const (
	leaseDuration = 3 * time.Second
	renewDeadline = 2 * time.Second
	retryPeriod   = 500 * time.Millisecond
)

// TestMain starts one real API server for the package; agents run in child
// processes of the test binary against it.
func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runAgent(spec))
	}
	var err error
	if env, err = testenv.Start(false); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer func() { _ = env.Stop() }()
		// The home storage class, as an NFS provisioner's.
		if err := env.Client.Create(context.Background(), &storagev1.StorageClass{
			ObjectMeta: metav1.ObjectMeta{Name: "nfs-client"}, Provisioner: "nfs.csi.k8s.io", AllowVolumeExpansion: ptr.To(true),
		}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		dir, err := os.MkdirTemp("", "agent-ha-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		c := env.Config
		api, _ := json.Marshal(apiServer{Host: c.Host, CAData: c.CAData, CertData: c.CertData, KeyData: c.KeyData})
		apiFile = filepath.Join(dir, "api.json")
		if err := os.WriteFile(apiFile, api, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// runAgent is a child: the agent as cmd/streamspace-agent runs it, with
// leader election on the test's short lease. It prints ELECTED when it
// leads.
func runAgent(spec string) int {
	var cfg agentConfig
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "agent config:", err)
		return 2
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	restCfg := &rest.Config{Host: cfg.API.Host, TLSClientConfig: rest.TLSClientConfig{
		CAData: cfg.API.CAData, CertData: cfg.API.CertData, KeyData: cfg.API.KeyData}}
	ctx := ctrl.SetupSignalHandler()
	mgr, err := manager.New(ctx, restCfg, manager.Config{
		Namespace: cfg.Namespace, MetricsAddr: "0", ProbeAddr: cfg.ProbeAddr, DisableWebhooks: true,
		LeaderElection: true, LeaseDuration: cfg.Lease, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
		ReceiverAddr: cfg.ReceiverAddr, ReceiverSecret: []byte(cfg.Secret),
		Registry: prometheus.NewRegistry(),
		Sessions: sessions.Options{
			Home:      users.HomeOptions{StorageClassName: "nfs-client", DefaultSize: resource.MustParse("10Gi")},
			PortalURL: "https://streamspace.test",
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "set up the agent:", err)
		return 1
	}
	go func() {
		select {
		case <-mgr.Elected():
			fmt.Println("ELECTED")
		case <-ctx.Done():
		}
	}()
	if err := mgr.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "agent stopped:", err)
		return 1
	}
	return 0
}

// agent is one replica running as a child process.
type agent struct {
	name     string
	cmd      *exec.Cmd
	elected  chan time.Time // receives when the replica starts to lead
	log      *syncbuf.Buffer
	receiver string // base URL of its push receiver
	probe    string // base URL of its /readyz
}

// startAgent starts a replica in namespace ns; it is killed when the test
// ends (and with the test binary, should that die first).
func startAgent(t *testing.T, name, ns, secret string) *agent {
	t.Helper()
	return startAgentWithLease(t, name, ns, secret, leaseDuration)
}

// startAgentWithLease is startAgent with a lease of its own length.
func startAgentWithLease(t *testing.T, name, ns, secret string, lease time.Duration) *agent {
	t.Helper()
	api, err := os.ReadFile(apiFile)
	if err != nil {
		t.Fatal(err)
	}
	var srv apiServer
	if err := json.Unmarshal(api, &srv); err != nil {
		t.Fatal(err)
	}
	recv, probe := freeport.For(t), freeport.For(t)
	spec, _ := json.Marshal(agentConfig{API: srv, Namespace: ns, Secret: secret, Lease: lease,
		ReceiverAddr: "127.0.0.1:" + strconv.Itoa(recv), ProbeAddr: "127.0.0.1:" + strconv.Itoa(probe)})
	a := &agent{name: name, elected: make(chan time.Time, 1), log: &syncbuf.Buffer{},
		receiver: fmt.Sprintf("http://127.0.0.1:%d", recv), probe: fmt.Sprintf("http://127.0.0.1:%d", probe)}
	a.cmd = exec.Command(os.Args[0], "-test.run=^$")
	a.cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var logs io.Writer = a.log
	if os.Getenv("TEST_AGENT_LOGS") != "" {
		logs = io.MultiWriter(a.log, prefixed(os.Stderr, name))
	}
	a.cmd.Stderr = logs
	out, err := a.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			if lines.Text() == "ELECTED" {
				a.elected <- time.Now()
			}
		}
	}()
	t.Cleanup(func() {
		_ = a.cmd.Process.Kill()
		_ = a.cmd.Wait()
	})
	return a
}

// crash kills the replica at once: no lease released, nothing flushed.
func (a *agent) crash(t *testing.T) time.Time {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	_ = a.cmd.Wait()
	return at
}

// stop ends the replica as Kubernetes does (SIGTERM) and waits for it.
func (a *agent) stop(t *testing.T) time.Time {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	if err := a.cmd.Wait(); err != nil {
		t.Errorf("replica %s after SIGTERM: %v\n%s", a.name, err, a.log.String())
	}
	return at
}

// leader waits until one of agents leads and returns it and the others.
func leader(t *testing.T, within time.Duration, agents ...*agent) (*agent, []*agent) {
	t.Helper()
	deadline := time.After(within)
	for {
		for i, a := range agents {
			select {
			case <-a.elected:
				rest := append(append([]*agent{}, agents[:i]...), agents[i+1:]...)
				return a, rest
			default:
			}
		}
		select {
		case <-deadline:
			t.Fatalf("no replica became leader within %v", within)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

type prefixWriter struct {
	w      io.Writer
	prefix string
}

func prefixed(w io.Writer, name string) io.Writer {
	return &prefixWriter{w: w, prefix: "[" + name + "] "}
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	_, err := io.WriteString(p.w, p.prefix+strings.ReplaceAll(strings.TrimRight(string(b), "\n"), "\n", "\n"+p.prefix)+"\n")
	return len(b), err
}
