package auth

import "strings"

// The base names of the portal's browser cookies. Every one starts with
// CookiePrefix, so a session's web client can be kept from seeing or
// setting any of them (portal/stream strips them both ways).
const (
	CookiePrefix = "ss_"
	// AccessCookie holds the access token of a browser.
	AccessCookie = CookiePrefix + "access"
	// CSRFCookie is readable by the UI, which repeats it in CSRFHeader.
	CSRFCookie = CookiePrefix + "csrf"
	// RefreshCookie holds a browser's refresh token, sent only to the auth
	// routes (its path).
	RefreshCookie = CookiePrefix + "refresh"
	// OIDCFlowCookie carries a single sign-on in progress from its start to
	// the provider's callback (its path).
	OIDCFlowCookie = CookiePrefix + "oidc"
)

// Cookie-name prefixes the browser enforces (RFC 6265bis): a __Host-
// cookie is accepted only with Secure, Path=/ and no Domain, so only the
// very host that set it can; a __Secure- one only with Secure.
const (
	hostPrefix   = "__Host-"
	securePrefix = "__Secure-"
)

// CookieNames are the names the portal sets and reads its cookies under.
//
// Under TLS they carry the prefixes: without them, a sibling host of the
// same site (an apps host among them, which serves whatever a session's
// image serves) could plant a cookie of the same name for the parent
// domain and have the portal read it: a browser signed in as the attacker,
// or a CSRF token the attacker knows. The plain names are then never read.
// Over plain HTTP (a local platform) browsers refuse the prefixes, and the
// plain names are used.
type CookieNames struct {
	Access, CSRF string // Path=/: __Host-
	// Refresh and OIDCFlow are scoped to a path, which __Host- forbids:
	// __Secure- (a sibling may still set one for the parent domain, but
	// only over TLS, and it is only ever a credential of its setter).
	Refresh, OIDCFlow string
}

// Cookies returns the names for a portal that marks its cookies Secure
// (serving behind TLS) or not.
func Cookies(secure bool) CookieNames {
	if !secure {
		return CookieNames{Access: AccessCookie, CSRF: CSRFCookie, Refresh: RefreshCookie, OIDCFlow: OIDCFlowCookie}
	}
	return CookieNames{
		Access: hostPrefix + AccessCookie, CSRF: hostPrefix + CSRFCookie,
		Refresh: securePrefix + RefreshCookie, OIDCFlow: securePrefix + OIDCFlowCookie,
	}
}

// IsPortalCookie tells a cookie of the portal's, under any of its names,
// from anyone else's.
func IsPortalCookie(name string) bool {
	name = strings.TrimPrefix(strings.TrimPrefix(name, hostPrefix), securePrefix)
	return strings.HasPrefix(name, CookiePrefix)
}
