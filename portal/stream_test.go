package portal_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/store"
)

// runningSession creates a session of user's in phase Running (as the
// controller would report it) with an old lastActivity.
func runningSession(t *testing.T, name, user string, lastActivity time.Time) *streamv1.Session {
	t.Helper()
	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: streamv1.SessionSpec{User: user, Template: "light"}}
	if err := env.Client.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	setStatus(t, s, streamv1.PhaseRunning, lastActivity)
	return s
}

func setStatus(t *testing.T, s *streamv1.Session, phase streamv1.SessionPhase, lastActivity time.Time) {
	t.Helper()
	patch := fmt.Sprintf(`{"status":{"phase":%q,"lastActivity":%q}}`, phase, lastActivity.UTC().Format(time.RFC3339))
	if err := env.Client.Status().Patch(context.Background(), s, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

func lastActivity(t *testing.T, name string) time.Time {
	t.Helper()
	s := &streamv1.Session{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return s.Status.LastActivity.Time
}

func dial(t *testing.T, name, token string) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/api/v1/sessions/"+name+"/connect",
		&websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{"binary"}})
}

// rfb reads and writes RFB through the proxied WebSocket.
type rfb struct {
	t    *testing.T
	c    *websocket.Conn
	ctx  context.Context
	buf  []byte
	read int
}

func (r *rfb) next(n int) []byte {
	r.t.Helper()
	for len(r.buf) < n {
		_, data, err := r.c.Read(r.ctx)
		if err != nil {
			r.t.Fatalf("read: %v", err)
		}
		r.buf = append(r.buf, data...)
		r.read += len(data)
	}
	out := r.buf[:n]
	r.buf = r.buf[n:]
	return out
}

