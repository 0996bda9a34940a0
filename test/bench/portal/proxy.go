package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/portal/store/sqlite"
	"github.com/streamspace/streamspace/test/bench/benchenv"
	"github.com/streamspace/streamspace/test/testenv"
	"github.com/streamspace/streamspace/test/vnctest"
)

type proxyConfig struct {
	geometry   string
	streamTime time.Duration
	pings      int
	rounds     int
}

// route is one way from the viewer to the same websockify, with what was
// measured on it, summed over the rounds.
type route struct {
	name   string
	url    string
	header http.Header

	// hopCPU is the CPU time the hop's own process has used so far, when
	// the hop is a process of its own (nginx); nil otherwise
	hopCPU func() time.Duration

	bytes    int64
	frames   int
	elapsed  time.Duration
	selfCPU  time.Duration // this process's CPU while streaming: the client, and the portal in-process
	syscalls int64         // this process's read and write system calls while streaming
	extCPU   time.Duration // hopCPU's while streaming
	rtts     []time.Duration
	connects []time.Duration
}

// benchProxy measures one Xvnc + websockify reached directly, through the
// portal and through nginx. The routes take turns within each round, so a
// burst of load elsewhere on the machine (a build, the API server) lands
// on all of them rather than on whichever ran at that moment.
func benchProxy(ctx context.Context, env *testenv.Env, cfg proxyConfig) error {
	fmt.Printf("Starting Xvnc (%s) + websockify … ", cfg.geometry)
	vnc, err := vnctest.StartWith(vnctest.Options{Geometry: cfg.geometry})
	if err != nil {
		return err
	}
	defer vnc.Stop()
	fmt.Println("ok")

	fmt.Printf("Starting the portal's router (login, session Running in the API server) … ")
	portalURL, token, stopPortal, err := startPortal(ctx, env, vnc.URL)
	if err != nil {
		return err
	}
	defer stopPortal()
	fmt.Println("ok")

	fmt.Printf("Starting nginx … ")
	ngx, err := startNginx(vnc.URL)
	if err != nil {
		return err
	}
	defer ngx.Stop()
	fmt.Println("ok")

	routes := []*route{
		{name: "direct", url: vnc.URL},
		{name: "portal", url: portalURL, header: http.Header{"Authorization": {"Bearer " + token}}},
		{name: "nginx", url: ngx.URL, hopCPU: ngx.CPU},
	}
	fmt.Printf("Measuring: %d rounds × %d routes, each streaming full frames for %v, then %d round trips … ",
		cfg.rounds, len(routes), cfg.streamTime, cfg.pings/cfg.rounds)
	began := time.Now()
	for round := range cfg.rounds {
		// each round starts at another route: whatever the first connection
		// of a round costs (Xvnc, websockify's fork) lands on each in turn
		for i := range routes {
			r := routes[(round+i)%len(routes)]
			if err := r.measure(ctx, cfg.streamTime, cfg.pings/cfg.rounds); err != nil {
				return fmt.Errorf("%s: %w", r.name, err)
			}
		}
	}
	fmt.Printf("%v\n", time.Since(began).Round(time.Second))

	direct := routes[0]
	frameMB := float64(direct.bytes) / float64(direct.frames) / 1e6
	fmt.Printf("\nstream proxy, one %s Raw upstream (%.1f MB a full frame), %d round trips of a 1x1 update per route\n",
		cfg.geometry, frameMB, len(direct.rtts))
	fmt.Printf("%-8s %12s %10s %7s %12s %12s %10s %10s %10s %10s %10s\n",
		"route", "throughput", "vs direct", "frames", "hop CPU/GB", "hop calls/MB", "RTT p50", "p99", "+p50", "+p99", "connect")
	dp50, dp99 := quantile(direct.rtts, 0.50), quantile(direct.rtts, 0.99)
	// The client's own CPU per byte is what this process spends on the
	// direct route; on the portal route the rest is the proxy's.
	clientPerGB := perGB(direct.selfCPU, direct.bytes)
	clientCallsPerMB := float64(direct.syscalls) / (float64(direct.bytes) / 1e6)
	for _, r := range routes {
		p50, p99 := quantile(r.rtts, 0.50), quantile(r.rtts, 0.99)
		added50, added99, hop, calls := "—", "—", "—", "—"
		switch {
		case r.hopCPU != nil:
			hop = fmt.Sprintf("%.2f s", perGB(r.extCPU, r.bytes))
		case r != direct:
			hop = fmt.Sprintf("%.2f s", perGB(r.selfCPU, r.bytes)-clientPerGB)
			calls = fmt.Sprintf("%.1f", float64(r.syscalls)/(float64(r.bytes)/1e6)-clientCallsPerMB)
		}
		if r != direct {
			added50, added99 = signed(p50-dp50), signed(p99-dp99)
		}
		fmt.Printf("%-8s %7.0f MB/s %9.2f× %7d %12s %12s %10v %10v %10s %10s %10v\n", r.name, r.rate()/1e6, r.rate()/direct.rate(), r.frames,
			hop, calls, us(p50), us(p99), added50, added99, quantile(r.connects, 0.5).Round(10*time.Microsecond))
	}
	fmt.Printf("(hop CPU/GB: CPU seconds the proxy in between spends per GB streamed, the client's own being %.2f s/GB;\n"+
		" hop calls/MB: the in-process portal's read and write system calls per MB, the client's own being %.1f;\n"+
		" connect: WebSocket and RFB handshake, the median of the rounds)\n", clientPerGB, clientCallsPerMB)
	fmt.Println()
	for _, r := range routes[1:] {
		fmt.Printf("%s: %.0f MB/s (%.2f× direct), RTT p50 %v (%s), p99 %v (%s)\n", r.name, r.rate()/1e6, r.rate()/direct.rate(),
			us(quantile(r.rtts, 0.5)), signed(quantile(r.rtts, 0.5)-dp50), us(quantile(r.rtts, 0.99)), signed(quantile(r.rtts, 0.99)-dp99))
	}
	return nil
}

