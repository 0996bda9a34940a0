// Command scale measures how the agent and the portal grow with the
// number of Sessions, on a real kube-apiserver + etcd with the agent and
// the portal as processes of their own (their memory and CPU are read
// from /proc). For each step (100, 1,000 and 10,000 Sessions by default)
// it brings the namespace to that many Sessions — created, reconciled to
// their children, then most of them hibernated, as in real life — and
// prints:
//
//   - how long the agent took to launch and to hibernate the new ones
//     (per session too, so a step that grows worse than linearly shows);
//   - the agent's and the portal's RSS, and the agent's CPU for the step;
//   - GET /api/v1/sessions: the admin's default page and full list, and a
//     user's own sessions (p50/p99);
//   - one more session's launch while all the others exist (create →
//     children + status, p50 and max of a few);
//   - a no-op resync: the agent restarted, the time until it has
//     reconciled every Session again, and the writes that cost (none are
//     needed: nothing changed).
//
// Without a node nothing runs a pod: a launched session is one whose
// children (home volume, Deployment, Service) and status the agent wrote,
// as in `make bench-controller`.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/streamspace/streamspace/agent/manager"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/bench/benchenv"
	"github.com/streamspace/streamspace/test/bench/measure"
	"github.com/streamspace/streamspace/test/firstadmin"
	"github.com/streamspace/streamspace/test/freeport"
	"github.com/streamspace/streamspace/test/syncbuf"
	"github.com/streamspace/streamspace/test/testenv"
)

type config struct {
	agent, portal string
	steps         []int
	perUser       int
	running       float64
	parallel      int
	probes        int
	profile       string
}

