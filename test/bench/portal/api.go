package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/api"
	"github.com/streamspace/streamspace/test/bench/benchenv"
	"github.com/streamspace/streamspace/test/firstadmin"
	"github.com/streamspace/streamspace/test/freeport"
	"github.com/streamspace/streamspace/test/syncbuf"
	"github.com/streamspace/streamspace/test/testenv"
)

type apiConfig struct {
	sessions int
	// baseline: sessions of the same run's baseline portal, whose figures
	// the large list's are divided by
	baseline int
	perUser  int
	clients  int
	duration time.Duration
	// profile: a directory for CPU and allocation profiles of each
	// portal's measured load (not its setup)
	profile string
}

// apiCaller is one kind of request the API benchmark loads.
type apiCaller struct {
	name       string
	admin      bool
	query      string
	revalidate bool
}

// The full list is what every request cost before pages; the default
// page is what the UI asks for; with If-None-Match a client that already
// holds the page gets 304.
var apiCallers = []apiCaller{
	{"admin, full list (limit=0)", true, "?limit=0", false},
	{"admin, default page", true, "", false},
	{"admin, default page, If-None-Match", true, "", true},
	{"user (own)", false, "", false},
}

// benchAPI runs the whole portal (portal.Run: a cache of its namespace,
// the SQLite store, a bootstrap admin) over a namespace of cfg.baseline
// sessions, then over one of cfg.sessions, and loads GET /api/v1/sessions
// as the admin, who sees every session, and as a user, who sees their
// own; it prints both side by side and their ratio: what the sessions
// beyond the baseline cost.
func benchAPI(ctx context.Context, env *testenv.Env, cfg apiConfig) error {
	sizes := []int{cfg.baseline, cfg.sessions}
	portals := make([]*apiPortal, len(sizes))
	for i, n := range sizes {
		p, err := startAPIPortal(ctx, env, cfg, n)
		if err != nil {
			return fmt.Errorf("%d sessions: %w", n, err)
		}
		defer p.stop()
		portals[i] = p
	}
	// Each caller loads the baseline's portal, then the large one's, right
	// after: the machine's load, which drifts, weighs on both alike (the
	// idle portal costs nothing meanwhile).
	results := make([][]loadResult, len(sizes))
	for _, caller := range apiCallers {
		for i, p := range portals {
			stopProfile := func() {}
			if cfg.profile != "" {
				var err error
				if stopProfile, err = profileLoad(cfg.profile, sizes[i], caller.name); err != nil {
					return err
				}
			}
			res, err := p.load(ctx, cfg, caller)
			stopProfile()
			if err != nil {
				return fmt.Errorf("%d sessions, %s: %w", sizes[i], caller.name, err)
			}
			results[i] = append(results[i], res)
		}
	}
	fmt.Printf("\nGET /api/v1/sessions, %d concurrent clients, %v per caller; %d sessions (the baseline) and %d, each under its own portal\n",
		cfg.clients, cfg.duration, sizes[0], sizes[1])
	fmt.Printf("%-36s %5s %11s %9s %9s %9s %11s %9s %9s %9s %7s\n", "caller", "", "req/s", "p50", "p99", "response",
		"req/s", "p50", "p99", "response", "ratio")
	fmt.Printf("%-36s %5s %41s %41s %7s\n", "", "", fmt.Sprintf("— %d sessions —", sizes[0]), fmt.Sprintf("— %d sessions —", sizes[1]), "")
	for c, caller := range apiCallers {
		b, l := results[0][c], results[1][c]
		// ratio: the large list's throughput as a share of the baseline's
		fmt.Printf("%-36s %5s %11.0f %9v %9v %6.1f KB %11.0f %9v %9v %6.1f KB %6.2f×\n", caller.name, "",
			b.rate(), us(quantile(b.latencies, 0.5)), us(quantile(b.latencies, 0.99)), float64(b.size)/1e3,
			l.rate(), us(quantile(l.latencies, 0.5)), us(quantile(l.latencies, 0.99)), float64(l.size)/1e3,
			l.rate()/b.rate())
	}
	return nil
}

// apiPortal is portal.Run over a namespace of n sessions, and who calls it.
type apiPortal struct {
	n                 int
	base, admin, user string
	stop              func()
}

