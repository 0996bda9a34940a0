// Package stream is the authenticated stream proxy: the browser's WebSocket
// to a session's VNC-over-WebSocket port passes through here, after the
// caller was authenticated and found to own the session, and never
// otherwise. Frames are forwarded as they come (nothing is buffered whole);
// only frames from the user count as activity.
package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/gin-gonic/gin"
	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal/api"
	"github.com/streamspace/streamspace/portal/audit"
	"github.com/streamspace/streamspace/portal/auth"
)

// FieldManager writes status.lastActivity.
const FieldManager = "streamspace-portal"

// Proxy serves WS /api/v1/sessions/{id}/connect and the per-session path
// of a template's own web client.
type Proxy struct {
	Client    client.Client
	Namespace string
	// Upstream returns the WebSocket URL of a session's stream; by default
	// the session's own Service or pod, checked (sessionAddr). Set only by
	// tests and benchmarks, which bypass that check.
	Upstream func(s *streamv1.Session, t *streamv1.Template) string
	// WebUpstream returns the base URL of a session's web client (http://
	// host:port); by default as Upstream.
	WebUpstream func(s *streamv1.Session, t *streamv1.Template) string
	// Dial opens every connection to a session (net.Dialer by default); a
	// test sees through it what the portal dials.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// ViaPodIP makes the default upstreams the session pod's IP instead of
	// its Service's DNS name: for a portal outside the cluster network's
	// DNS (the local cluster, where the host reaches pod IPs on the bridge
	// but has neither cluster DNS nor kube-proxy).
	ViaPodIP bool
	// ActivityEvery is the least time between two lastActivity writes for
	// one session (30 s).
	ActivityEvery time.Duration
	// MaxClipboard bounds one clipboard transfer through a stream, either
	// way (DefaultMaxClipboard when 0).
	MaxClipboard int64
	// NotRunning answers a connection to a session that is not Running
	// (it wakes a hibernated one and reports progress); by default a 409.
	NotRunning func(c *gin.Context, s *streamv1.Session)
	// Audit records who connected to what.
	Audit   *audit.Log
	Metrics *Metrics
	Log     logr.Logger

	clientOnce   sync.Once
	client       *http.Client // httpClient's
	streamClient *http.Client // httpClient's, for streams

	mu       sync.Mutex
	lastSent map[string]time.Time
	streams  map[*stream]struct{}
	draining bool
	drained  chan struct{} // closed when draining and no stream is left
	accounts accountStreams
}

// stream is one open browser↔session connection.
type stream struct {
	down, up *websocket.Conn
}

// goAway closes both sides with "going away": viewers reconnect.
func (st *stream) goAway() {
	_ = st.down.Close(websocket.StatusGoingAway, "the portal is restarting")
	_ = st.up.Close(websocket.StatusGoingAway, "the portal is restarting")
}

// Connect authorizes, then joins the browser and the session's VNC stream.
func (p *Proxy) Connect(c *gin.Context) {
	s, t, err := p.authorize(c)
	if err != nil || s == nil {
		p.refuse(c, err)
		return
	}
	if !isWebSocket(c.Request) {
		// a plain request is the viewer asking whether the stream is up:
		// it is (204), without dialing the session
		c.Status(http.StatusNoContent)
		return
	}
	upstream, err := p.upstream(c, s, t)
	if err != nil {
		p.refuse(c, err)
		return
	}
	p.join(c, s, t, upstream, "vnc")
}

// refuse ends a request the proxy does not stream with err, rendered like
// any handler's error, and counts the connect by its outcome. A nil err:
// NotRunning has answered already.
func (p *Proxy) refuse(c *gin.Context, err error) {
	var e *api.Error
	switch {
	case err == nil:
		p.Metrics.connect("waking")
		return
	case !errors.As(err, &e):
		// internal: RenderErrors logs the cause; no outcome is counted
	case e.Code == api.CodeUpstream, e.Code == api.CodeUpstreamRedirect, e.Code == api.CodeUpstreamNotSession:
		p.Metrics.connect(e.Code) // the outcome is named as the code
	case e.Code == api.CodeNotRunning:
		p.Metrics.connect("waking")
	default:
		p.Metrics.connect("refused")
	}
	if e != nil && e.Code == api.CodeShuttingDown {
		c.Header("Retry-After", "5")
	}
	api.Fail(c, err)
}

func upstreamUnavailable(msg string) error {
	return api.Errorf(http.StatusBadGateway, api.CodeUpstream, msg)
}

// authorize loads the session of the request, with its template, if the
// caller may use it and it is streaming. Otherwise it returns why not, or
// no error when NotRunning has answered. Nothing reaches the session before
// this passed.
func (p *Proxy) authorize(c *gin.Context) (*streamv1.Session, *streamv1.Template, error) {
	caller := auth.Principal(c)
	s := &streamv1.Session{}
	err := p.Client.Get(c, client.ObjectKey{Namespace: p.Namespace, Name: c.Param("id")}, s)
	if apierrors.IsNotFound(err) || (err == nil && !caller.MayUse(s.Spec.User)) {
		return nil, nil, api.Errorf(http.StatusNotFound, api.CodeNotFound, fmt.Sprintf("no session %q", c.Param("id")))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read session %s: %w", c.Param("id"), err)
	}
	if p.isDraining() {
		return nil, nil, api.Errorf(http.StatusServiceUnavailable, api.CodeShuttingDown, "the portal is restarting; connect again in a few seconds")
	}
	if s.Status.Phase != streamv1.PhaseRunning || s.DesiredState() != streamv1.StateRunning {
		if p.NotRunning == nil {
			return nil, nil, api.Errorf(http.StatusConflict, api.CodeNotRunning,
				fmt.Sprintf("session %s is %s, not Running: wake it first (POST /api/v1/sessions/%s/wake)", s.Name, orPending(s.Status.Phase), s.Name))
		}
		p.NotRunning(c, s)
		return nil, nil, nil
	}
	t := &streamv1.Template{}
	if err := p.Client.Get(c, client.ObjectKey{Namespace: p.Namespace, Name: s.Spec.Template}, t); err != nil {
		return nil, nil, fmt.Errorf("read template %s of session %s: %w", s.Spec.Template, s.Name, err)
	}
	return s, t, nil
}

