package soak

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/bench/benchenv"
	"github.com/streamspace/streamspace/test/testenv"
)

// The agent binary is killed (SIGKILL) at random times and started again
// while workers drive sessions through launch/hibernate/wake cycles, some
// ending in a delete and a fresh launch for the same user. At the end no
// home volume is lost, no Deployment or Service is orphaned or doubled, and
// every Session's status matches its spec and its children.
func TestCycles_surviveAgentKills(t *testing.T) {
	t.Parallel() // each has its own control plane; the agent's build overlaps the other test
	const (
		ns      = "soak"
		workers = 8 // two per user: launches race for one home volume
		// Each worker deletes its session and launches a new one every
		// relaunchEvery cycles, so the delete path is killed too.
		relaunchEvery = 4
		waitLimit     = 2 * time.Minute
	)
	cycles := envInt(t, "SOAK_CYCLES", 200)
	if cycles < workers {
		t.Fatalf("SOAK_CYCLES=%d: want at least %d, one cycle per worker", cycles, workers)
	}
	seed := envInt(t, "SOAK_SEED", int(time.Now().UnixNano()))
	t.Logf("seed %d (SOAK_SEED=%d repeats these kill times), %d cycles, %d workers", seed, seed, cycles, workers)

	dir := t.TempDir()
	built := make(chan error, 1)
	go func() { built <- buildAgent(t, dir) }() // beside the control plane's start
	env := startCluster(t, ns)
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	agent := newAgentProcess(t, env, ns, dir)
	startNodeSimulator(t, env, ns)
	if err := agent.start(); err != nil {
		t.Fatal(err)
	}
	if err := benchenv.Ready(context.Background(), env.Client, ns, templateName); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	began := time.Now()

	// The fault: SIGKILL after 1–6 s up (often in the middle of a start,
	// a hibernation or a delete; sometimes before its caches synced), then
	// 0–0.5 s down.
	var faults atomic.Int32
	stopChaos := make(chan struct{})
	chaosDone := make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewPCG(uint64(seed), 0))
		for {
			select {
			case <-stopChaos:
				chaosDone <- nil
				return
			case <-time.After(time.Second + time.Duration(rng.Int64N(int64(5*time.Second)))):
			}
			if err := agent.kill(); err != nil {
				chaosDone <- err
				return
			}
			faults.Add(1)
			time.Sleep(time.Duration(rng.Int64N(int64(500 * time.Millisecond))))
			if err := agent.start(); err != nil {
				chaosDone <- err
				return
			}
		}
	}()

	var (
		run       atomic.Int32 // cycles begun
		relaunch  atomic.Int32
		homesMu   sync.Mutex
		homes     = map[string]types.UID{}
		driverErr = make(chan error, workers)
		wg        sync.WaitGroup
	)
	// seeHome records the UID of a user's home volume the first time a
	// session of theirs runs; the audit checks it is the same at the end.
	seeHome := func(user string) error {
		found, err := homeVolumes(ctx, env.Client, ns)
		if err != nil {
			return err
		}
		homesMu.Lock()
		defer homesMu.Unlock()
		if _, seen := homes[user]; !seen && found[user] != "" {
			homes[user] = found[user]
		}
		return nil
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := driver{c: env.Client, ns: ns, user: fmt.Sprintf("user-%d", w/2), limit: waitLimit}
			name := func(gen int) string { return fmt.Sprintf("w%d-%03d", w, gen) }
			gen, mine := 0, 0
			step := func() error {
				if mine == 0 {
					if err := d.launch(ctx, name(gen)); err != nil {
						return err
					}
				} else if mine%relaunchEvery == 0 {
					if err := d.remove(ctx, name(gen)); err != nil {
						return err
					}
					gen++
					relaunch.Add(1)
					if err := d.launch(ctx, name(gen)); err != nil {
						return err
					}
				} else if err := d.setState(ctx, name(gen), streamv1.StateRunning, streamv1.PhaseRunning); err != nil {
					return err
				}
				if err := seeHome(d.user); err != nil {
					return err
				}
				return d.setState(ctx, name(gen), streamv1.StateHibernated, streamv1.PhaseHibernated)
			}
			for int(run.Add(1)) <= cycles {
				if err := step(); err != nil {
					driverErr <- fmt.Errorf("worker %d, cycle %d: %w", w, mine, err)
					return
				}
				mine++
			}
			// Half the sessions end running, half hibernated.
			if w%2 == 0 && mine > 0 {
				if err := d.setState(ctx, name(gen), streamv1.StateRunning, streamv1.PhaseRunning); err != nil {
					driverErr <- err
				}
			}
		}()
	}
	wg.Wait()
	close(stopChaos)
	if err := <-chaosDone; err != nil {
		t.Fatal(err)
	}
	close(driverErr)
	done := int(run.Load()) - workers // each worker's last Add found the work done
	t.Logf("cycles run %d, relaunches %d, agent SIGKILLs %d, in %v", done, relaunch.Load(), faults.Load(), time.Since(began).Round(time.Millisecond))
	for err := range driverErr {
		agent.logTail(t)
		t.Fatal(err)
	}

	// The agent runs (the last start was not killed): every session must
	// settle clean.
	a, err := settle(ctx, env.Client, ns, homes, false, waitLimit, func(a audit) bool { return a.sessions == workers })
	if err != nil {
		agent.logTail(t)
	}
	t.Logf("faults injected %d, cycles run %d, %s", faults.Load(), done, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(homes) != workers/2 { // else the check for lost homes saw nothing
		t.Fatalf("home volumes recorded for %d users, want %d: %v", len(homes), workers/2, homes)
	}
}

