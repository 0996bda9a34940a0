// Package stream is the authenticated stream proxy: the browser's WebSocket
// to a session's VNC-over-WebSocket port passes through here, after the
// caller was authenticated and found to own the session, and never
// otherwise. Frames are forwarded as they come (nothing is buffered whole);
// only frames from the user count as activity.
package stream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/gin-gonic/gin"
	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal/auth"
)

// FieldManager writes status.lastActivity.
const FieldManager = "streamspace-portal"

// Proxy serves WS /api/v1/sessions/{id}/connect.
type Proxy struct {
	Client    client.Client
	Namespace string
	// Upstream returns the WebSocket URL of a session's stream; by default
	// its Service in the cluster.
	Upstream func(s *streamv1.Session, t *streamv1.Template) string
	// ActivityEvery is the least time between two lastActivity writes for
	// one session (30 s).
	ActivityEvery time.Duration
	// Fail renders an API error (the portal's error shape).
	Fail func(c *gin.Context, status int, code, msg string)
	Log  logr.Logger

	mu       sync.Mutex
	lastSent map[string]time.Time
}

// DefaultUpstream is the session Service's stream port and path.
func DefaultUpstream(s *streamv1.Session, t *streamv1.Template) string {
	path := t.Spec.Stream.Path
	if path == "" {
		path = "/"
	}
	return fmt.Sprintf("ws://ss-%s.%s.svc:%d%s", s.Name, s.Namespace, t.Spec.Stream.Port, path)
}

// Connect authorizes, then joins the browser and the session.
func (p *Proxy) Connect(c *gin.Context) {
	caller := auth.Principal(c)
	s := &streamv1.Session{}
	err := p.Client.Get(c, client.ObjectKey{Namespace: p.Namespace, Name: c.Param("id")}, s)
	if apierrors.IsNotFound(err) || (err == nil && !caller.IsAdmin() && s.Spec.User != caller.Subject) {
		p.Fail(c, http.StatusNotFound, "not_found", fmt.Sprintf("no session %q", c.Param("id")))
		return
	}
	if err != nil {
		p.Fail(c, http.StatusInternalServerError, "internal", "read session")
		return
	}
	if s.Status.Phase != streamv1.PhaseRunning {
		p.Fail(c, http.StatusConflict, "not_running", fmt.Sprintf("session %s is %s, not Running: wake it first (POST /api/v1/sessions/%s/wake)", s.Name, orPending(s.Status.Phase), s.Name))
		return
	}
	t := &streamv1.Template{}
	if err := p.Client.Get(c, client.ObjectKey{Namespace: p.Namespace, Name: s.Spec.Template}, t); err != nil {
		p.Fail(c, http.StatusInternalServerError, "internal", "read template")
		return
	}
	upstreamURL := p.upstream(s, t)

	ctx := c.Request.Context()
	up, _, err := websocket.Dial(ctx, upstreamURL, &websocket.DialOptions{Subprotocols: subprotocols(c.Request)})
	if err != nil {
		p.Fail(c, http.StatusBadGateway, "upstream_unavailable", "the session's stream does not answer yet")
		return
	}
	defer up.CloseNow()
	up.SetReadLimit(-1) // framebuffer updates are large; they are forwarded, not held
	down, err := websocket.Accept(c.Writer, c.Request, &websocket.AcceptOptions{Subprotocols: []string{up.Subprotocol()}})
	if err != nil {
		return // Accept wrote the HTTP error
	}
	defer down.CloseNow()
	down.SetReadLimit(1 << 20)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	// browser → session: the user's input, which is what counts as activity
	// (for VNC over WebSocket, only key, pointer and clipboard messages; a
	// template's own web client speaks its own protocol, so every frame)
	var isInput func([]byte) bool
	if t.Spec.Stream.Protocol == streamv1.StreamWebsockifyVNC {
		isInput = (&rfbInput{}).Write
	}
	go func() {
		errc <- pump(ctx, up, down, func(frame []byte) {
			if isInput == nil || isInput(frame) {
				p.activity(context.WithoutCancel(ctx), s)
			}
		})
	}()
	// session → browser: the picture, which does not
	go func() { errc <- pump(ctx, down, up, nil) }()
	err = <-errc
	cancel()
	status := websocket.CloseStatus(err)
	if status == -1 {
		status = websocket.StatusGoingAway
	}
	_ = down.Close(status, "")
	_ = up.Close(status, "")
}

// pump copies messages from src to dst as they stream (a large frame is
// never held whole). With onMessage, messages are small user input and are
// read whole so onMessage can look at them.
func pump(ctx context.Context, dst, src *websocket.Conn, onMessage func([]byte)) error {
	for {
		if onMessage != nil {
			typ, data, err := src.Read(ctx)
			if err != nil {
				return err
			}
			if err := dst.Write(ctx, typ, data); err != nil {
				return err
			}
			onMessage(data)
			continue
		}
		typ, r, err := src.Reader(ctx)
		if err != nil {
			return err
		}
		w, err := dst.Writer(ctx, typ)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, r); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
}

// activity writes status.lastActivity, at most every ActivityEvery per
// session, under the portal's field manager.
func (p *Proxy) activity(ctx context.Context, s *streamv1.Session) {
	every := p.ActivityEvery
	if every == 0 {
		every = 30 * time.Second
	}
	now := time.Now()
	p.mu.Lock()
	if p.lastSent == nil {
		p.lastSent = map[string]time.Time{}
	}
	if len(p.lastSent) > 1000 { // forget sessions not written to lately
		for name, at := range p.lastSent {
			if now.Sub(at) >= every {
				delete(p.lastSent, name)
			}
		}
	}
	if now.Sub(p.lastSent[s.Name]) < every {
		p.mu.Unlock()
		return
	}
	p.lastSent[s.Name] = now
	p.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		patch := fmt.Sprintf(`{"status":{"lastActivity":%q}}`, metav1.NewTime(now).UTC().Format(time.RFC3339))
		if err := p.Client.Status().Patch(ctx, &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name}},
			client.RawPatch("application/merge-patch+json", []byte(patch)), client.FieldOwner(FieldManager)); err != nil {
			p.Log.Error(err, "Record activity", "session", s.Name)
		}
	}()
}

func (p *Proxy) upstream(s *streamv1.Session, t *streamv1.Template) string {
	if p.Upstream != nil {
		return p.Upstream(s, t)
	}
	return DefaultUpstream(s, t)
}

func subprotocols(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func orPending(p streamv1.SessionPhase) string {
	if p == "" {
		return "Pending"
	}
	return string(p)
}
