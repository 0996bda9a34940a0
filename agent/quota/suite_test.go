package quota_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/streamspace/streamspace/agent/manager"
	"github.com/streamspace/streamspace/agent/quota"
	"github.com/streamspace/streamspace/test/freeport"
	"github.com/streamspace/streamspace/test/testenv"
)

var env *testenv.Env

// TestMain starts a real API server and only the admission webhook: these
// tests are about what the API server admits, with no controller involved.
// The webhook is served as in a real install, by two agent replicas (two
// managers, each with its own cache) behind one address that sends each
// connection to the next replica in turn, as a Service would.
func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start(true)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wh := env.WebhookInstallOptions
	ctx, cancel := context.WithCancel(context.Background())
	var replicas []string
	var done []chan error
	for range 2 {
		port, err := freeport.Loopback()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
			Scheme:  manager.Scheme(),
			Metrics: metricsserver.Options{BindAddress: "0"},
			WebhookServer: webhook.NewServer(webhook.Options{
				Host: wh.LocalServingHost, Port: port, CertDir: wh.LocalServingCertDir,
				// HTTP/1.1: concurrent admissions then take connections of
				// their own, which the balancer spreads over both replicas
				// (HTTP/2 would carry them all on one).
				TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
			}),
		})
		if err == nil {
			err = (&quota.SessionValidator{}).SetupWebhookWithManager(mgr)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		d := make(chan error)
		go func() { d <- mgr.Start(ctx) }()
		done = append(done, d)
		replicas = append(replicas, net.JoinHostPort(wh.LocalServingHost, strconv.Itoa(port)))
	}
	lb, err := roundRobin(net.JoinHostPort(wh.LocalServingHost, strconv.Itoa(wh.LocalServingPort)), replicas)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, addr := range replicas {
		for i := 0; i < 200; i++ {
			c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // local test server
			if err == nil {
				_ = c.Close()
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	code := m.Run()
	cancel()
	_ = lb.Close()
	for _, d := range done {
		<-d
	}
	_ = env.Stop()
	os.Exit(code)
}

// connections counts the connections the balancer gave each replica.
var connections [2]atomic.Int64

// roundRobin listens on addr and pipes each connection to the next of
// backends.
func roundRobin(addr string, backends []string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	go func() {
		for i := 0; ; i++ {
			in, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", backends[i%len(backends)])
				if err != nil {
					return
				}
				connections[i%len(backends)].Add(1)
				defer out.Close()
				go func() { _, _ = io.Copy(out, in); _ = out.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
	return l, nil
}
