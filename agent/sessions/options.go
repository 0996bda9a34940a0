package sessions

import (
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
}

// Enabled reports whether sessions get an Ingress.
func (o IngressOptions) Enabled() bool { return o.HostPattern != "" }

func (o Options) withDefaults() Options {
	if o.DefaultIdleTimeout == 0 {
		o.DefaultIdleTimeout = 30 * time.Minute
	}
	if o.ExpiryWarning == 0 {
		o.ExpiryWarning = 5 * time.Minute
	}
	return o
}
