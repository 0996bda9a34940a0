// Command controller benchmarks the session controller against its own
// baseline. It starts a real kube-apiserver + etcd and the agent binary as
// its own process (so its memory and CPU are measured alone), then, against
// that same API server:
//
//  1. bare: a plain client-go writer with as many workers as the creating
//     clients writes, for N Sessions, what the controller writes for them —
//     the Session (with its finalizer), the user's home PVC, the Deployment,
//     the Service and the status — in a namespace the agent does not watch;
//  2. agent: the same N Sessions are created and the agent reconciles them.
//
// It prints both totals and their ratio, the latency from each create to
// its Deployment + Service + status per batch of 100 sessions (so queueing
// shows), and the agent's RSS and CPU. With -profile it also pulls the
// agent's CPU, block and mutex profiles during the agent phase and prints
// their top entries.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/streamspace/streamspace/agent/manager"
	"github.com/streamspace/streamspace/agent/sessions"
	"github.com/streamspace/streamspace/agent/users"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/bench/benchenv"
	"github.com/streamspace/streamspace/test/bench/measure"
	"github.com/streamspace/streamspace/test/freeport"
)

type config struct {
	agent    string
	n        int
	perUser  int
	parallel int
	workers  int
	profile  string
}

func main() {
	var c config
	flag.StringVar(&c.agent, "agent", "bin/streamspace-agent", "Agent binary.")
	flag.IntVar(&c.n, "sessions", 1000, "Sessions to create.")
	flag.IntVar(&c.perUser, "sessions-per-user", 5, "Sessions per user (the webhook lists a user's sessions on each create).")
	flag.IntVar(&c.parallel, "parallel", 16, "Concurrent creates, and the bare writer's workers.")
	flag.IntVar(&c.workers, "workers", 0, "Agent --session-workers (0: the agent's default).")
	flag.StringVar(&c.profile, "profile", "", "Folder for the agent's CPU, block and mutex profiles taken during the agent phase (empty: no profiling).")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

const batch = 100

func run(cfg config) error {
	ctx := context.Background()
	up, err := benchenv.StartUp(manager.Scheme())
	if err != nil {
		return err
	}
	defer up.Stop()
	env, kubeconfig, c := up.Env, up.Kubeconfig, up.Client
	const agentNS, bareNS = "bench", "bare"
	for _, ns := range []string{agentNS, bareNS} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
		if err := c.Create(ctx, benchenv.LightTemplate(ns)); err != nil {
			return err
		}
	}

	var args []string
	if cfg.workers > 0 {
		args = append(args, "--session-workers", fmt.Sprint(cfg.workers))
	}
	var prof *measure.Profiler
	if cfg.profile != "" {
		port, err := freeport.Loopback()
		if err != nil {
			return err
		}
		if err := os.MkdirAll(cfg.profile, 0o755); err != nil {
			return err
		}
		args = append(args, "--pprof-addr", fmt.Sprintf("127.0.0.1:%d", port))
		prof = &measure.Profiler{URL: fmt.Sprintf("http://127.0.0.1:%d/debug/pprof", port), Dir: cfg.profile}
	}
	agent, err := benchenv.Start(env, cfg.agent, kubeconfig, agentNS, args...)
	if err != nil {
		return err
	}
	defer agent.Stop()
	cmd := agent.Cmd
	if err := benchenv.Ready(ctx, c, agentNS, "light"); err != nil {
		return err
	}

	fmt.Printf("Sessions: %d (%d per user), %d concurrent clients; agent %s\n", cfg.n, cfg.perUser, cfg.parallel, strings.Join(agent.Args[len(agent.Args)-2:], " "))
	fmt.Printf("bare client-go writer (%d workers) … ", cfg.parallel)
	server0, err := readServer(ctx, up.Config)
	if err != nil {
		return err
	}
	bare, bareLat, err := runBare(ctx, c, bareNS, cfg)
	if err != nil {
		return fmt.Errorf("bare writer: %w", err)
	}
	fmt.Printf("%v\n", bare.Round(time.Millisecond))
	server1, err := readServer(ctx, up.Config)
	if err != nil {
		return err
	}

	before, err := measure.ReadProc(cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("agent reconciling … ")
	if prof != nil {
		prof.StartCPU()
	}
	total, lat, err := runAgent(ctx, c, agentNS, cfg)
	var cpuFiles []string
	if prof != nil {
		cpuFiles = prof.StopCPU()
	}
	if err != nil {
		return err
	}
	after, err := measure.ReadProc(cmd.Process.Pid)
	if err != nil {
		return err
	}
	server2, err := readServer(ctx, up.Config)
	if err != nil {
		return err
	}
	fmt.Printf("%v\n", total.Round(time.Millisecond))

	fmt.Printf("\n%-34s %10s %10s %10s\n", "create → children + status", "bare p50", "agent p50", "agent p99")
	for b := 0; b*batch < cfg.n; b++ {
		lo, hi := b*batch, min((b+1)*batch, cfg.n)
		fmt.Printf("  sessions %4d–%-4d                %10v %10v %10v\n", lo, hi-1,
			measure.Percentile(append([]time.Duration(nil), bareLat[lo:hi]...), 50).Round(time.Millisecond),
			measure.Percentile(append([]time.Duration(nil), lat[lo:hi]...), 50).Round(time.Millisecond),
			measure.Percentile(append([]time.Duration(nil), lat[lo:hi]...), 99).Round(time.Millisecond))
	}
	fmt.Printf("  all                               %10v %10v %10v (agent max %v)\n",
		measure.Percentile(bareLat, 50).Round(time.Millisecond), measure.Percentile(lat, 50).Round(time.Millisecond),
		measure.Percentile(lat, 99).Round(time.Millisecond), measure.Percentile(lat, 100).Round(time.Millisecond))
	fmt.Printf("\ntotal, bare writer:                 %v (%.0f sessions/s)\n", bare.Round(time.Millisecond), float64(cfg.n)/bare.Seconds())
	fmt.Printf("total, agent (first create → all):  %v (%.0f sessions/s)\n", total.Round(time.Millisecond), float64(cfg.n)/total.Seconds())
	fmt.Printf("ratio agent / bare:                 %.2f×   (target ≤ 1.5×)\n", total.Seconds()/bare.Seconds())
	fmt.Printf("agent RSS after: %s, peak %s; agent CPU in the agent phase: %v\n", after.RSS, after.PeakRSS, (after.CPU - before.CPU).Round(10*time.Millisecond))

	printServer(server1.minus(server0), server2.minus(server1), cfg.n)

	// How many reconciles and API requests the agent phase cost (the bare
	// writer's requests go through the agent's webhook, hence the
	// webhook's figures cover both phases).
	if lines, err := measure.Metrics(agent.MetricsURL,
		`controller_runtime_reconcile_total{controller="session"`, `controller_runtime_reconcile_total{controller="template-status"`,
		"rest_client_requests_total", `workqueue_retries_total{controller="session"`,
		`workqueue_queue_duration_seconds_sum{controller="session"`, `workqueue_queue_duration_seconds_count{controller="session"`,
		`workqueue_work_duration_seconds_sum{controller="session"`, `workqueue_work_duration_seconds_count{controller="session"`, `streamspace_reconcile_duration_seconds_count{kind="Session"`); err == nil {
		fmt.Println("\nagent metrics at the end:")
		for _, l := range lines {
			if !strings.HasSuffix(l, " 0") {
				fmt.Println("  " + l)
			}
		}
	}
	if prof != nil {
		measure.Top(os.Stdout, "agent CPU, flat", 25, false, cpuFiles...)
		measure.Top(os.Stdout, "agent CPU, cumulative", 40, true, cpuFiles...)
		for _, name := range []string{"block", "mutex"} {
			if f, err := prof.Snapshot(name); err == nil {
				measure.Top(os.Stdout, "agent "+name+" (whole run)", 15, true, f)
			}
		}
		fmt.Printf("\nprofiles in %s (go tool pprof -http=: %s/cpu-*.pb.gz)\n", cfg.profile, cfg.profile)
	}
	return nil
}

func session(ns string, i, perUser int) *streamv1.Session {
	return &streamv1.Session{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("s-%04d", i)},
		Spec:       streamv1.SessionSpec{User: fmt.Sprintf("user-%03d", i/perUser), Template: "light"},
	}
}