// startAPIPortal seeds a namespace of n sessions and serves it with
// portal.Run.
func startAPIPortal(ctx context.Context, env *testenv.Env, cfg apiConfig, n int) (_ *apiPortal, err error) {
	ns := fmt.Sprintf("bench-api-%d", n)
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return nil, err
	}
	if err := env.Client.Create(ctx, benchenv.LightTemplate(ns)); err != nil {
		return nil, err
	}
	users := (n + cfg.perUser - 1) / cfg.perUser
	fmt.Printf("%d sessions: creating them (%d users × %d) … ", n, users, cfg.perUser)
	began := time.Now()
	if err := seedSessions(ctx, env.Config, ns, n, cfg.perUser); err != nil {
		return nil, err
	}
	fmt.Printf("%v; ", time.Since(began).Round(time.Millisecond))

	fmt.Printf("starting the portal (portal.Run, cache-backed) … ")
	port, err := freeport.Loopback()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dir, err := os.MkdirTemp("", "bench-portal-run-")
	if err != nil {
		return nil, err
	}
	out := &syncbuf.Buffer{}
	runCtx, stop := context.WithCancel(ctx)
	var runErr error
	stopped := make(chan struct{})
	go func() {
		runErr = portal.Run(runCtx, portal.Config{Addr: addr, Namespace: ns, StateDir: dir, Out: out,
			ShutdownGrace: 2 * time.Second, Log: log}, env.Config)
		close(stopped)
	}()
	p := &apiPortal{n: n, base: "http://" + addr, stop: func() { stop(); <-stopped; os.RemoveAll(dir) }}
	defer func() {
		if err != nil {
			p.stop()
		}
	}()
	// Run names the bootstrap admin's password file once its cache has
	// synced, just before it serves.
	adminName, password := "", ""
	for deadline := time.Now().Add(60 * time.Second); password == ""; {
		select {
		case <-stopped:
			return nil, fmt.Errorf("portal.Run: %v", runErr)
		case <-time.After(50 * time.Millisecond):
		}
		if adminName, password, _, err = firstadmin.OneTime(out.String()); err != nil {
			return nil, err
		} else if password == "" && time.Now().After(deadline) {
			return nil, fmt.Errorf("no bootstrap password file named after 60s: %q", out.String())
		}
	}
	base := p.base
	admin, err := firstadmin.Claim(ctx, base, adminName, password, "a-password-the-admin-chose")
	if err != nil {
		return nil, err
	}
	// The regular user is made as an admin would: through the admin API.
	userName, userPassword := fmt.Sprintf("user-%03d", users/2), "password-of-a-user"
	body, _ := json.Marshal(map[string]string{"username": userName, "password": userPassword})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/admin/users", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("create user %s: %s", userName, resp.Status)
	}
	user, err := benchenv.Login(ctx, base, userName, userPassword)
	if err != nil {
		return nil, err
	}
	fmt.Println("ok")
	p.admin, p.user = admin, user
	return p, nil
}

// load runs caller's requests against the portal.
func (p *apiPortal) load(ctx context.Context, cfg apiConfig, caller apiCaller) (loadResult, error) {
	token, want := p.user, min(p.n, cfg.perUser)
	if caller.admin {
		token, want = p.admin, p.n
		if caller.query == "" {
			want = min(p.n, api.DefaultSessionPage)
		}
	}
	return load(ctx, p.base+"/api/v1/sessions"+caller.query, token, want, cfg.clients, cfg.duration, caller.revalidate)
}

// profileLoad profiles the CPU of this process (the bench's clients and
// the portal under them) until the returned function is called, and then
// writes the allocations made meanwhile: dir/N-caller.cpu.pprof and
// dir/N-caller.allocs.pprof (read it with -base dir/N-caller.allocs-before.pprof
// for the load's alone).
func profileLoad(dir string, n int, caller string) (func(), error) {
	prefix := fmt.Sprintf("%d-%s", n, strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(caller)))
	create := func(name string) (*os.File, error) { return os.Create(filepath.Join(dir, prefix+name)) }
	cpu, err := create(".cpu.pprof")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		cpu.Close()
		return nil, err
	}
	writeAllocs := func(name string) {
		if f, err := create(name); err == nil {
			runtime.GC() // the profile is as of the last GC
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	writeAllocs(".allocs-before.pprof")
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		writeAllocs(".allocs.pprof")
	}, nil
}

