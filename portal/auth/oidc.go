package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Errors of a single sign-on, so the API can tell the person what went
// wrong and whether trying again may help.
var (
	// ErrProviderUnavailable: discovery or a request to the provider
	// failed; trying again later may work.
	ErrProviderUnavailable = errors.New("the identity provider is unreachable")
	// ErrProviderRejected: the provider refused to trade the code (wrong,
	// expired or already used, or a PKCE verifier that does not match).
	ErrProviderRejected = errors.New("the identity provider refused the authorization code")
	// ErrIDToken: the ID token is missing or failed verification.
	ErrIDToken = errors.New("the identity provider's ID token is invalid")
	// ErrIdentity: the verified claims do not name a usable account.
	ErrIdentity = errors.New("the identity provider's claims name no usable account")
	// ErrNameTaken: an SSO sign-in for a name that belongs to a local
	// (password) account, or to another person of the provider; it is
	// refused so that whoever controls that name at the provider cannot
	// take the account (and its home volume) over.
	ErrNameTaken = errors.New("the username belongs to another account")
)

// DefaultOIDCScopes are requested when OIDC.Scopes is empty. "groups" is
// not standard but Dex, Keycloak (with a mapper) and Authentik honour it;
// providers that do not know it ignore it. offline_access asks for the
// refresh token the portal re-checks the person with (Tokens.RecheckEvery);
// without one, the person signs in at the provider again instead.
var DefaultOIDCScopes = []string{oidc.ScopeOpenID, "profile", "email", "groups", oidc.ScopeOfflineAccess}

// discoveryTimeout bounds one discovery attempt, so a provider that hangs
// delays a sign-in by seconds, not forever.
const discoveryTimeout = 10 * time.Second

// OIDC signs people in with an OpenID Connect provider (Dex, Keycloak,
// Authentik…) by the authorization code flow with PKCE (S256) and a nonce.
//
// The provider is discovered on first use and cached once discovery
// succeeds: a provider that is down while the portal starts delays SSO
// sign-ins, it does not stop the portal.
type OIDC struct {
	// Name is shown on the login page ("Sign in with <Name>"); default "SSO".
	Name string
	// Issuer is the provider's issuer URL, exactly as it writes it in its
	// tokens (e.g. https://dex.example.com/dex).
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is the portal's callback, registered at the provider:
	// https://<portal>/api/v1/auth/oidc/callback.
	RedirectURL string
	// Scopes default to DefaultOIDCScopes.
	Scopes []string
	// GroupsClaim names the claim with the user's groups; default "groups".
	GroupsClaim string
	// UsernameClaim names the claim that becomes the username; default
	// "preferred_username". When it is missing or empty, "email" then
	// "sub" are tried.
	UsernameClaim string
	// AdminGroups are the groups whose members get the admin role.
	AdminGroups []string
	// HTTPClient talks to the provider; default a client with a 10s
	// timeout.
	HTTPClient *http.Client
	// RetryAfter is how long a failed discovery is remembered before the
	// next sign-in tries again (so a dead provider is not hammered, and
	// sign-ins fail fast meanwhile); default 5s.
	RetryAfter time.Duration
	// Now is the clock ID token expiry is checked against; default
	// time.Now.
	Now func() time.Time

	mu       sync.Mutex
	provider *oidc.Provider
	lastErr  error
	lastTry  time.Time
}

// Flow is what a browser keeps between the start of a sign-in and the
// callback: state (binds the callback to this browser), nonce (binds the
// ID token to this sign-in) and the PKCE verifier (binds the code to it).
type Flow struct {
	State    string
	Nonce    string
	Verifier string
}

// NewFlow makes the random values of one sign-in.
func NewFlow() (Flow, error) {
	state, err := randomToken(24)
	if err != nil {
		return Flow{}, err
	}
	nonce, err := randomToken(24)
	if err != nil {
		return Flow{}, err
	}
	return Flow{State: state, Nonce: nonce, Verifier: oauth2.GenerateVerifier()}, nil
}

// DisplayName is the name to show on the login page.
func (o *OIDC) DisplayName() string {
	if o.Name != "" {
		return o.Name
	}
	return "SSO"
}

// AuthCodeURL is where to send the browser to sign in: the provider's
// authorization endpoint with the state, the nonce and the PKCE challenge
// of verifier.
func (o *OIDC) AuthCodeURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	cfg, _, err := o.config(ctx)
	if err != nil {
		return "", err
	}
	return cfg.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// Exchange trades the code the provider sent to the callback for tokens,
// verifies the ID token (signature, issuer, audience, expiry, nonce) and
// returns who signed in.
func (o *OIDC) Exchange(ctx context.Context, code, verifier, nonce string) (*Identity, error) {
	cfg, provider, err := o.config(ctx)
	if err != nil {
		return nil, err
	}
	ctx = oidc.ClientContext(ctx, o.client())
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		if re := (*oauth2.RetrieveError)(nil); errors.As(err, &re) {
			return nil, fmt.Errorf("%w: %s %s", ErrProviderRejected, re.ErrorCode, re.ErrorDescription)
		}
		return nil, fmt.Errorf("%w: token request: %v", ErrProviderUnavailable, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, fmt.Errorf("%w: the token response has no id_token (is the %q scope requested?)", ErrIDToken, oidc.ScopeOpenID)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: o.ClientID, Now: o.Now}).Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIDToken, err)
	}
	// go-oidc leaves the nonce to the caller: it is what stops an ID token
	// issued for another sign-in from being replayed into this one.
	if nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, fmt.Errorf("%w: its nonce does not match this sign-in's", ErrIDToken)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrIDToken, err)
		}
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrIDToken, err)
	}
	id, err := o.IdentityFromClaims(claims)
	if err != nil {
		return nil, err
	}
	id.refreshToken = tok.RefreshToken
	return id, nil
}

// config discovers the provider on first use and remembers it. A failure
// is remembered for RetryAfter, so that while the provider is down every
// sign-in fails at once with the same error instead of waiting on it.
func (o *OIDC) config(ctx context.Context) (*oauth2.Config, *oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider == nil {
		if o.lastErr != nil && time.Since(o.lastTry) < o.retryAfter() {
			return nil, nil, o.lastErr
		}
		// Holding the lock through discovery makes concurrent first
		// sign-ins share one attempt rather than each sending their own.
		o.lastTry = time.Now()
		dctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, o.client()), discoveryTimeout)
		defer cancel()
		p, err := oidc.NewProvider(dctx, o.Issuer)
		if err != nil {
			o.lastErr = fmt.Errorf("%w: discovery at %s: %v", ErrProviderUnavailable, o.Issuer, err)
			return nil, nil, o.lastErr
		}
		o.provider, o.lastErr = p, nil
	}
	scopes := o.Scopes
	if len(scopes) == 0 {
		scopes = DefaultOIDCScopes
	}
	return &oauth2.Config{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: o.RedirectURL,
		Endpoint: o.provider.Endpoint(), Scopes: scopes,
	}, o.provider, nil
}

var defaultOIDCClient = &http.Client{Timeout: 10 * time.Second}

func (o *OIDC) client() *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	return defaultOIDCClient
}

func (o *OIDC) retryAfter() time.Duration {
	if o.RetryAfter > 0 {
		return o.RetryAfter
	}
	return 5 * time.Second
}
