package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
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
	perUser  int
	clients  int
	duration time.Duration
}

// benchAPI fills a namespace with sessions, runs the whole portal over it
// as its binary does (portal.Run: a cache of the namespace, the SQLite
// store, a bootstrap admin) and loads GET /api/v1/sessions as the admin,
// who sees every session, and as a user, who sees their own.
func benchAPI(ctx context.Context, env *testenv.Env, cfg apiConfig) error {
	const ns = "bench-api"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	if err := env.Client.Create(ctx, benchenv.LightTemplate(ns)); err != nil {
		return err
	}
	users := (cfg.sessions + cfg.perUser - 1) / cfg.perUser
	fmt.Printf("Creating %d sessions (%d users × %d) … ", cfg.sessions, users, cfg.perUser)
	began := time.Now()
	if err := seedSessions(ctx, env.Config, ns, cfg.sessions, cfg.perUser); err != nil {
		return err
	}
	fmt.Printf("%v\n", time.Since(began).Round(time.Millisecond))

	fmt.Printf("Starting the portal (portal.Run, cache-backed) … ")
	port, err := freeport.Loopback()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dir, err := os.MkdirTemp("", "bench-portal-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	out := &syncbuf.Buffer{}
	runCtx, stop := context.WithCancel(ctx)
	var runErr error
	stopped := make(chan struct{})
	go func() {
		runErr = portal.Run(runCtx, portal.Config{Addr: addr, Namespace: ns, StateDir: dir, Out: out,
			ShutdownGrace: 2 * time.Second, Log: log}, env.Config)
		close(stopped)
	}()
	defer func() { stop(); <-stopped }()
	// Run names the bootstrap admin's password file once its cache has
	// synced, just before it serves.
	adminName, password := "", ""
	for deadline := time.Now().Add(60 * time.Second); password == ""; {
		select {
		case <-stopped:
			return fmt.Errorf("portal.Run: %v", runErr)
		case <-time.After(50 * time.Millisecond):
		}
		if adminName, password, _, err = firstadmin.OneTime(out.String()); err != nil {
			return err
		} else if password == "" && time.Now().After(deadline) {
			return fmt.Errorf("no bootstrap password file named after 60s: %q", out.String())
		}
	}
	base := "http://" + addr
	admin, err := firstadmin.Claim(ctx, base, adminName, password, "a-password-the-admin-chose")
	if err != nil {
		return err
	}
	// The regular user is made as an admin would: through the admin API.
	userName, userPassword := fmt.Sprintf("user-%03d", users/2), "password-of-a-user"
	body, _ := json.Marshal(map[string]string{"username": userName, "password": userPassword})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/admin/users", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create user %s: %s", userName, resp.Status)
	}
	user, err := benchenv.Login(ctx, base, userName, userPassword)
	if err != nil {
		return err
	}
	fmt.Println("ok")

	fmt.Printf("\nGET /api/v1/sessions, %d sessions in the cache, %d concurrent clients, %v per caller\n", cfg.sessions, cfg.clients, cfg.duration)
	fmt.Printf("%-36s %9s %10s %12s %10s %10s %12s\n", "caller", "sessions", "requests", "requests/s", "p50", "p99", "response")
	// The full list is what every request cost before pages; the default
	// page is what the UI asks for; with If-None-Match a client that
	// already holds the page gets 304.
	for _, caller := range []struct {
		name, token, query string
		want               int
		revalidate         bool
	}{
		{"admin, full list (limit=0)", admin, "?limit=0", cfg.sessions, false},
		{"admin, default page", admin, "", min(cfg.sessions, api.DefaultSessionPage), false},
		{"admin, default page, If-None-Match", admin, "", min(cfg.sessions, api.DefaultSessionPage), true},
		{"user (own)", user, "", cfg.perUser, false},
	} {
		res, err := load(ctx, base+"/api/v1/sessions"+caller.query, caller.token, caller.want, cfg.clients, cfg.duration, caller.revalidate)
		if err != nil {
			return fmt.Errorf("%s: %w", caller.name, err)
		}
		fmt.Printf("%-36s %9d %10d %12.0f %10v %10v %9.1f KB\n", caller.name, caller.want, len(res.latencies),
			float64(len(res.latencies))/res.elapsed.Seconds(), us(quantile(res.latencies, 0.5)), us(quantile(res.latencies, 0.99)),
			float64(res.size)/1e3)
	}
	return nil
}

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
