package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streamspace/streamspace/portal/auth"
)

// setCookies sets the cookies of a signed-in browser, for a password
// sign-in (with the tokens as JSON too) and an SSO callback (which answers
// with a redirect).
func (a *AuthAPI) setCookies(c *gin.Context, p auth.Pair) {
	c.SetSameSite(http.SameSiteLaxMode)
	c.SetCookie(auth.AccessCookie, p.AccessToken, int(time.Until(p.AccessExpiresAt).Seconds()), "/", "", a.SecureCookies, true)
	c.SetCookie(RefreshCookie, p.RefreshToken, int(time.Until(p.RefreshExpiresAt).Seconds()), "/api/v1/auth", "", a.SecureCookies, true)
	c.SetCookie(auth.CSRFCookie, auth.NewCSRFToken(), int(time.Until(p.RefreshExpiresAt).Seconds()), "/", "", a.SecureCookies, false) // readable by the UI
}
