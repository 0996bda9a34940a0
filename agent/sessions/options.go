package sessions

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/streamspace/streamspace/agent/users"
)

// Options are the agent-wide settings of the session controller.
type Options struct {
	// Home volume defaults.
	Home users.HomeOptions
	// Ingress, when ClassName or HostPattern is set, gives each session its
	// own host.
	Ingress IngressOptions
	// PortalURL is the portal's external base URL. Without an Ingress a
	// session's URL is <PortalURL>/session/<name>.
	PortalURL string
	// DefaultIdleTimeout applies when neither the Session, its Template nor
	// its Quota sets one.
	DefaultIdleTimeout time.Duration
	// ExpiryWarning is how long before maxSessionDuration the ExpiringSoon
	// condition is raised.
	ExpiryWarning time.Duration
	// IdleReporter, when its Image is set, puts the X idle reporter beside
	// every session's app and asks it at the idle deadline (idle.go).
	IdleReporter IdleReporterOptions
}

// IngressOptions configure per-session Ingresses.
type IngressOptions struct {
	// ClassName of the Ingress controller.
	ClassName string
	// HostPattern of a session's host; {session} and {user} are replaced,
	// e.g. "{session}.streamspace.example.com". Empty means no Ingress.
	HostPattern string
	// TLSSecretName, when set, serves the host over TLS with that secret (a
	// wildcard certificate).
	TLSSecretName string
	// ForwardAuth makes the Ingress controller ask the portal before every
	// request; an Ingress is refused without it (Validate).
	ForwardAuth ForwardAuthOptions
}

// Forward-auth flavours: the annotations differ per Ingress controller.
const (
	ForwardAuthNginx   = "nginx"   // ingress-nginx: auth-url annotations
	ForwardAuthTraefik = "traefik" // Traefik: a ForwardAuth Middleware the admin created
)

// ForwardAuthOptions say how a session's Ingress asks the portal's
// /api/v1/auth/forward who may pass.
type ForwardAuthOptions struct {
	// Kind is ForwardAuthNginx or ForwardAuthTraefik.
	Kind string
	// URL of the portal's forward-auth endpoint as the Ingress controller
	// reaches it (nginx), e.g.
	// http://streamspace-portal.streamspace.svc/api/v1/auth/forward.
	URL string
	// Middlewares is Traefik's router.middlewares value, e.g.
	// streamspace-forward-auth@kubernetescrd (the Middleware itself is the
	// admin's, beside Traefik's CRDs).
	Middlewares string
}

// Enabled reports whether sessions get an Ingress.
func (o IngressOptions) Enabled() bool { return o.HostPattern != "" }

// Validate refuses an Ingress that would publish sessions to anyone who
// guesses the host: without forward auth the Ingress controller sends
// every request straight to the session, past the portal's sign-in. The
// host must name the session, which is how the portal finds whose it is.
func (o IngressOptions) Validate() error {
	if !o.Enabled() {
		return nil
	}
	if !strings.Contains(o.HostPattern, "{session}") {
		return fmt.Errorf("--ingress-host %q must contain {session}: each session needs its own host, and the portal's forward auth finds the session by it", o.HostPattern)
	}
	const why = "--ingress-host publishes every session on its own host, and without forward auth anyone who guesses the host gets the desktop"
	switch f := o.ForwardAuth; f.Kind {
	case ForwardAuthNginx:
		if u, err := url.Parse(f.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s: --ingress-forward-auth=nginx needs --ingress-forward-auth-url, the portal's /api/v1/auth/forward as the Ingress controller reaches it (got %q)", why, f.URL)
		}
	case ForwardAuthTraefik:
		if f.Middlewares == "" {
			return fmt.Errorf("%s: --ingress-forward-auth=traefik needs --ingress-forward-auth-middlewares, the ForwardAuth Middleware to the portal's /api/v1/auth/forward (e.g. streamspace-forward-auth@kubernetescrd)", why)
		}
	case "":
		return fmt.Errorf("%s: set --ingress-forward-auth (nginx or traefik) so the Ingress controller asks the portal's /api/v1/auth/forward first", why)
	default:
		return fmt.Errorf("--ingress-forward-auth %q: want nginx or traefik", f.Kind)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.DefaultIdleTimeout == 0 {
		o.DefaultIdleTimeout = 30 * time.Minute
	}
	if o.ExpiryWarning == 0 {
		o.ExpiryWarning = 5 * time.Minute
	}
	return o
}
