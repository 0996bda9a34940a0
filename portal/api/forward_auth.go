package api

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agentsessions "github.com/streamspace/streamspace/agent/sessions"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal/auth"
)

// ForwardAuthAPI answers GET /api/v1/auth/forward, which an Ingress
// controller (Traefik ForwardAuth, nginx auth_request) asks before every
// request to a session's own host: 200 for the session's owner or an
// admin, 401 for the anonymous, 403 for anyone else, and the same 403 for
// a host that is no session's, so that names do not leak.
//
// Denials are counted, not audited: the controller asks once per request
// of a page, so an audit row per refusal would let anyone fill the log.
// The stream's own connect/disconnect records stay the audit of use.
type ForwardAuthAPI struct {
	Client    client.Reader
	Namespace string
	// HostPattern is the agent's --ingress-host; empty refuses every host.
	HostPattern string
	// Apps, when the portal has an apps domain, lets a browser use a
	// session's Ingress host with that host's apps cookie (the hosts are
	// the same when --ingress-host is {session}.<apps domain>).
	Apps     AppsCredentials
	outcomes *prometheus.CounterVec
}

// AppsCredentials checks an apps host's cookie (stream.Apps).
type AppsCredentials interface {
	CookieName() string
	// Credential returns who the cookie value raw names, as they are
	// now, if it was issued for session's host; an error otherwise.
	Credential(c *gin.Context, raw, session string) (*auth.Claims, error)
}

// Forward-auth outcomes, the values of the metric's outcome label.
const (
	forwardAllowed         = "allowed"
	forwardUnauthenticated = "unauthenticated"
	forwardForbidden       = "forbidden"    // another user's session
	forwardUnknownHost     = "unknown_host" // no session has that host
	forwardNoHost          = "no_host"      // the proxy named no host, or two
	forwardError           = "error"
	forwardOutcomeKey      = "forwardAuthOutcome"
)

// NewForwardAuthAPI registers the forward-auth metric on reg.
func NewForwardAuthAPI(reg prometheus.Registerer, c client.Reader, namespace, hostPattern string) (*ForwardAuthAPI, error) {
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "streamspace_portal_forward_auth_total",
		Help: "Forward-auth answers to Ingress controllers, by outcome (allowed, unauthenticated, forbidden, unknown_host, no_host, error).",
	}, []string{"outcome"})
	if err := reg.Register(outcomes); err != nil {
		return nil, err
	}
	return &ForwardAuthAPI{Client: c, Namespace: namespace, HostPattern: hostPattern, outcomes: outcomes}, nil
}

// Count records the outcome of each forward-auth request, refusals by
// the authentication in front of Check included.
func (a *ForwardAuthAPI) Count(c *gin.Context) {
	c.Next()
	if a == nil {
		return
	}
	outcome := c.GetString(forwardOutcomeKey)
	if outcome == "" {
		// refused by auth.Authenticate: its error is rendered later,
		// by RenderErrors, so the status is not written yet
		outcome = forwardError
		var e *Error
		if last := c.Errors.Last(); last != nil && errors.As(last.Err, &e) && e.Status == http.StatusUnauthorized {
			outcome = forwardUnauthenticated
		}
	}
	a.outcomes.WithLabelValues(outcome).Inc()
}

// Authenticate admits the caller by the portal's own credential (portal,
// auth.Authenticate: its cookie or a Bearer token) or, when the request
// carries neither and an apps domain is configured, by the apps cookie of
// the very session whose host was asked for: the cookie of session A never
// opens session B's host, and every way it fails answers alike.
func (a *ForwardAuthAPI) Authenticate(portal gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		if a == nil || a.Apps == nil || c.GetHeader("Authorization") != "" || hasAccessCookie(c.Request) {
			portal(c)
			return
		}
		ck, err := c.Request.Cookie(a.Apps.CookieName())
		if err != nil {
			portal(c) // no credential at all: its refusal
			return
		}
		refused := Errorf(http.StatusUnauthorized, CodeUnauthenticated, "the apps credential is invalid, expired or not for this host: open the session from the portal")
		host, ok := originalHost(c.Request.Header)
		if !ok {
			c.Set(forwardOutcomeKey, forwardNoHost)
			Fail(c, refused)
			return
		}
		s, err := a.sessionOf(c, host)
		if err != nil {
			Fail(c, err)
			return
		}
		if s == nil {
			c.Set(forwardOutcomeKey, forwardUnauthenticated)
			Fail(c, refused)
			return
		}
		claims, err := a.Apps.Credential(c, ck.Value, s.Name)
		var e *Error
		switch {
		case errors.As(err, &e):
			Fail(c, err) // a disabled account says so
			return
		case errors.Is(err, auth.ErrInvalidToken):
			c.Set(forwardOutcomeKey, forwardUnauthenticated)
			Fail(c, refused)
			return
		case err != nil:
			Fail(c, err)
			return
		}
		c.Set(auth.PrincipalKey, claims)
		c.Next()
	}
}