func main() {
	var c config
	var steps string
	flag.StringVar(&c.agent, "agent", "bin/streamspace-agent", "Agent binary.")
	flag.StringVar(&c.portal, "portal", "bin/streamspace-portal", "Portal binary.")
	flag.StringVar(&steps, "steps", "100,1000,10000", "Session counts to measure at, growing.")
	flag.IntVar(&c.perUser, "sessions-per-user", 5, "Sessions per user.")
	flag.Float64Var(&c.running, "running", 0.1, "Share of the sessions left running; the rest are hibernated.")
	flag.IntVar(&c.parallel, "parallel", 16, "Concurrent creates and hibernations.")
	flag.IntVar(&c.probes, "launch-probes", 5, "Single launches timed at each step.")
	flag.StringVar(&c.profile, "profile", "", "Folder for the agent's CPU profile of each step's launch (pprof; its top is printed); empty: off.")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard()) // the informer's client logs nothing worth a figure
	for _, s := range strings.Split(steps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 || len(c.steps) > 0 && n <= c.steps[len(c.steps)-1] {
			fmt.Fprintf(os.Stderr, "bench: -steps %q: want growing positive counts, e.g. 100,1000,10000\n", steps)
			os.Exit(2)
		}
		c.steps = append(c.steps, n)
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

const ns = "scale"

// step is what one step measured.
type step struct {
	sessions                    int
	launch, hibernate           time.Duration
	added, slept                int
	agentRSS, agentPeak, portal string
	agentCPU                    time.Duration
	page, pageP99, full, own    time.Duration
	ownP99                      time.Duration
	probeP50, probeMax          time.Duration
	resync                      time.Duration
	resyncWrites                int
	resyncCPU                   time.Duration
	// sessionLists is how many LISTs of Sessions the API server served
	// during the launch, and listTime the time it spent on them.
	sessionLists int
	listTime     time.Duration
}

func run(cfg config) error {
	ctx := context.Background()
	up, err := benchenv.StartUp(manager.Scheme())
	if err != nil {
		return err
	}
	defer up.Stop()
	env, dir, kubeconfig, c := up.Env, up.Dir, up.Kubeconfig, up.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	if err := c.Create(ctx, benchenv.LightTemplate(ns)); err != nil {
		return err
	}
	// A default quota, as every real install has: the admission webhook
	// then counts each user's sessions on every create (with no quota it
	// has nothing to count). Its limits are never reached here.
	if err := c.Create(ctx, &streamv1.Quota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"},
		Spec: streamv1.QuotaSpec{Default: true, Limits: streamv1.QuotaLimits{
			MaxSessions: ptr.To(int32(2 * cfg.perUser)), MaxRunningSessions: ptr.To(int32(2 * cfg.perUser)),
			Memory: ptr.To(resource.MustParse("1Ti")), CPU: ptr.To(resource.MustParse("1000")),
		}}}); err != nil {
		return err
	}
	var args []string
	var prof *measure.Profiler
	var pprofURL string
	if cfg.profile != "" {
		if args, pprofURL, err = benchenv.Pprof(); err != nil {
			return err
		}
	}
	agent, err := benchenv.Start(env, cfg.agent, kubeconfig, ns, args...)
	if err != nil {
		return err
	}
	defer func() { agent.Stop() }()
	if err := benchenv.Ready(ctx, c, ns, "light"); err != nil {
		return err
	}
	p, err := startPortal(ctx, cfg.portal, kubeconfig, dir)
	if err != nil {
		return err
	}
	defer p.stop()

	w, err := watchSessions(ctx, up.Config)
	if err != nil {
		return err
	}
	fmt.Printf("Steps %v; %d sessions per user under a default quota (at most %d); %.0f%% left running, the rest hibernated; %d concurrent clients\n\n",
		cfg.steps, cfg.perUser, 2*cfg.perUser, cfg.running*100, cfg.parallel)
	var results []step
	have := 0
	for _, n := range cfg.steps {
		fmt.Printf("%d sessions: ", n)
		r := step{sessions: n, added: n - have}
		before, err := measure.ReadProc(agent.Cmd.Process.Pid)
		if err != nil {
			return err
		}
		names := make([]string, 0, n-have)
		for i := have; i < n; i++ {
			names = append(names, fmt.Sprintf("s-%05d", i))
		}
		listsBefore, listTimeBefore, err := sessionLists(ctx, up.Config)
		if err != nil {
			return err
		}
		if cfg.profile != "" {
			prof = &measure.Profiler{URL: pprofURL, Dir: filepath.Join(cfg.profile, fmt.Sprint(n))}
			if err := os.MkdirAll(prof.Dir, 0o755); err != nil {
				return err
			}
			prof.StartCPU()
		}
		began := time.Now()
		if err := measure.Parallel(len(names), cfg.parallel, func(i int) error {
			return c.Create(ctx, session(names[i], have+i, cfg.perUser))
		}); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		if err := w.until(names, launched, 30*time.Minute); err != nil {
			return fmt.Errorf("launch: %w", err)
		}
		r.launch = time.Since(began)
		fmt.Printf("launched in %v, ", r.launch.Round(time.Millisecond))
		lists, listTime, err := sessionLists(ctx, up.Config)
		if err != nil {
			return err
		}
		r.sessionLists, r.listTime = lists-listsBefore, listTime-listTimeBefore
		if prof != nil {
			measure.Top(os.Stdout, fmt.Sprintf("agent CPU while launching %d sessions", len(names)), 25, true, prof.StopCPU()...)
		}

		keep := int(float64(len(names)) * cfg.running)
		asleep := names[keep:]
		r.slept = len(asleep)
		began = time.Now()
		if err := measure.Parallel(len(asleep), cfg.parallel, func(i int) error {
			return c.Patch(ctx, &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: asleep[i]}},
				client.RawPatch(types.MergePatchType, []byte(`{"spec":{"state":"hibernated"}}`)))
		}); err != nil {
			return fmt.Errorf("hibernate: %w", err)
		}
		if err := w.until(asleep, hibernated, 30*time.Minute); err != nil {
			return fmt.Errorf("hibernate: %w", err)
		}
		r.hibernate = time.Since(began)
		fmt.Printf("hibernated in %v, ", r.hibernate.Round(time.Millisecond))
		have = n

		after, err := measure.ReadProc(agent.Cmd.Process.Pid)
		if err != nil {
			return err
		}
		r.agentRSS, r.agentPeak, r.agentCPU = after.RSS, after.PeakRSS, after.CPU-before.CPU
		if pp, err := measure.ReadProc(p.cmd.Process.Pid); err == nil {
			r.portal = pp.RSS
		}

		if r.page, r.pageP99, err = p.latency(ctx, p.admin, "", 100); err != nil {
			return err
		}
		if r.full, _, err = p.latency(ctx, p.admin, "?limit=0", 5); err != nil {
			return err
		}
		if r.own, r.ownP99, err = p.latency(ctx, p.user, "", 100); err != nil {
			return err
		}
		fmt.Printf("lists timed, ")

		var probes []time.Duration
		for i := range cfg.probes {
			name := fmt.Sprintf("probe-%d-%d", n, i)
			began := time.Now()
			probe := session(name, 0, cfg.perUser)
			probe.Spec.User = "probe"
			if err := c.Create(ctx, probe); err != nil {
				return err
			}
			if err := w.until([]string{name}, launched, time.Minute); err != nil {
				return fmt.Errorf("probe launch: %w", err)
			}
			probes = append(probes, time.Since(began))
			// gone again, so the next step has exactly its count
			if err := c.Delete(ctx, &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}); err != nil {
				return err
			}
		}
		r.probeMax = measure.Percentile(probes, 100)
		r.probeP50 = measure.Percentile(probes, 50)
		fmt.Printf("single launch p50 %v, ", r.probeP50.Round(time.Millisecond))

		if agent, err = resync(ctx, env, c, agent, cfg.agent, kubeconfig, n, &r, args...); err != nil {
			return err
		}
		fmt.Printf("no-op resync %v\n", r.resync.Round(time.Millisecond))
		results = append(results, r)
	}
	report(os.Stdout, results)
	return nil
}