// runBare writes, per session, what the controller writes for it (see the
// package comment) with cfg.parallel workers, and returns the total and each
// session's latency from its create to its status.
func runBare(ctx context.Context, c client.Client, ns string, cfg config) (time.Duration, []time.Duration, error) {
	t := benchenv.LightTemplate(ns)
	if err := c.Get(ctx, client.ObjectKeyFromObject(t), t); err != nil {
		return 0, nil, err
	}
	lat := make([]time.Duration, cfg.n)
	var homes sync.Map
	one := func(i int) error {
		began := time.Now()
		s := session(ns, i, cfg.perUser)
		s.Finalizers = []string{sessions.Finalizer}
		if err := c.Create(ctx, s); err != nil {
			return err
		}
		if _, seen := homes.LoadOrStore(s.Spec.User, true); !seen {
			pvc := &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: streamv1.HomeVolumeNameFor(s.Spec.User),
					Labels: map[string]string{users.LabelManagedBy: users.ManagedBy, users.LabelUser: s.Spec.User, users.LabelHome: "true"}},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
				},
			}
			if err := c.Create(ctx, pvc); err != nil {
				return err
			}
		}
		d, svc := sessions.LaunchObjects(s, t)
		for _, o := range []client.Object{d, svc} {
			if err := controllerutil.SetControllerReference(s, o, c.Scheme()); err != nil {
				return err
			}
			if err := c.Create(ctx, o, client.FieldOwner("bench")); err != nil {
				return err
			}
		}
		orig := s.DeepCopy()
		now := metav1.Now()
		s.Status.Phase = streamv1.PhasePending
		s.Status.LastStart = &streamv1.StartTimes{Kind: streamv1.StartLaunch, RequestedAt: now}
		s.Status.LastActivity = &now
		s.Status.Image = t.Spec.BaseImage
		if err := c.Status().Patch(ctx, s, client.MergeFrom(orig)); err != nil {
			return err
		}
		lat[i] = time.Since(began)
		return nil
	}
	start := time.Now()
	if err := measure.Parallel(cfg.n, cfg.parallel, one); err != nil {
		return 0, nil, err
	}
	return time.Since(start), lat, nil
}

