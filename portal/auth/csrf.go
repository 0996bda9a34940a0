package auth

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// CSRF protection for browsers (double-submit): a mutation authenticated by
// the access cookie must repeat the value of the readable CSRF cookie in a
// header, which a page of another site cannot do. Bearer-token clients are
// not browsers riding on cookies and are exempt.
const CSRFHeader = "X-CSRF-Token"

// NewCSRFToken returns a fresh token for the CSRF cookie.
func NewCSRFToken() string {
	t, _ := randomToken(18)
	return t
}

// RequireCSRF refuses cookie-authenticated mutations without a header
// matching the cookie named csrfCookie (CookieNames.CSRF).
func RequireCSRF(csrfCookie string, forbidden func(*gin.Context, string)) gin.HandlerFunc {
	return func(c *gin.Context) {
		switch c.Request.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			c.Next()
			return
		}
		if strings.HasPrefix(c.GetHeader("Authorization"), "Bearer ") {
			c.Next()
			return
		}
		cookie, err := c.Cookie(csrfCookie)
		header := c.GetHeader(CSRFHeader)
		if err != nil || cookie == "" || subtle.ConstantTimeCompare([]byte(cookie), []byte(header)) != 1 {
			forbidden(c, "missing or wrong "+CSRFHeader+" header (copy the "+csrfCookie+" cookie)")
			return
		}
		c.Next()
	}
}
