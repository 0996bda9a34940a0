package api

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streamspace/streamspace/plugins/event"
	"github.com/streamspace/streamspace/portal/audit"
	"github.com/streamspace/streamspace/portal/auth"
)

// OIDCAPI signs people in with an OpenID Connect provider. The sign-in
// ends as a password sign-in does: the portal's own tokens, in the same
// cookies, and a "login" audit event.
type OIDCAPI struct {
	// OIDC is the provider; nil when single sign-on is not configured
	// (the routes then answer not_found, and Providers says so).
	OIDC *auth.OIDC
	// Auth issues the tokens and sets the cookies (and its Store keeps
	// the users and the audit log).
	Auth *AuthAPI
}

// Providers tells the login page how people may sign in. A nil receiver
// answers too, so the route can be served whether SSO is configured or not.
func (a *OIDCAPI) Providers(c *gin.Context) {
	sso := gin.H{"enabled": false, "name": ""}
	if a.enabled() {
		sso = gin.H{"enabled": true, "name": a.OIDC.DisplayName()}
	}
	c.JSON(http.StatusOK, gin.H{"local": true, "oidc": sso})
}

// Login starts a sign-in: it remembers the flow in a signed, short-lived
// cookie and sends the browser to the provider. The query parameter
// "redirect" is the path of this site to return to afterwards.
func (a *OIDCAPI) Login(c *gin.Context) {
	if !a.enabled() {
		Fail(c, Errorf(http.StatusNotFound, CodeNotFound, "single sign-on is not configured"))
		return
	}
	redirect := c.DefaultQuery("redirect", defaultRedirect)
	if !safeRedirect(redirect) {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "redirect must be a path of this site",
			Fields: map[string]string{"redirect": "a path starting with a single /"}})
		return
	}
	flow, err := auth.NewFlow()
	if err != nil {
		Fail(c, err)
		return
	}
	to, err := a.OIDC.AuthCodeURL(c, flow.State, flow.Nonce, flow.Verifier)
	if err != nil {
		a.failSignIn(c, "", err)
		return
	}
	sealed, err := sealFlow(a.Auth.Tokens.Key, oidcFlow{Flow: flow, Redirect: redirect, Expires: time.Now().Add(oidcFlowTTL).Unix()})
	if err != nil {
		Fail(c, err)
		return
	}
	// Lax, not Strict: the provider sends the browser back by a top-level
	// navigation from its own site, which Lax cookies follow.
	c.SetSameSite(http.SameSiteLaxMode)
	c.SetCookie(a.Auth.Cookies().OIDCFlow, sealed, int(oidcFlowTTL.Seconds()), oidcFlowPath, "", a.Auth.SecureCookies, true)
	c.Redirect(http.StatusFound, to)
}

// Callback ends a sign-in: the provider sends the browser here with a
// code (or an error) and the state. It checks the state against the flow
// cookie, trades the code, makes or refreshes the account, signs the
// browser in and sends it where the sign-in started from.
func (a *OIDCAPI) Callback(c *gin.Context) {
	if !a.enabled() {
		Fail(c, Errorf(http.StatusNotFound, CodeNotFound, "single sign-on is not configured"))
		return
	}
	sealed, _ := c.Cookie(a.Auth.Cookies().OIDCFlow)
	// One use only, whatever happens next.
	c.SetSameSite(http.SameSiteLaxMode)
	c.SetCookie(a.Auth.Cookies().OIDCFlow, "", -1, oidcFlowPath, "", a.Auth.SecureCookies, true)

	if e := c.Query("error"); e != "" {
		msg := "the identity provider refused the sign-in: " + clip(e, 64)
		if d := c.Query("error_description"); d != "" {
			msg += ": " + clip(d, 200)
		}
		Fail(c, Errorf(http.StatusUnauthorized, CodeUnauthenticated, msg))
		return
	}
	if sealed == "" {
		Fail(c, Errorf(http.StatusUnauthorized, CodeUnauthenticated, "no sign-in is in progress in this browser (its cookie is missing or expired); start again"))
		return
	}
	flow, err := openFlow(a.Auth.Tokens.Key, sealed, time.Now())
	if err != nil {
		Fail(c, Errorf(http.StatusUnauthorized, CodeUnauthenticated, err.Error()+"; start again"))
		return
	}
	if state := c.Query("state"); state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(flow.State)) != 1 {
		Fail(c, Errorf(http.StatusUnauthorized, CodeUnauthenticated, "the state sent back by the identity provider does not match this browser's sign-in; start again"))
		return
	}
	code := c.Query("code")
	if code == "" {
		Fail(c, Errorf(http.StatusUnauthorized, CodeUnauthenticated, "the identity provider sent no authorization code"))
		return
	}

	id, err := a.OIDC.Exchange(c, code, flow.Verifier, flow.Nonce)
	if err != nil {
		a.failSignIn(c, "", err)
		return
	}
	u, err := a.OIDC.Upsert(c, a.Auth.Store, id)
	if err != nil {
		a.failSignIn(c, id.Username, err)
		return
	}
	p, err := a.Auth.Tokens.IssueSSO(c, u, id)
	if err != nil {
		Fail(c, err)
		return
	}
	RecordAudit(c, a.Auth.Audit, u.Username, audit.Login, "", "oidc")
	if u.CreatedAt.Equal(u.UpdatedAt) { // created by this sign-in (Upsert updates an existing account)
		userEvent(c, a.Auth.Events, event.UserCreated, u)
	}
	userEvent(c, a.Auth.Events, event.UserLogin, u)
	// The provider's groups reach the User object (and so group quotas)
	// as a password sign-in's do.
	applyIdentity(c, a.Auth.Identities, u)
	a.Auth.setCookies(c, p)
	redirect := flow.Redirect
	if !safeRedirect(redirect) { // signed by us, so only a changed rule gets here
		redirect = defaultRedirect
	}
	c.Redirect(http.StatusFound, redirect)
}

// failSignIn renders a failed sign-in in the API's error shape and, when
// the provider already said who it was, audits it.
func (a *OIDCAPI) failSignIn(c *gin.Context, username string, err error) {
	if username != "" {
		RecordAudit(c, a.Auth.Audit, username, audit.LoginFailed, "", "oidc: "+err.Error())
	}
	switch {
	case errors.Is(err, auth.ErrProviderUnavailable):
		Fail(c, Errorf(http.StatusBadGateway, CodeUpstream, "single sign-on is unavailable: "+err.Error()))
	case errors.Is(err, auth.ErrNameTaken):
		Fail(c, Errorf(http.StatusConflict, CodeConflict, err.Error()))
	case errors.Is(err, auth.ErrProviderRejected), errors.Is(err, auth.ErrIDToken),
		errors.Is(err, auth.ErrIdentity), errors.Is(err, auth.ErrUserDisabled):
		Fail(c, Errorf(http.StatusUnauthorized, CodeUnauthenticated, err.Error()))
	default:
		Fail(c, err)
	}
}

func (a *OIDCAPI) enabled() bool { return a != nil && a.OIDC != nil }

// clip shortens text from the provider (it ends up in our error message).
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