// join dials the session's WebSocket at upstreamURL, accepts the browser's
// and forwards both ways, through the filters of the template's protocol,
// until either side closes or the portal drains.
func (p *Proxy) join(c *gin.Context, s *streamv1.Session, t *streamv1.Template, upstreamURL, kind string) {
	ctx := c.Request.Context()
	up, err := dialSession(ctx, p.streamHTTPClient(), upstreamURL, subprotocols(c.Request))
	var redirect *RedirectError
	if errors.As(err, &redirect) {
		p.refuse(c, api.Errorf(http.StatusBadGateway, api.CodeUpstreamRedirect, redirect.Error()))
		return
	}
	if err != nil {
		p.refuse(c, upstreamUnavailable("the session's stream does not answer yet"))
		return
	}
	defer up.CloseNow()
	up.SetReadLimit(-1) // framebuffer updates are large; they are forwarded, not held
	down, err := websocket.Accept(c.Writer, c.Request, &websocket.AcceptOptions{Subprotocols: []string{up.Subprotocol()}})
	if err != nil {
		return // Accept wrote the HTTP error
	}
	defer down.CloseNow()
	down.SetReadLimit(-1) // streamed too: the filters bound what is held

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := &stream{down: down, up: up}
	if !p.track(st) {
		_ = down.Close(websocket.StatusGoingAway, "the portal is restarting")
		return
	}
	defer p.untrack(st)
	p.Metrics.connect("streamed")
	p.Metrics.open(kind, 1)
	defer p.Metrics.open(kind, -1)
	user := auth.Principal(c).Subject
	defer p.follow(st, user, s.Spec.User)()
	api.RecordAudit(c, p.Audit, user, audit.SessionConnect, s.Name, kind)
	began := time.Now()

	var toSession, toBrowser atomic.Int64
	counter := func(total *atomic.Int64, direction string) func(int64) {
		bytes := p.Metrics.bytesOf(direction) // looked up once: a stream counts every message
		return func(n int64) {
			total.Add(n)
			bytes(n)
		}
	}
	toSessionFilter, toBrowserFilter := filtersFor(t, PolicyOf(t, p.MaxClipboard), &refusals{count: p.Metrics.refused,
		report: func(r Refusal) {
			api.RecordAudit(c, p.Audit, user, audit.SessionPolicyRefusal, s.Name, fmt.Sprintf("%s: %s refused by the template's data policy", kind, r))
		}})
	errc := make(chan error, 2)
	// browser → session: the user's input, which is what counts as activity
	go func() {
		errc <- pump(ctx, up, down, counter(&toSession, "to_session"), toSessionFilter, func() { p.activity(context.WithoutCancel(ctx), s) })
	}()
	// session → browser: the picture, which does not
	go func() { errc <- pump(ctx, down, up, counter(&toBrowser, "to_browser"), toBrowserFilter, nil) }()
	err = <-errc
	cancel()
	status, reason, filtered := closeOf(err) // a limit or protocol the filters enforced: say which
	if !filtered {
		status = websocket.CloseStatus(err)
	}
	if status == -1 {
		status = websocket.StatusGoingAway
	}
	_ = down.Close(status, reason)
	_ = up.Close(status, reason)
	api.RecordAudit(c, p.Audit, user, audit.SessionDisconnect, s.Name, fmt.Sprintf("%s %s, %d bytes in, %d bytes out, close %d",
		kind, time.Since(began).Round(time.Second), toSession.Load(), toBrowser.Load(), status))
}

// track registers an open stream; false when the portal is draining.
func (p *Proxy) track(st *stream) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.draining {
		return false
	}
	if p.streams == nil {
		p.streams = map[*stream]struct{}{}
	}
	p.streams[st] = struct{}{}
	return true
}

func (p *Proxy) untrack(st *stream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.streams, st)
	if p.draining && len(p.streams) == 0 && p.drained != nil {
		close(p.drained)
		p.drained = nil
	}
}

func (p *Proxy) isDraining() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.draining
}

// Shutdown refuses new streams and lets open ones finish until ctx ends;
// then it closes what is left with "going away", which viewers answer by
// reconnecting (to another portal replica, or this one restarted).
// http.Server.Shutdown does not wait for streams: their connections were
// taken over from it.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.draining = true
	if len(p.streams) == 0 {
		p.mu.Unlock()
		return nil
	}
	drained := make(chan struct{})
	p.drained = drained
	p.mu.Unlock()
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	open := make([]*stream, 0, len(p.streams))
	for st := range p.streams {
		open = append(open, st)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, st := range open {
		wg.Add(1)
		go func() { defer wg.Done(); st.goAway() }()
	}
	wg.Wait()
	return fmt.Errorf("closed %d streams still open after the grace period", len(open))
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

func (p *Proxy) upstream(ctx context.Context, s *streamv1.Session, t *streamv1.Template) (string, error) {
	if p.Upstream != nil {
		return p.Upstream(s, t), nil
	}
	addr, err := p.sessionAddr(ctx, s, t)
	if err != nil {
		return "", err
	}
	path := t.Spec.Stream.Path
	if path == "" {
		path = "/"
	}
	return "ws://" + addr + path, nil
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
