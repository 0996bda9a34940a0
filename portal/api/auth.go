package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streamspace/streamspace/plugins/event"
	"github.com/streamspace/streamspace/portal/audit"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/store"
)

// AuthAPI signs people in and out.
type AuthAPI struct {
	Store  store.Store
	Tokens *auth.Tokens
	// SecureCookies marks cookies Secure (set when serving over TLS), and
	// gives them the names only their own host can set (auth.Cookies).
	SecureCookies bool
	// Limiter slows password guessing; nil allows every attempt.
	Limiter *auth.LoginLimiter
	// Identities mirrors the account's groups into its User object at
	// each sign-in; nil skips it.
	Identities *Identities
	Audit      *audit.Log
	// Events records user.login and user.logout (OIDC's too); nil: none.
	Events UserEvents
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type tokenResponse struct {
	AccessToken      string    `json:"accessToken"`
	AccessExpiresAt  time.Time `json:"accessExpiresAt"`
	RefreshToken     string    `json:"refreshToken"`
	RefreshExpiresAt time.Time `json:"refreshExpiresAt"`
}

// Login checks a local account and hands out tokens, as JSON for API
// clients and as HttpOnly cookies for the browser.
func (a *AuthAPI) Login(c *gin.Context) {
	var req loginRequest
	if err := c.ShouldBindJSON(&req); err != nil || req.Username == "" || req.Password == "" {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "username and password are required",
			Fields: map[string]string{"username": "required", "password": "required"}})
		return
	}
	if a.Limiter != nil {
		if ok, wait := a.Limiter.Allow(c.ClientIP(), req.Username); !ok {
			c.Header("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			Fail(c, Errorf(http.StatusTooManyRequests, CodeRateLimited, "too many sign-in attempts; try again in "+wait.Round(time.Second).String()))
			return
		}
	}
	u, err := auth.Login(c, a.Store, req.Username, req.Password)
	if err != nil {
		RecordAudit(c, a.Audit, req.Username, audit.LoginFailed, "", "")
		if errors.Is(err, auth.ErrBadCredentials) || errors.Is(err, auth.ErrUserDisabled) {
			Fail(c, Errorf(http.StatusUnauthorized, CodeUnauthenticated, err.Error()))
			return
		}
		Fail(c, err)
		return
	}
	p, err := a.Tokens.Issue(c, u)
	if err != nil {
		Fail(c, err)
		return
	}
	RecordAudit(c, a.Audit, u.Username, audit.Login, "", "local")
	userEvent(c, a.Events, event.UserLogin, u)
	applyIdentity(c, a.Identities, u)
	a.respond(c, p)
}

// Refresh rotates the refresh token (body or cookie).
func (a *AuthAPI) Refresh(c *gin.Context) {
	token := a.refreshToken(c)
	p, _, err := a.Tokens.Refresh(c, token)
	if err != nil {
		a.clearCookies(c)
		if errors.Is(err, auth.ErrRefreshReused) {
			RecordAudit(c, a.Audit, "unknown", audit.TokenReuse, "", "")
		}
		if so := (*auth.SignedOutError)(nil); errors.As(err, &so) {
			RecordAudit(c, a.Audit, so.Username, audit.LoginSignedOut, "", err.Error())
		}
		if errors.Is(err, auth.ErrInvalidToken) || errors.Is(err, auth.ErrRefreshReused) || errors.Is(err, auth.ErrUserDisabled) ||
			errors.Is(err, auth.ErrReauthenticate) || errors.Is(err, auth.ErrProviderSignedOut) {
			Fail(c, Errorf(http.StatusUnauthorized, CodeUnauthenticated, err.Error()))
			return
		}
		Fail(c, err)
		return
	}
	a.respond(c, p)
}

// Logout revokes this login's refresh tokens and clears the cookies.
func (a *AuthAPI) Logout(c *gin.Context) {
	if err := a.Tokens.Logout(c, a.refreshToken(c)); err != nil {
		Fail(c, err)
		return
	}
	if p := auth.Principal(c); p != nil {
		RecordAudit(c, a.Audit, p.Subject, audit.Logout, "", "")
		userEvent(c, a.Events, event.UserLogout, &store.User{Username: p.Subject, Role: p.Role})
	}
	a.clearCookies(c)
	c.Status(http.StatusNoContent)
}

func (a *AuthAPI) refreshToken(c *gin.Context) string {
	var body struct {
		RefreshToken string `json:"refreshToken"`
	}
	if c.Request.ContentLength > 0 {
		_ = c.ShouldBindJSON(&body)
	}
	if body.RefreshToken != "" {
		return body.RefreshToken
	}
	ck, _ := c.Cookie(a.Cookies().Refresh)
	return ck
}

func (a *AuthAPI) respond(c *gin.Context, p auth.Pair) {
	a.setCookies(c, p)
	c.JSON(http.StatusOK, tokenResponse{AccessToken: p.AccessToken, AccessExpiresAt: p.AccessExpiresAt, RefreshToken: p.RefreshToken, RefreshExpiresAt: p.RefreshExpiresAt})
}

func (a *AuthAPI) clearCookies(c *gin.Context) {
	c.SetSameSite(http.SameSiteLaxMode)
	names := a.Cookies()
	c.SetCookie(names.Access, "", -1, "/", "", a.SecureCookies, true)
	c.SetCookie(names.Refresh, "", -1, refreshCookiePath, "", a.SecureCookies, true)
}

// applyIdentity mirrors u into its User object. The request does not fail
// when that write does (the quota checks then see the groups of the last
// successful write); RenderErrors logs it.
func applyIdentity(c *gin.Context, i *Identities, u *store.User) {
	if err := i.Apply(c, u); err != nil {
		_ = c.Error(err).SetMeta(IdentityFailed)
	}
}
