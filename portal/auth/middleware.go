package auth

import (
	"errors"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// PrincipalKey is where Authenticate stores the caller's *Claims.
const PrincipalKey = "principal"

// Principal returns the authenticated caller.
func Principal(c *gin.Context) *Claims {
	p, _ := c.Get(PrincipalKey)
	claims, _ := p.(*Claims)
	return claims
}

// IsAdmin reports whether the caller has the admin role.
func (c *Claims) IsAdmin() bool { return c != nil && c.Role == "admin" }

// MayUse reports whether the caller may see and act on what belongs to
// user (a session): its owner, or an admin. The API and the stream proxy
// both ask this one question.
func (c *Claims) MayUse(user string) bool { return c.IsAdmin() || (c != nil && c.Subject == user) }

// Authenticate accepts a Bearer token (API clients) or the access cookie
// (the browser; accessCookie is its name, CookieNames.Access) and refuses
// the request otherwise. unauthorized renders the refusal (the API's error
// shape).
func Authenticate(t *Tokens, accessCookie string, unauthorized func(*gin.Context, string)) gin.HandlerFunc {
	return func(c *gin.Context) {
		token := ""
		if h := c.GetHeader("Authorization"); strings.HasPrefix(h, "Bearer ") {
			token = strings.TrimPrefix(h, "Bearer ")
		} else if ck, err := c.Cookie(accessCookie); err == nil {
			token = ck
		}
		if token == "" {
			unauthorized(c, "sign in first")
			return
		}
		var claims *Claims
		var err error
		if strings.HasPrefix(token, APITokenPrefix) {
			claims, err = t.VerifyAPIToken(c, token)
		} else {
			claims, err = t.Authenticate(c, token)
		}
		switch {
		case errors.Is(err, ErrUserDisabled):
			unauthorized(c, "the account is disabled")
			return
		case errors.Is(err, ErrInvalidToken):
			unauthorized(c, "the access token is invalid, expired or revoked")
			return
		case err != nil:
			_ = c.Error(err)
			c.Abort()
			return
		}
		c.Set(PrincipalKey, claims)
		c.Next()
	}
}

// RequirePasswordChanged refuses every request of an account whose
// password must be changed (a one-time password) but those of the routes
// allowed (gin route patterns: reading who one is, changing the password,
// signing out). refuse renders the refusal.
func RequirePasswordChanged(refuse func(*gin.Context), allowed ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if p := Principal(c); p != nil && p.MustChangePassword && !slices.Contains(allowed, c.FullPath()) {
			refuse(c)
			return
		}
		c.Next()
	}
}

// RequireAdmin refuses callers without the admin role.
func RequireAdmin(forbidden func(*gin.Context, string)) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !Principal(c).IsAdmin() {
			forbidden(c, "admins only")
			return
		}
		c.Next()
	}
}
