package stream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// countingListener counts the connections a server accepted.
type countingListener struct {
	net.Listener
	accepted atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// startCounting serves h on loopback and counts what it accepts.
func startCounting(t *testing.T, h http.Handler) (*httptest.Server, *countingListener) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	l := &countingListener{Listener: srv.Listener}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, l
}

func TestDialSession_redirectToAnotherSession_refused_otherSeesNoConnection(t *testing.T) {
	// the other user's session: a desktop that would accept anyone
	other, otherConns := startCounting(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err == nil {
			_ = c.Write(r.Context(), websocket.MessageBinary, []byte("RFB 003.008\n"))
			c.CloseNow()
		}
	}))
	otherURL := "ws" + strings.TrimPrefix(other.URL, "http") + "/"
	// a hostile session that sends its viewer there
	hostile, hostileConns := startCounting(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherURL, http.StatusTemporaryRedirect)
	}))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := dialSession(ctx, (&Proxy{}).httpClient(), "ws"+strings.TrimPrefix(hostile.URL, "http")+"/", []string{"binary"})
	var redirect *RedirectError
	if !errors.As(err, &redirect) {
		if conn != nil {
			conn.CloseNow()
		}
		t.Fatalf("dial of a redirecting session: %v, want a RedirectError", err)
	}
	if redirect.Status != http.StatusTemporaryRedirect || redirect.Location != otherURL {
		t.Errorf("redirect %d to %q", redirect.Status, redirect.Location)
	}
	if n := hostileConns.accepted.Load(); n != 1 {
		t.Errorf("the hostile session saw %d connections, want 1", n)
	}
	if n := otherConns.accepted.Load(); n != 0 {
		t.Errorf("the other session saw %d connections, want none", n)
	}

	// the control: the same dial straight to it does connect, so the count
	// above could have moved
	conn, err = dialSession(ctx, (&Proxy{}).httpClient(), otherURL, nil)
	if err != nil {
		t.Fatalf("direct dial: %v", err)
	}
	conn.CloseNow()
	if n := otherConns.accepted.Load(); n != 1 {
		t.Errorf("a direct dial made %d connections, want 1", n)
	}
}