// Check answers for an authenticated caller (Authenticate runs first). It
// never reads a body.
func (a *ForwardAuthAPI) Check(c *gin.Context) {
	if a == nil { // no forward auth: no host is a session's
		Fail(c, Errorf(http.StatusForbidden, CodeForbidden, "not allowed"))
		return
	}
	p := auth.Principal(c)
	host, ok := originalHost(c.Request.Header)
	if !ok {
		a.refuse(c, forwardNoHost)
		return
	}
	s, err := a.sessionOf(c, host)
	switch {
	case err != nil:
		Fail(c, err)
		return
	case s == nil:
		a.refuse(c, forwardUnknownHost)
		return
	case !p.MayUse(s.Spec.User):
		a.refuse(c, forwardForbidden)
		return
	}
	c.Set(forwardOutcomeKey, forwardAllowed)
	c.Header(agentsessions.UserHeader, p.Subject)
	c.Status(http.StatusOK)
}

// refuse answers every refusal of a signed-in caller alike, whatever its
// cause: an unknown host must not be told from another user's session.
func (a *ForwardAuthAPI) refuse(c *gin.Context, outcome string) {
	c.Set(forwardOutcomeKey, outcome)
	Fail(c, Errorf(http.StatusForbidden, CodeForbidden, "not allowed"))
}

// sessionOf finds the session whose Ingress host is host: each session
// name the pattern allows is looked up (in the cache) and kept only if
// its own host is host, so a crafted host cannot name another session.
func (a *ForwardAuthAPI) sessionOf(c *gin.Context, host string) (*streamv1.Session, error) {
	if a.HostPattern == "" {
		return nil, nil
	}
	for _, name := range agentsessions.SessionsForHost(a.HostPattern, host) {
		s := &streamv1.Session{}
		err := a.Client.Get(c, client.ObjectKey{Namespace: a.Namespace, Name: name}, s)
		if client.IgnoreNotFound(err) != nil {
			return nil, err
		}
		if err == nil && strings.EqualFold(agentsessions.IngressHost(a.HostPattern, s), host) {
			return s, nil
		}
	}
	return nil, nil
}

// originalHost is the host the proxied request was for. nginx
// (auth_request, ingress-nginx) names it in X-Original-URL or
// X-Original-Host, Traefik in X-Forwarded-Host. Each proxy overwrites its
// own header but passes the client's others on, so a client could add a
// header naming its own session to a request for someone else's: every
// one present must name the same host, or none counts.
func originalHost(h http.Header) (string, bool) {
	host := ""
	for _, name := range []string{"X-Original-URL", "X-Original-Host", "X-Forwarded-Host"} {
		values := h.Values(name)
		if len(values) == 0 {
			continue
		}
		if len(values) > 1 {
			return "", false
		}
		v := values[0]
		if name == "X-Original-URL" {
			u, err := url.Parse(v)
			if err != nil || u.Host == "" {
				return "", false
			}
			v = u.Host
		}
		v = strings.ToLower(hostOnly(v))
		if v == "" || (host != "" && v != host) {
			return "", false
		}
		host = v
	}
	return host, host != ""
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// hasAccessCookie reports whether r carries the portal's access cookie under
// either of its names (auth.Cookies): such a request is the portal's to
// judge, which reads only the name this portal sets.
func hasAccessCookie(r *http.Request) bool {
	for _, secure := range []bool{false, true} {
		if _, err := r.Cookie(auth.Cookies(secure).Access); err == nil {
			return true
		}
	}
	return false
}
