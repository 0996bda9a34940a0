// Package faults injects faults into the real components and checks what
// survives: the Git server stopping mid-sync, PostgreSQL restarting under
// the portal, the portal restarting under a stream. Each test prints its
// counts (faults injected, requests or objects checked, objects lost).
package faults

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/test/freeport"
	"github.com/streamspace/streamspace/test/syncbuf"
	"github.com/streamspace/streamspace/test/testenv"
)

// env is the real API server (kube-apiserver + etcd) every test shares,
// each in its own namespace.
var env *testenv.Env

func TestMain(m *testing.M) {
	// The agent's and the portal's logs: only errors, on stderr (each
	// portal run also writes its own to a buffer the test prints on failure).
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel), zap.StacktraceLevel(zapcore.PanicLevel)))
	var err error
	if env, err = testenv.Start(false); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// portalProc is one run of the portal as its binary runs it (portal.Run).
type portalProc struct {
	base string
	stop context.CancelFunc
	done chan struct{}
	err  error
	out  *syncbuf.Buffer
}

// startPortal runs the portal on addr ("" for a free port) and waits until
// /readyz answers 200.
func startPortal(t *testing.T, addr string, cfg portal.Config) *portalProc {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:" + strconv.Itoa(freeport.For(t))
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &portalProc{base: "http://" + addr, stop: cancel, done: make(chan struct{}), out: &syncbuf.Buffer{}}
	cfg.Addr, cfg.Out, cfg.Log = addr, p.out, zap.New(zap.WriteTo(p.out))
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = 2 * time.Second
	}
	go func() {
		defer close(p.done)
		p.err = portal.Run(ctx, cfg, env.Config)
	}()
	t.Cleanup(p.halt)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(p.base + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("portal stopped: %v\n%s", p.err, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("portal not ready after a minute:\n%s", p.out.String())
		}
	}
}

// halt stops the portal and waits until Run returned.
func (p *portalProc) halt() {
	p.stop()
	<-p.done
}