// driver drives one user's sessions the way the portal does: it writes the
// spec and waits for the status, retrying while the agent (and with it the
// admission webhook) is down.
type driver struct {
	c     client.Client
	ns    string
	user  string
	limit time.Duration
}

func (d driver) launch(ctx context.Context, name string) error {
	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: d.ns, Name: name},
		Spec: streamv1.SessionSpec{User: d.user, Template: templateName}}
	if err := retry(ctx, d.limit, func() error {
		err := d.c.Create(ctx, s.DeepCopy())
		if apierrors.IsAlreadyExists(err) {
			return nil // an earlier try was stored, its answer lost
		}
		return err
	}); err != nil {
		return fmt.Errorf("launch %s: %w", name, err)
	}
	return d.wait(ctx, name, streamv1.PhaseRunning)
}

func (d driver) setState(ctx context.Context, name string, state streamv1.SessionState, phase streamv1.SessionPhase) error {
	patch := client.RawPatch(types.MergePatchType, []byte(fmt.Sprintf(`{"spec":{"state":%q}}`, state)))
	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: d.ns, Name: name}}
	if err := retry(ctx, d.limit, func() error { return d.c.Patch(ctx, s, patch) }); err != nil {
		return fmt.Errorf("set %s %s: %w", name, state, err)
	}
	return d.wait(ctx, name, phase)
}

// remove deletes a session and waits until the agent has let it go (its
// finalizer deletes the children first).
func (d driver) remove(ctx context.Context, name string) error {
	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: d.ns, Name: name}}
	return retry(ctx, d.limit, func() error {
		if err := d.c.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		err := d.c.Get(ctx, client.ObjectKeyFromObject(s), &streamv1.Session{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("delete %s: still there (%v)", name, err)
	})
}

func (d driver) wait(ctx context.Context, name string, phase streamv1.SessionPhase) error {
	s := &streamv1.Session{}
	return retry(ctx, d.limit, func() error {
		if err := d.c.Get(ctx, client.ObjectKey{Namespace: d.ns, Name: name}, s); err != nil {
			return err
		}
		if s.Status.Phase != phase {
			return fmt.Errorf("session %s is %q, waiting for %s (conditions %s)", name, s.Status.Phase, phase, conditionsOf(s))
		}
		return nil
	})
}

// agentProcess is the agent binary, built once per test, run against env
// as a separate process so that it can be killed like a pod.
type agentProcess struct {
	bin, logPath string
	args, env    []string
	cmd          *exec.Cmd
	exited       chan struct{}
	starts       int
}

// buildAgent builds the agent binary into dir. Without DWARF: it links
// faster and nobody debugs it.
func buildAgent(t *testing.T, dir string) error {
	began := time.Now()
	build := exec.Command("go", "build", "-ldflags=-w", "-o", filepath.Join(dir, "streamspace-agent"), "./cmd/streamspace-agent")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the agent: %w\n%s", err, out)
	}
	t.Logf("built the agent in %v", time.Since(began).Round(time.Millisecond))
	return nil
}

// newAgentProcess prepares the agent built into dir to run against env.
func newAgentProcess(t *testing.T, env *testenv.Env, ns, dir string) *agentProcess {
	t.Helper()
	bin := filepath.Join(dir, "streamspace-agent")

	kubeconfig, err := benchenv.Kubeconfig(env, dir)
	if err != nil {
		t.Fatal(err)
	}
	wh := env.WebhookInstallOptions
	a := &agentProcess{
		bin: bin, logPath: filepath.Join(dir, "agent.log"),
		args: []string{"--namespace", ns, "--metrics-addr", "0", "--health-addr", "0",
			"--webhook-host", wh.LocalServingHost, "--webhook-port", strconv.Itoa(wh.LocalServingPort),
			"--webhook-cert-dir", wh.LocalServingCertDir, "--portal-url", "https://streamspace.test"},
		env: append(os.Environ(), "KUBECONFIG="+kubeconfig),
	}
	t.Cleanup(func() { _ = a.kill() })
	return a
}

func (a *agentProcess) start() error {
	log, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	a.starts++
	fmt.Fprintf(log, "=== start %d at %s\n", a.starts, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(a.bin, a.args...)
	cmd.Env = a.env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return fmt.Errorf("start agent: %w", err)
	}
	a.cmd, a.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); _ = log.Close(); close(exited) }(a.exited)
	return nil
}

// kill sends SIGKILL (no graceful shutdown) and waits for the exit.
func (a *agentProcess) kill() error {
	if a.cmd == nil {
		return nil
	}
	select {
	case <-a.exited:
		return fmt.Errorf("agent exited by itself before it was killed (%v): see %s", a.cmd.ProcessState, a.logPath)
	default:
	}
	if err := a.cmd.Process.Kill(); err != nil {
		return err
	}
	<-a.exited
	a.cmd = nil
	return nil
}

// logTail prints the end of the agent's log, for a failing run.
func (a *agentProcess) logTail(t *testing.T) {
	f, err := os.Open(a.logPath)
	if err != nil {
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if lines = append(lines, sc.Text()); len(lines) > 60 {
			lines = lines[1:]
		}
	}
	t.Logf("agent log (last %d lines):\n%s", len(lines), strings.Join(lines, "\n"))
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a whole number ≥ 0", name, v)
	}
	return n
}