func session(name string, i, perUser int) *streamv1.Session {
	return &streamv1.Session{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       streamv1.SessionSpec{User: fmt.Sprintf("user-%04d", i/perUser), Template: "light"},
	}
}

// launched: the agent has written the children and then the status of a
// start (it writes the status last).
func launched(s *streamv1.Session) bool { return s.Status.Phase != "" && s.Status.LastStart != nil }

func hibernated(s *streamv1.Session) bool { return s.Status.Phase == streamv1.PhaseHibernated }

// resync restarts the agent on n unchanged Sessions and measures how long
// it takes to reconcile each of them again and what it writes meanwhile.
func resync(ctx context.Context, env *testenv.Env, c client.Client, old *benchenv.Agent, bin, kubeconfig string, n int, r *step, args ...string) (*benchenv.Agent, error) {
	old.Stop()
	began := time.Now()
	a, err := benchenv.Start(env, bin, kubeconfig, ns, args...)
	if err != nil {
		return nil, err
	}
	if err := benchenv.Ready(ctx, c, ns, "light"); err != nil {
		return a, err
	}
	for {
		done, writes, err := reconciled(a.MetricsURL)
		if err == nil && done >= n {
			r.resync, r.resyncWrites = time.Since(began), writes
			break
		}
		if time.Since(began) > 30*time.Minute {
			return a, fmt.Errorf("resync: %d of %d sessions reconciled after 30 min (%v)", done, n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if pr, err := measure.ReadProc(a.Cmd.Process.Pid); err == nil {
		r.resyncCPU = pr.CPU
	}
	return a, nil
}

// reconciled reads from the agent's metrics how many Session reconciles
// ended without error and how many writes (POST, PUT, PATCH, DELETE) it sent to the
// API server, leader-election leases included.
func reconciled(url string) (done, writes int, err error) {
	lines, err := measure.Metrics(url, `controller_runtime_reconcile_total{controller="session"`, "rest_client_requests_total")
	if err != nil {
		return 0, 0, err
	}
	for _, l := range lines {
		i := strings.LastIndexByte(l, ' ')
		v, _ := strconv.ParseFloat(l[i+1:], 64)
		switch {
		case strings.HasPrefix(l, "controller_runtime_reconcile_total") && !strings.Contains(l, `result="error"`):
			done += int(v) // success or requeue (a running session whose pod no node runs)
		case strings.HasPrefix(l, "rest_client_requests_total") && !strings.Contains(l, `method="GET"`):
			writes += int(v)
		}
	}
	return done, writes, nil
}

// sessionLists reads from the API server's metrics how many LISTs of
// Sessions it has served and the time it spent on them: a cost per create
// that grows with the namespace shows here first.
func sessionLists(ctx context.Context, cfg *rest.Config) (int, time.Duration, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 0, 0, err
	}
	body, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("API server metrics: %w", err)
	}
	var n, secs float64
	for _, l := range strings.Split(string(body), "\n") {
		if !strings.Contains(l, `resource="sessions"`) || !strings.Contains(l, `verb="LIST"`) {
			continue
		}
		v, _ := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
		switch {
		case strings.HasPrefix(l, "apiserver_request_total{"):
			n += v
		case strings.HasPrefix(l, "apiserver_request_duration_seconds_sum{"):
			secs += v
		}
	}
	return int(n), time.Duration(secs * float64(time.Second)), nil
}

// sessionWatch keeps the latest of every Session in the namespace, from an
// informer (which lists and watches again when a watch ends: a step at
// 10,000 sessions outlasts a single watch).
type sessionWatch struct {
	mu   sync.Mutex
	last map[string]*streamv1.Session
}

func watchSessions(ctx context.Context, cfg *rest.Config) (*sessionWatch, error) {
	w := &sessionWatch{last: map[string]*streamv1.Session{}}
	c, err := cache.New(cfg, cache.Options{Scheme: manager.Scheme(), DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		return nil, err
	}
	inf, err := c.GetInformer(ctx, &streamv1.Session{})
	if err != nil {
		return nil, err
	}
	set := func(obj any) {
		if s, ok := obj.(*streamv1.Session); ok {
			w.mu.Lock()
			w.last[s.Name] = s
			w.mu.Unlock()
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if s, ok := obj.(*streamv1.Session); ok {
				w.mu.Lock()
				delete(w.last, s.Name)
				w.mu.Unlock()
			}
		},
	}); err != nil {
		return nil, err
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("the Session informer did not sync")
	}
	return w, nil
}

// until waits until every named Session satisfies ok.
func (w *sessionWatch) until(names []string, ok func(*streamv1.Session) bool, within time.Duration) error {
	deadline := time.Now().Add(within)
	pending := names
	for {
		w.mu.Lock()
		left := pending[:0:0]
		for _, n := range pending {
			if s := w.last[n]; s == nil || !ok(s) {
				left = append(left, n)
			}
		}
		w.mu.Unlock()
		if pending = left; len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d sessions not there after %v (e.g. %s)", len(pending), len(names), within, pending[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// portalProc is the portal binary, signed in as its bootstrap admin and
// as a user.
type portalProc struct {
	cmd         *exec.Cmd
	base        string
	admin, user string
	stop        func()
}

func startPortal(ctx context.Context, bin, kubeconfig, dir string) (*portalProc, error) {
	port, err := freeport.Loopback()
	if err != nil {
		return nil, err
	}
	state := filepath.Join(dir, "portal")
	cmd := exec.Command(bin, "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--namespace", ns, "--state-dir", state, "--secure-cookies=false")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start portal: %w", err)
	}
	p := &portalProc{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), stop: func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }}
	var name, password string
	for deadline := time.Now().Add(60 * time.Second); password == ""; time.Sleep(100 * time.Millisecond) {
		if name, password, _, err = firstadmin.OneTime(out.String()); err != nil {
			p.stop()
			return nil, err
		}
		if password == "" && time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("portal: no bootstrap password after 60s: %s", out.String())
		}
	}
	if p.admin, err = firstadmin.Claim(ctx, p.base, name, password, "a-password-the-admin-chose"); err != nil {
		p.stop()
		return nil, err
	}
	const user, userPassword = "user-0000", "password-of-a-user"
	if err := p.createUser(ctx, user, userPassword); err != nil {
		p.stop()
		return nil, err
	}
	if p.user, err = benchenv.Login(ctx, p.base, user, userPassword); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (p *portalProc) createUser(ctx context.Context, name, password string) error {
	body, _ := json.Marshal(map[string]string{"username": name, "password": password})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/api/v1/admin/users", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create user %s: %s", name, resp.Status)
	}
	return nil
}