func (r *route) rate() float64 { return float64(r.bytes) / r.elapsed.Seconds() }

// measure opens a viewer connection, streams full frames for streamFor,
// then times pings small updates one after the other.
func (r *route) measure(ctx context.Context, streamFor time.Duration, pings int) error {
	start := time.Now()
	c, err := dialRFB(ctx, r.url, r.header)
	if err != nil {
		return err
	}
	defer c.close()
	r.connects = append(r.connects, time.Since(start))
	// The first full update of a connection is not counted: it is where
	// the server sets up its encoder for this client.
	if _, err := c.update(0, 0, c.width, c.height); err != nil {
		return err
	}
	// One request at a time: a full frame takes milliseconds, so the
	// round trip between them is in the noise, and nothing queues
	// anywhere that one route could hide and another not.
	began, cpu0, calls0 := time.Now(), selfCPU(), selfSyscalls()
	var ext0 time.Duration
	if r.hopCPU != nil {
		ext0 = r.hopCPU()
	}
	for time.Since(began) < streamFor {
		n, err := c.update(0, 0, c.width, c.height)
		r.bytes += n
		if err != nil {
			return err
		}
		r.frames++
	}
	r.elapsed += time.Since(began)
	r.selfCPU += selfCPU() - cpu0
	r.syscalls += selfSyscalls() - calls0
	if r.hopCPU != nil {
		r.extCPU += r.hopCPU() - ext0
	}
	for range pings {
		t := time.Now()
		if _, err := c.update(0, 0, 1, 1); err != nil {
			return err
		}
		r.rtts = append(r.rtts, time.Since(t))
	}
	return nil
}

// startPortal serves the portal's router on loopback — authentication, the
// session looked up in the API server, the stream proxy, wired as
// portal.Run wires them — with the proxy's upstream pointed at websockify,
// and signs a user in to it. It returns the session's connect URL and the
// user's access token.
func startPortal(ctx context.Context, env *testenv.Env, upstream string) (string, string, func(), error) {
	const ns, user, password = "bench-stream", "viewer", "password-of-viewer"
	c := env.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return "", "", nil, err
	}
	if err := c.Create(ctx, benchenv.LightTemplate(ns)); err != nil {
		return "", "", nil, err
	}
	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "desktop"}, Spec: streamv1.SessionSpec{User: user, Template: "light"}}
	if err := c.Create(ctx, s); err != nil {
		return "", "", nil, err
	}
	// Running, as the agent would report it: the proxy streams only to a
	// running session
	s.Status = streamv1.SessionStatus{Phase: streamv1.PhaseRunning, LastActivity: &metav1.Time{Time: time.Now()}}
	if err := c.Status().Update(ctx, s); err != nil {
		return "", "", nil, err
	}

	dir, err := os.MkdirTemp("", "bench-portal-")
	if err != nil {
		return "", "", nil, err
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "portal.db"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", "", nil, err
	}
	stop := func() { _ = db.Close(); _ = os.RemoveAll(dir) }
	hash, err := auth.HashPassword(password)
	if err == nil {
		err = db.CreateUser(ctx, &store.User{Username: user, PasswordHash: hash, Role: "user", Source: "local"})
	}
	if err != nil {
		stop()
		return "", "", nil, err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	gin.SetMode(gin.ReleaseMode)
	handlers, err := portal.NewHandlers(portal.Components{Client: c, Namespace: ns, Store: db, Log: log, Registry: prometheus.NewRegistry(),
		Tokens: &auth.Tokens{Store: db, Key: key, Issuer: "streamspace"}})
	if err != nil {
		stop()
		return "", "", nil, err
	}
	handlers.Stream.Upstream = func(*streamv1.Session, *streamv1.Template) string { return upstream }
	h := portal.NewRouter(handlers)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		stop()
		return "", "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	stop = func() { _ = srv.Close(); _ = db.Close(); _ = os.RemoveAll(dir) }
	base := "http://" + l.Addr().String()
	token, err := benchenv.Login(ctx, base, user, password)
	if err != nil {
		stop()
		return "", "", nil, err
	}
	return "ws://" + l.Addr().String() + "/api/v1/sessions/" + s.Name + "/connect", token, stop, nil
}

// selfCPU is the CPU time this process has used (user + system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// selfSyscalls is the read and write system calls this process has made
// (syscr + syscw of /proc/self/io; 0 where there is none).
func selfSyscalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	var n int64
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		if k == "syscr" || k == "syscw" {
			c, _ := strconv.ParseInt(v, 10, 64)
			n += c
		}
	}
	return n
}

func perGB(cpu time.Duration, bytes int64) float64 { return cpu.Seconds() / (float64(bytes) / 1e9) }

// us rounds a latency for printing.
func us(d time.Duration) time.Duration {
	if d >= 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// signed prints a latency difference with its sign.
func signed(d time.Duration) string {
	if d = us(d); d < 0 {
		return d.String()
	}
	return "+" + d.String()
}

// quantile is the q-quantile of the samples (nearest rank).
func quantile(samples []time.Duration, q float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