type times struct{ created, deploy, svc, status time.Time }

func (t times) done() (time.Time, bool) {
	if t.created.IsZero() || t.deploy.IsZero() || t.svc.IsZero() || t.status.IsZero() {
		return time.Time{}, false
	}
	last := t.deploy
	for _, x := range []time.Time{t.svc, t.status} {
		if x.After(last) {
			last = x
		}
	}
	return last, true
}

// runAgent creates the sessions with cfg.parallel clients and waits until
// the agent has created every Deployment and Service and written every
// status. It returns the total and each session's latency from its create.
func runAgent(ctx context.Context, c client.WithWatch, ns string, cfg config) (time.Duration, []time.Duration, error) {
	var mu sync.Mutex
	rec := make([]times, cfg.n)
	index := map[string]int{}
	for i := range cfg.n {
		index[session(ns, i, cfg.perUser).Name] = i
	}
	allDone := make(chan struct{})
	completed := 0
	mark := func(name string, set func(*times)) {
		i, ok := index[name]
		if !ok {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		_, before := rec[i].done()
		set(&rec[i])
		if _, now := rec[i].done(); now && !before {
			if completed++; completed == cfg.n {
				close(allDone)
			}
		}
	}
	watchCtx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	for _, w := range []struct {
		list client.ObjectList
		on   func(obj any)
	}{
		{&appsv1.DeploymentList{}, func(o any) {
			mark(strings.TrimPrefix(o.(*appsv1.Deployment).Name, "ss-"), func(t *times) { first(&t.deploy) })
		}},
		{&corev1.ServiceList{}, func(o any) {
			mark(strings.TrimPrefix(o.(*corev1.Service).Name, "ss-"), func(t *times) { first(&t.svc) })
		}},
		{&streamv1.SessionList{}, func(o any) {
			if s := o.(*streamv1.Session); s.Status.Phase != "" && s.Status.LastStart != nil {
				mark(s.Name, func(t *times) { first(&t.status) })
			}
		}},
	} {
		wi, err := c.Watch(watchCtx, w.list, client.InNamespace(ns))
		if err != nil {
			return 0, nil, err
		}
		go func(wi watch.Interface, on func(any)) {
			for ev := range wi.ResultChan() {
				if ev.Type == watch.Added || ev.Type == watch.Modified {
					on(ev.Object)
				}
			}
		}(wi, w.on)
	}

	start := time.Now()
	created := make(chan error, 1)
	go func() {
		created <- measure.Parallel(cfg.n, cfg.parallel, func(i int) error {
			s := session(ns, i, cfg.perUser)
			mark(s.Name, func(t *times) { t.created = time.Now() })
			return c.Create(ctx, s)
		})
	}()
	for {
		select {
		case <-allDone:
			total := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			lat := make([]time.Duration, cfg.n)
			for i, t := range rec {
				d, _ := t.done()
				lat[i] = d.Sub(t.created)
			}
			return total, lat, nil
		case err := <-created:
			if err != nil {
				return 0, nil, fmt.Errorf("create session: %w", err)
			}
			created = nil
		case <-time.After(15 * time.Minute):
			return 0, nil, fmt.Errorf("timed out: %d of %d sessions reconciled", completed, cfg.n)
		}
	}
}

func first(t *time.Time) {
	if t.IsZero() {
		*t = time.Now()
	}
}
