package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streamspace/streamspace/portal/auth"
)

// refreshCookiePath keeps the refresh token to the routes that use it.
const refreshCookiePath = "/api/v1/auth"

// Cookies are the names of the portal's cookies, as this portal sets them.
func (a *AuthAPI) Cookies() auth.CookieNames { return auth.Cookies(a.SecureCookies) }

// setCookies sets the cookies of a signed-in browser, for a password
// sign-in (with the tokens as JSON too) and an SSO callback (which answers
// with a redirect).
func (a *AuthAPI) setCookies(c *gin.Context, p auth.Pair) {
	c.SetSameSite(http.SameSiteLaxMode)
	names := a.Cookies()
	c.SetCookie(names.Access, p.AccessToken, int(time.Until(p.AccessExpiresAt).Seconds()), "/", "", a.SecureCookies, true)
	c.SetCookie(names.Refresh, p.RefreshToken, int(time.Until(p.RefreshExpiresAt).Seconds()), refreshCookiePath, "", a.SecureCookies, true)
	c.SetCookie(names.CSRF, auth.NewCSRFToken(), int(time.Until(p.RefreshExpiresAt).Seconds()), "/", "", a.SecureCookies, false) // readable by the UI
}