// latency times n sequential GET /api/v1/sessions<query> as token.
func (p *portalProc) latency(ctx context.Context, token, query string, n int) (p50, p99 time.Duration, err error) {
	var ds []time.Duration
	for range n {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/api/v1/sessions"+query, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		began := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, 0, err
		}
		_, err = io.Copy(io.Discard, bufio.NewReader(resp.Body))
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return 0, 0, fmt.Errorf("GET /api/v1/sessions%s: %s %v", query, resp.Status, err)
		}
		ds = append(ds, time.Since(began))
	}
	return measure.Percentile(ds, 50), measure.Percentile(ds, 99), nil
}

func report(w io.Writer, rs []step) {
	ms := func(d time.Duration) string {
		if d < 10*time.Millisecond {
			return d.Round(100 * time.Microsecond).String()
		}
		return d.Round(time.Millisecond).String()
	}
	per := func(d time.Duration, n int) string {
		return (d / time.Duration(max(n, 1))).Round(10 * time.Microsecond).String()
	}
	fmt.Fprintf(w, "\n%-9s %-10s %-9s %-10s %-9s %-15s %-9s %-10s %-18s %-14s %-14s %-15s %-27s %s\n", "sessions", "launch", "/session", "hibernate", "/session",
		"agent RSS(peak)", "agent CPU", "portal RSS", "page p50/p99", "full list p50", "own p50/p99", "1 launch p50/max", "no-op resync (writes, CPU)", "Session LISTs in launch (API server time)")
	for _, r := range rs {
		fmt.Fprintf(w, "%-9d %-10s %-9s %-10s %-9s %-15s %-9s %-10s %-18s %-14s %-14s %-15s %-27s %d (%s)\n", r.sessions,
			ms(r.launch), per(r.launch, r.added), ms(r.hibernate), per(r.hibernate, r.slept),
			r.agentRSS+"("+r.agentPeak+")", r.agentCPU.Round(10*time.Millisecond), r.portal,
			ms(r.page)+"/"+ms(r.pageP99), ms(r.full), ms(r.own)+"/"+ms(r.ownP99), ms(r.probeP50)+"/"+ms(r.probeMax),
			fmt.Sprintf("%s (%d, %s)", ms(r.resync), r.resyncWrites, r.resyncCPU.Round(10*time.Millisecond)), r.sessionLists, r.listTime.Round(time.Millisecond))
	}
	// Growth: the cost per session from one step to the next; linear (or
	// better) keeps it flat (or falling).
	fmt.Fprintln(w, "\ngrowth from step to step (1.00× = linear):")
	for i := 1; i < len(rs); i++ {
		a, b := rs[i-1], rs[i]
		f := float64(b.sessions) / float64(a.sessions)
		fmt.Fprintf(w, "  %d → %d sessions (×%.0f): launch ×%.2f per session, hibernate ×%.2f per session, resync time ×%.2f per session, full list ×%.2f per session, single launch ×%.2f\n",
			a.sessions, b.sessions, f, perAdded(b.launch, b.added)/perAdded(a.launch, a.added), perAdded(b.hibernate, b.slept)/perAdded(a.hibernate, a.slept),
			b.resync.Seconds()/a.resync.Seconds()/f, b.full.Seconds()/a.full.Seconds()/f, b.probeP50.Seconds()/a.probeP50.Seconds())
	}
	fmt.Fprintln(w, "targets at 10,000: agent RSS ≤ 500 MiB, portal RSS ≤ 300 MiB, a single launch ≤ 200 ms")
}

// perAdded is the seconds per session of a phase over n sessions.
func perAdded(d time.Duration, n int) float64 { return d.Seconds() / float64(max(n, 1)) }
