package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/streamspace/streamspace/portal/auth"
)

// The flow cookie (auth.OIDCFlowCookie) carries a sign-in in progress from
// its start to the callback. Only the callback's path receives it.
const (
	oidcFlowPath = "/api/v1/auth/oidc"
	// oidcFlowTTL is how long a person has at the provider's login page.
	oidcFlowTTL = 10 * time.Minute
)

// defaultRedirect is where a browser lands after signing in when the
// login page asked for nowhere in particular.
const defaultRedirect = "/dashboard"

// oidcFlow is the flow cookie's content.
type oidcFlow struct {
	auth.Flow
	Redirect string `json:"redirect"`
	Expires  int64  `json:"expires"`
}

var errFlowCookie = errors.New("the sign-in cookie is malformed or was tampered with")

// sealFlow signs f with a key derived from the access token key: the
// browser keeps the flow, but cannot change it (e.g. plant a state or a
// redirect of its choosing through a cookie set by a sibling domain).
func sealFlow(key []byte, f oidcFlow) (string, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(flowMAC(key, payload)), nil
}

// openFlow checks the signature and the expiry of a sealed flow.
func openFlow(key []byte, sealed string, now time.Time) (oidcFlow, error) {
	payload, sig, ok := strings.Cut(sealed, ".")
	if !ok {
		return oidcFlow{}, errFlowCookie
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, flowMAC(key, payload)) {
		return oidcFlow{}, errFlowCookie
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return oidcFlow{}, errFlowCookie
	}
	var f oidcFlow
	if err := json.Unmarshal(b, &f); err != nil {
		return oidcFlow{}, errFlowCookie
	}
	if now.Unix() > f.Expires {
		return oidcFlow{}, errors.New("the sign-in took too long (over " + oidcFlowTTL.String() + ")")
	}
	return f, nil
}

func flowMAC(key []byte, payload string) []byte {
	// A key of its own, so that nothing signed here can pass for an access
	// token or the other way round.
	derive := hmac.New(sha256.New, key)
	derive.Write([]byte("streamspace oidc flow cookie"))
	mac := hmac.New(sha256.New, derive.Sum(nil))
	mac.Write([]byte(payload))
	return mac.Sum(nil)
}

// safeRedirect accepts only a path of this site: an open redirect after a
// sign-in would hand a freshly signed-in browser to anyone's page.
// Browsers read "//host" and "/\host" as another host, so both are
// refused, as is anything with a scheme, a host or control characters.
func safeRedirect(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, `/\`) || len(p) > 1024 {
		return false
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}