func (r loadResult) rate() float64 { return float64(len(r.latencies)) / r.elapsed.Seconds() }

// seedSessions creates n sessions, perUser to a user, in parallel, each
// Running with the timestamps a started session has, so the list carries
// what it carries in use.
func seedSessions(ctx context.Context, cfg *rest.Config, ns string, n, perUser int) error {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit: seeding is not what is measured
	c, err := client.New(cfg, client.Options{Scheme: portal.Scheme()})
	if err != nil {
		return err
	}
	const parallel = 32
	work := make(chan int)
	errs := make(chan error, parallel)
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				s := &streamv1.Session{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("s-%04d", i)},
					Spec:       streamv1.SessionSpec{User: fmt.Sprintf("user-%03d", i/perUser), Template: "light"},
				}
				if err := c.Create(ctx, s); err != nil {
					errs <- err
					return
				}
				now := metav1.Now()
				s.Status = streamv1.SessionStatus{Phase: streamv1.PhaseRunning, PodName: "ss-" + s.Name + "-0",
					URL: "/sessions/" + s.Name, LastActivity: &now,
					LastStart: &streamv1.StartTimes{Kind: "Launch", RequestedAt: now, ScheduledAt: &now, ImageReadyAt: &now, StreamReadyAt: &now}}
				if err := c.Status().Update(ctx, s); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err2 error
feed:
	for i := range n {
		select {
		case work <- i:
		case err2 = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err2 == nil && len(errs) > 0 {
		err2 = <-errs
	}
	return err2
}

type loadResult struct {
	latencies []time.Duration
	elapsed   time.Duration
	size      int // bytes of one response body
}

// load runs clients concurrent request loops against url for d, after a
// one-second warm-up that is not counted (connections opened, the first
// allocations of the JSON encoder's buffers made). Every answer must list
// want sessions.
// load runs GET url for d with clients concurrent callers. With
// revalidate, each request sends the ETag of the first answer and expects
// 304 Not Modified.
func load(ctx context.Context, url, token string, want, clients int, d time.Duration, revalidate bool) (loadResult, error) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer hc.CloseIdleConnections()
	etag := ""
	get := func() ([]byte, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if revalidate && etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		switch {
		case err != nil:
		case revalidate && etag != "" && resp.StatusCode != http.StatusNotModified:
			err = fmt.Errorf("with If-None-Match %s: %s, want 304", etag, resp.Status)
		case (!revalidate || etag == "") && resp.StatusCode != http.StatusOK:
			err = fmt.Errorf("%s: %s", resp.Status, body)
		}
		if etag == "" {
			etag = resp.Header.Get("ETag")
		}
		return body, err
	}
	// what the caller sees, checked once
	body, err := get()
	if err != nil {
		return loadResult{}, err
	}
	var list struct {
		Sessions []json.RawMessage `json:"sessions"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return loadResult{}, err
	}
	if len(list.Sessions) != want {
		return loadResult{}, fmt.Errorf("listed %d sessions, want %d", len(list.Sessions), want)
	}

	run := func(d time.Duration) ([]time.Duration, int, error) {
		var mu sync.Mutex
		var all []time.Duration
		var firstErr error
		size := 0
		var wg sync.WaitGroup
		until := time.Now().Add(d)
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				n := 0
				var err error
				for time.Now().Before(until) {
					t := time.Now()
					var body []byte
					if body, err = get(); err != nil {
						break
					}
					mine = append(mine, time.Since(t))
					n = len(body)
				}
				mu.Lock()
				defer mu.Unlock()
				all = append(all, mine...)
				size = max(size, n)
				if firstErr == nil {
					firstErr = err
				}
			}()
		}
		wg.Wait()
		return all, size, firstErr
	}
	if _, _, err := run(time.Second); err != nil {
		return loadResult{}, err
	}
	began := time.Now()
	lat, size, err := run(d)
	return loadResult{latencies: lat, elapsed: time.Since(began), size: size}, err
}
