package portal_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal"
)

func TestStream_sessionRedirectsToAnotherSession_refused502_otherSeesNoConnection(t *testing.T) {
	alice, _ := login(t, "alice")
	s := runningSession(t, "alice-redirecting", "alice", time.Now())

	// another user's desktop, counting every connection it is offered
	var offered atomic.Int32
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := websocket.Accept(w, r, nil); err == nil {
			c.CloseNow()
		}
	}))
	other.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			offered.Add(1)
		}
	}
	other.Start()
	defer other.Close()
	otherURL := "ws" + strings.TrimPrefix(other.URL, "http") + "/"
	// alice's session answers its stream with a redirect there
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherURL, http.StatusTemporaryRedirect)
	}))
	defer hostile.Close()
	h := newHandlers()
	h.Stream.Upstream = func(*streamv1.Session, *streamv1.Template) string {
		return "ws" + strings.TrimPrefix(hostile.URL, "http") + "/"
	}
	portalSrv := httptest.NewServer(portal.NewRouter(h))
	defer portalSrv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	header := http.Header{"Authorization": {"Bearer " + alice}}
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(portalSrv.URL, "http")+"/api/v1/sessions/"+s.Name+"/connect",
		&websocket.DialOptions{HTTPHeader: header, Subprotocols: []string{"binary"}})
	if err == nil {
		conn.CloseNow()
		t.Fatal("the portal streamed a session that redirected elsewhere")
	}
	if resp == nil || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("dial: %v, response %v, want 502", err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `"upstream_redirect"`) || !strings.Contains(string(body), "does not follow") {
		t.Errorf("body %s, want the upstream_redirect code saying why", body)
	}
	if n := offered.Load(); n != 0 {
		t.Errorf("the other session was offered %d connections, want none", n)
	}
	if v := testutil.ToFloat64(h.Stream.Metrics.Connects.WithLabelValues("upstream_redirect")); v != 1 {
		t.Errorf("connects{outcome=upstream_redirect} = %v", v)
	}

	// the control: the counter does move for a connection that is made
	if c, _, err := websocket.Dial(ctx, otherURL, nil); err == nil {
		c.CloseNow()
	}
	if n := offered.Load(); n != 1 {
		t.Errorf("a direct dial was counted %d times, want 1", n)
	}
}
