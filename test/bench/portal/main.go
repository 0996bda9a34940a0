// Command portal benchmarks the portal and prints the figures:
//
//   - the stream proxy: one real Xvnc + websockify reached three ways in
//     one run, side by side — directly, through the portal's authenticated
//     WebSocket proxy, and through nginx as a plain WebSocket reverse proxy
//     — for the throughput of full-screen Raw updates and the round trip of
//     a tiny request and its answer (what the hop adds to every keystroke);
//   - the API: GET /api/v1/sessions over 1,000 sessions from the whole
//     portal (portal.Run, answering from its cache), as the admin, who sees
//     all of them, and as a user, who sees their own, under concurrent
//     clients.
//
// Everything runs on this machine: the bench client competes with what it
// measures for the same cores, on every route alike.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/streamspace/streamspace/test/testenv"
)

// log is what the portal under test logs to.
var log logr.Logger

func main() {
	only := flag.String("run", "proxy,api", "Benchmarks to run, comma-separated: proxy, api.")
	var pc proxyConfig
	flag.StringVar(&pc.geometry, "geometry", "1920x1080", "Framebuffer size of the VNC upstream.")
	flag.DurationVar(&pc.streamTime, "stream-time", 4*time.Second, "How long each route streams full frames in each round.")
	flag.IntVar(&pc.pings, "pings", 2000, "Round trips of a 1x1 update per route, spread over the rounds.")
	flag.IntVar(&pc.rounds, "rounds", 3, "Rounds of the proxy benchmark; each measures every route in turn.")
	var ac apiConfig
	flag.IntVar(&ac.sessions, "sessions", 1000, "Sessions in the API benchmark's namespace.")
	flag.IntVar(&ac.baseline, "baseline-sessions", 50, "Sessions in the API benchmark's same-run baseline (its own namespace and portal).")
	flag.StringVar(&ac.profile, "api-profile", "", "Write CPU and allocation profiles of the API benchmark's load, per portal, to this directory.")
	flag.IntVar(&ac.perUser, "sessions-per-user", 5, "Sessions per user.")
	flag.IntVar(&ac.clients, "clients", 8, "Concurrent API clients.")
	flag.DurationVar(&ac.duration, "duration", 10*time.Second, "How long each caller's requests run.")
	cpuProfile := flag.String("cpuprofile", "", "Write a CPU profile of this process (the bench client and the in-process portal) to this file.")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	// errors only, on stderr: the portal's and the clients' (controller-
	// runtime complains when no logger is set, and request logs would drown
	// the figures)
	log = zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel))
	ctrl.SetLogger(log)
	which := strings.Split(*only, ",")
	if err := run(slices.Contains(which, "proxy"), slices.Contains(which, "api"), pc, ac); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(proxy, api bool, pc proxyConfig, ac apiConfig) error {
	if !proxy && !api {
		return fmt.Errorf("-run: nothing to run (proxy, api)")
	}
	ctx := context.Background()
	began := time.Now()
	fmt.Printf("Starting kube-apiserver + etcd … ")
	env, err := testenv.Start(false)
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	fmt.Println("ok")
	if proxy {
		if err := benchProxy(ctx, env, pc); err != nil {
			return fmt.Errorf("proxy: %w", err)
		}
		fmt.Println()
	}
	if api {
		if err := benchAPI(ctx, env, ac); err != nil {
			return fmt.Errorf("api: %w", err)
		}
		fmt.Println()
	}
	fmt.Printf("total run time: %v\n", time.Since(began).Round(time.Second))
	return nil
}