func (r *rfb) send(b []byte) {
	r.t.Helper()
	if err := r.c.Write(r.ctx, websocket.MessageBinary, b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// vncHandshake does the RFB 3.8 handshake (security None, shared) through
// conn and checks a full framebuffer update comes back.
func vncHandshake(t *testing.T, ctx context.Context, conn *websocket.Conn) *rfb {
	t.Helper()
	r := &rfb{t: t, c: conn, ctx: ctx}

	// RFB 3.8 handshake, security None, shared ClientInit.
	if v := string(r.next(12)); v != "RFB 003.008\n" {
		t.Fatalf("server version %q", v)
	}
	r.send([]byte("RFB 003.008\n"))
	n := int(r.next(1)[0])
	types := r.next(n)
	if !strings.Contains(string(types), "\x01") {
		t.Fatalf("security types %v lack None", types)
	}
	r.send([]byte{1})
	if res := binary.BigEndian.Uint32(r.next(4)); res != 0 {
		t.Fatalf("security result %d", res)
	}
	r.send([]byte{1})
	w, h := binary.BigEndian.Uint16(r.next(2)), binary.BigEndian.Uint16(r.next(2))
	r.next(16) // pixel format
	nameLen := binary.BigEndian.Uint32(r.next(4))
	r.next(int(nameLen))
	if w != 640 || h != 480 {
		t.Errorf("framebuffer %dx%d", w, h)
	}
	// A full framebuffer update request: the picture flows back.
	r.send([]byte{3, 0, 0, 0, 0, 0, 0x02, 0x80, 0x01, 0xe0})
	if typ := r.next(1)[0]; typ != 0 {
		t.Fatalf("message type %d, want FramebufferUpdate", typ)
	}
	r.next(1)
	rects := binary.BigEndian.Uint16(r.next(2))
	if rects == 0 {
		t.Error("no rectangles")
	}
	return r
}

func TestStream_realVNCThroughTheProxy_inputIsActivity_idleIsNot(t *testing.T) {
	alice, _ := login(t, "alice")
	bob, _ := login(t, "bob")
	old := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	s := runningSession(t, "alice-vnc", "alice", old)

	// Nobody else reaches it, not even to the upstream.
	for _, tok := range []string{"", bob} {
		if _, resp, err := dial(t, s.Name, tok); err == nil || resp == nil || (resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusNotFound) {
			t.Errorf("token %q: err %v, status %v", tok, err, resp)
		}
	}

	// A plain request asks whether the stream is up: it is, and nothing is
	// dialed for it.
	if r := call(t, http.MethodGet, "/api/v1/sessions/"+s.Name+"/connect", alice, nil); r.Status != http.StatusNoContent {
		t.Errorf("plain GET of a streaming session: %d %v", r.Status, r.Body)
	}

	conn, _, err := dial(t, s.Name, alice)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(-1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := vncHandshake(t, ctx, conn)
	// From here on, drain the stream as a viewer does (a client that stops
	// reading stalls the server, and with it the input path).
	drained := make(chan int)
	go func() {
		total := r.read
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				drained <- total
				return
			}
			total += len(data)
		}
	}()

	waitActivity := func(after time.Time) time.Time {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if got := lastActivity(t, s.Name); got.After(after) {
				return got
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("lastActivity did not move past %v", after)
		return time.Time{}
	}

	// The handshake and a viewer's own traffic (asking for screen updates)
	// are not activity, nor is an open connection with nothing on it.
	for i := 0; i < 5; i++ {
		r.send([]byte{3, 1, 0, 0, 0, 0, 0x02, 0x80, 0x01, 0xe0}) // incremental FramebufferUpdateRequest
		time.Sleep(300 * time.Millisecond)
	}
	if got := lastActivity(t, s.Name); !got.Equal(old) {
		t.Errorf("a viewer without input moved lastActivity to %v", got)
	}
	// A key press is.
	r.send([]byte{4, 1, 0, 0, 0, 0, 0, 0x61}) // KeyEvent down a
	waitActivity(old)

	_ = conn.Close(websocket.StatusNormalClosure, "")
	if total := <-drained; total < 640*480 {
		t.Errorf("received %d bytes through the proxy, want at least a full 640x480 frame", total)
	}

	// The stream is in the audit log and the metrics.
	var connected, disconnected bool
	deadline := time.Now().Add(5 * time.Second)
	for !(connected && disconnected) && time.Now().Before(deadline) {
		events, _ := db.AuditLog(context.Background(), store.AuditFilter{Actor: "alice"})
		for _, e := range events {
			connected = connected || (e.Action == "session.connect" && e.Target == s.Name)
			disconnected = disconnected || (e.Action == "session.disconnect" && e.Target == s.Name && strings.Contains(e.Detail, "bytes out"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !connected || !disconnected {
		t.Errorf("audit: connect %t, disconnect %t", connected, disconnected)
	}
	if v := testutil.ToFloat64(streamMetrics.Bytes.WithLabelValues("to_browser")); v < 640*480 {
		t.Errorf("streamspace_portal_stream_bytes_total{direction=to_browser} = %v", v)
	}
	if v := testutil.ToFloat64(streamMetrics.Bytes.WithLabelValues("to_session")); v == 0 {
		t.Error("no bytes counted to the session")
	}
	for testutil.ToFloat64(streamMetrics.Open.WithLabelValues("vnc")) != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if v := testutil.ToFloat64(streamMetrics.Open.WithLabelValues("vnc")); v != 0 {
		t.Errorf("%v streams still counted open after the close", v)
	}
}

func TestStream_hibernatedSession_isWokenWithProgress(t *testing.T) {
	alice, _ := login(t, "alice")
	s := runningSession(t, "alice-asleep", "alice", time.Now())
	if err := env.Client.Patch(context.Background(), s, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"state":"hibernated"}}`))); err != nil {
		t.Fatal(err)
	}
	setStatus(t, s, streamv1.PhaseHibernated, time.Now())
	// A WebSocket client is not streamed to a hibernated session...
	_, resp, err := dial(t, s.Name, alice)
	if err == nil || resp == nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("hibernated: %v %v", err, resp)
	}
	// ...it is woken, and the answer says how far the start got.
	got := &streamv1.Session{}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(s), got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.State != streamv1.StateRunning {
		t.Errorf("connect did not wake the session: state %q", got.Spec.State)
	}
	// what the agent reports while the pod comes up reaches the viewer
	scheduled := metav1.NewTime(time.Now().Truncate(time.Second))
	got.Status.Phase = streamv1.PhasePending
	got.Status.LastStart = &streamv1.StartTimes{Kind: "Wake", RequestedAt: scheduled, ScheduledAt: &scheduled}
	if err := env.Client.Status().Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	r := call(t, http.MethodGet, "/api/v1/sessions/"+s.Name+"/connect", alice, nil)
	start, _ := r.Body["start"].(map[string]any)
	if r.Status != http.StatusAccepted || r.Body["state"] != "running" || start["step"] != "scheduled" || start["kind"] != "Wake" {
		t.Errorf("progress: %d %v", r.Status, r.Body)
	}
	// a terminated session says so
	if err := env.Client.Patch(context.Background(), s, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"state":"terminated"}}`))); err != nil {
		t.Fatal(err)
	}
	if r := call(t, http.MethodGet, "/api/v1/sessions/"+s.Name+"/connect", alice, nil); r.Status != http.StatusConflict || errorCode(r) != "not_running" {
		t.Errorf("terminated: %d %v", r.Status, r.Body)
	}
	wakes, _ := db.AuditLog(context.Background(), store.AuditFilter{Actor: "alice", Action: "session.wake"})
	found := false
	for _, e := range wakes {
		found = found || e.Target == s.Name
	}
	if !found {
		t.Errorf("no audit row for the wake on connect")
	}
}

// TestStream_viaPodIP: a portal outside the cluster's DNS (the local
// cluster) reaches the session pod by its IP.
func TestStream_viaPodIP(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(vnc.URL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	tpl := &streamv1.Template{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "on-loopback"}, Spec: streamv1.TemplateSpec{
		DisplayName: "Loopback", Category: "Utilities", BaseImage: "localhost/streamspace/light:1.0.0",
		Ports:  []streamv1.TemplatePort{{Name: "vnc-ws", ContainerPort: int32(port)}},
		Stream: streamv1.StreamSpec{Protocol: streamv1.StreamWebsockifyVNC, Port: int32(port)}}}
	if err := env.Client.Create(ctx, tpl); err != nil {
		t.Fatal(err)
	}
	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice-podip"}, Spec: streamv1.SessionSpec{User: "alice", Template: tpl.Name}}
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	pod := sessionPod(t, s, "127.0.0.1") // the session's own, as the agent makes it
	s.Status.Phase, s.Status.PodName = streamv1.PhaseRunning, pod.Name
	if err := env.Client.Status().Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	h := newHandlers()
	h.Stream.Upstream, h.Stream.WebUpstream, h.Stream.ViaPodIP = nil, nil, true
	own := httptest.NewServer(portal.NewRouter(h))
	defer own.Close()
	alice, _ := login(t, "alice")
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(cctx, "ws"+strings.TrimPrefix(own.URL, "http")+"/api/v1/sessions/"+s.Name+"/connect",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + alice}}})
	if err != nil {
		t.Fatalf("connect via pod IP: %v", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(-1)
	vncHandshake(t, cctx, conn)
}
