package stream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal/api"
	"github.com/streamspace/streamspace/portal/audit"
	"github.com/streamspace/streamspace/portal/auth"
)

// AppsCookie names an apps host's credential (Apps.CookieName); like the
// portal's cookies, the session neither sees it nor may set it.
const AppsCookie = "streamspace-app"

// Web serves a template's own web client (KasmVNC, Selkies…) under
// /api/v1/sessions/{id}/web/, on the portal's own origin: only with
// --path-web-clients (Apps serves it on the session's own host).
func (p *Proxy) Web(c *gin.Context) {
	p.webClient(c, c.Param("path"), "/api/v1/sessions/"+c.Param("id")+"/web")
}

// webClient serves the web client of the request's session at path rest
// (under prefix on this host): plain HTTP through a reverse proxy, and its
// WebSocket through the same stream join as Connect, read by the filters of
// the template's protocol (filtersFor): only real input counts as activity.
func (p *Proxy) webClient(c *gin.Context, rest, prefix string) {
	s, t, err := p.authorize(c)
	if err != nil || s == nil {
		p.refuse(c, err)
		return
	}
	base, err := p.webUpstream(c, s, t)
	if err != nil {
		p.refuse(c, err)
		return
	}
	target, err := url.Parse(base)
	if err != nil {
		p.refuse(c, fmt.Errorf("web client URL of session %s: %w", s.Name, err))
		return
	}
	if rest == "" {
		rest = "/"
	}
	if t.Spec.Stream.Protocol == streamv1.StreamSelkies { // its file manager is plain HTTP beside the stream
		if r, refused := SelkiesHTTPRefusal(PolicyOf(t, p.MaxClipboard), rest); refused {
			p.Metrics.refused(r)
			api.RecordAudit(c, p.Audit, auth.Principal(c).Subject, audit.SessionPolicyRefusal, s.Name, fmt.Sprintf("web: %s refused by the template's data policy", r))
			p.refuse(c, api.Errorf(http.StatusForbidden, api.CodeForbidden, fmt.Sprintf("%s is refused by the data policy of template %s", r, t.Name)))
			return
		}
	}
	if isWebSocket(c.Request) {
		u := *target
		u.Scheme = map[string]string{"https": "wss"}[target.Scheme]
		if u.Scheme == "" {
			u.Scheme = "ws"
		}
		u.Path, u.RawQuery = rest, c.Request.URL.RawQuery
		p.join(c, s, t, u.String(), "web")
		return
	}
	proxy := &httputil.ReverseProxy{
		Transport: p.httpClient().Transport,
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.URL.Path, r.Out.URL.RawPath = rest, ""
			r.Out.Header.Del("Authorization")
			r.Out.Header.Del("X-CSRF-Token")
			stripPortalCookies(r.Out)
			r.SetXForwarded()
			if prefix != "" {
				r.Out.Header.Set("X-Forwarded-Prefix", prefix)
			}
		},
		ModifyResponse: func(res *http.Response) error {
			keepAppCookies(res.Header)
			// a session may neither widen a service worker's scope nor
			// wipe the storage of the origin it is served on
			res.Header.Del("Service-Worker-Allowed")
			res.Header.Del("Clear-Site-Data")
			res.Body = &countingBody{ReadCloser: res.Body, count: func(n int64) { p.Metrics.bytes("to_browser", n) }}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.Log.V(1).Info("Web client upstream failed", "session", s.Name, "error", err.Error())
			p.refuse(c, upstreamUnavailable("the session's web client does not answer yet"))
		},
	}
	proxy.ServeHTTP(c.Writer, c.Request)
}

func (p *Proxy) webUpstream(ctx context.Context, s *streamv1.Session, t *streamv1.Template) (string, error) {
	if p.WebUpstream != nil {
		return p.WebUpstream(s, t), nil
	}
	addr, err := p.sessionAddr(ctx, s, t)
	if err != nil {
		return "", err
	}
	return "http://" + addr, nil
}

func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// ours tells the portal's and the apps host's cookies from the app's own.
// The session's web client never sees them (its app could otherwise read
// the user's tokens) and may not set them (nor sign the user out, nor in as
// someone else).
func ours(name string) bool {
	return auth.IsPortalCookie(name) || name == AppsCookie || name == "__Host-"+AppsCookie
}

// stripPortalCookies removes the portal's cookies (and the apps host's
// credential) from a request to the session.
func stripPortalCookies(r *http.Request) {
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	for _, ck := range cookies {
		if !ours(ck.Name) {
			r.AddCookie(ck)
		}
	}
}

// keepAppCookies drops any Set-Cookie of the session that would overwrite
// one of the portal's or the apps host's credential.
func keepAppCookies(h http.Header) {
	var keep []string
	for _, line := range h.Values("Set-Cookie") {
		if ck, err := http.ParseSetCookie(line); err == nil && !ours(ck.Name) {
			keep = append(keep, line)
		}
	}
	h.Del("Set-Cookie")
	for _, line := range keep {
		h.Add("Set-Cookie", line)
	}
}

type countingBody struct {
	io.ReadCloser
	count func(int64)
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.count(int64(n))
	return n, err
}
