// Package wasmtest helps test WebAssembly plugins in the real sandbox: it
// compiles a Go plugin once per test process and lends the plugin a
// recording Host whose HTTP requests reach a local server whatever host
// they name (the sandbox decides which hosts may be called; the server
// sees which were).
package wasmtest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/streamspace/streamspace/plugins/wasm/wasmbuild"
)

var (
	buildMu sync.Mutex
	built   = map[string][]byte{}
	tmp     string
)

// Module compiles the Go plugin in dir (once per test process) and
// returns its module.
func Module(t testing.TB, dir string) []byte {
	t.Helper()
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if m, ok := built[dir]; ok {
		return m
	}
	if tmp == "" {
		// Not t.TempDir: the modules serve every test of the process.
		if tmp, err = os.MkdirTemp("", "wasmtest-"); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(tmp, filepath.Base(dir)+".wasm")
	if _, err := wasmbuild.Build(context.Background(), dir, out); err != nil {
		t.Fatal(err)
	}
	m, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	built[dir] = m
	return m
}

// Cleanup removes the modules built; call it from TestMain after m.Run.
func Cleanup() {
	if tmp != "" {
		_ = os.RemoveAll(tmp)
	}
}

// Host is a wasm.Host that records what a plugin asked of it.
type Host struct {
	mu          sync.Mutex
	Hibernated  []string
	Annotations []string // session/key=value
	// Err, when set, is what HibernateSession and AnnotateSession return.
	Err    error
	client *http.Client
}

// NewHost returns a Host whose HTTP client sends every request to srv,
// whatever its URL's host (the server sees it in r.Host); for an
// httptest TLS server, https works for any host name.
func NewHost(srv *httptest.Server) *Host {
	addr := srv.Listener.Addr().String()
	transport := srv.Client().Transport.(*http.Transport).Clone()
	transport.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	if transport.TLSClientConfig != nil {
		// httptest's certificate names example.com: verify against it
		// whatever host the request names.
		transport.TLSClientConfig.ServerName = "example.com"
	}
	return &Host{client: &http.Client{Transport: transport}}
}

func (h *Host) HibernateSession(_ context.Context, session string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.Err != nil {
		return h.Err
	}
	h.Hibernated = append(h.Hibernated, session)
	return nil
}

func (h *Host) AnnotateSession(_ context.Context, session, key, value string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.Err != nil {
		return h.Err
	}
	h.Annotations = append(h.Annotations, session+"/"+key+"="+value)
	return nil
}

func (h *Host) HTTPClient() *http.Client { return h.client }

// Calls returns a copy of what was recorded.
func (h *Host) Calls() (hibernated, annotations []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.Hibernated...), append([]string(nil), h.Annotations...)
}
