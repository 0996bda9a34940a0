package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/streamspace/streamspace/portal/audit"
	"github.com/streamspace/streamspace/portal/auth"
)

// ChangePasswordRequest is the body of POST /api/v1/users/me/password.
type ChangePasswordRequest struct {
	CurrentPassword string `json:"currentPassword"`
	NewPassword     string `json:"newPassword"`
}

// ChangePassword sets the caller's own password, after checking the
// current one (a stolen access token alone cannot lock the owner out). It
// signs out every login of the account and answers, as a sign-in does,
// with new tokens for this one. An account whose password is one-time
// (the bootstrap admin's) may do nothing else until it has done this.
func (a *AuthAPI) ChangePassword(c *gin.Context) {
	p := auth.Principal(c)
	if p.APIToken != "" {
		Fail(c, Errorf(http.StatusForbidden, CodeForbidden, "API tokens cannot change a password; sign in as a person"))
		return
	}
	var req ChangePasswordRequest
	if !bindJSON(c, &req) {
		return
	}
	if req.CurrentPassword == "" || req.NewPassword == "" {
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "the current and the new password are required",
			Fields: map[string]string{"currentPassword": "required", "newPassword": "required"}})
		return
	}
	if a.Limiter != nil { // the current password is guessed like a sign-in's
		if ok, wait := a.Limiter.Allow(c.ClientIP(), p.Subject); !ok {
			c.Header("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			Fail(c, Errorf(http.StatusTooManyRequests, CodeRateLimited, "too many attempts; try again in "+wait.Round(time.Second).String()))
			return
		}
	}
	u, err := auth.ChangePassword(c, a.Store, p.Subject, req.CurrentPassword, req.NewPassword)
	switch {
	case errors.Is(err, auth.ErrBadCredentials):
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "the current password is wrong",
			Fields: map[string]string{"currentPassword": "wrong"}})
		return
	case errors.Is(err, auth.ErrSamePassword):
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: err.Error(), Fields: map[string]string{"newPassword": err.Error()}})
		return
	case errors.Is(err, auth.ErrNoPassword):
		Fail(c, Errorf(http.StatusConflict, CodeConflict, err.Error()))
		return
	case errors.Is(err, auth.ErrPasswordTooShort):
		Fail(c, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: err.Error(), Fields: map[string]string{"newPassword": err.Error()}})
		return
	case err != nil:
		Fail(c, err)
		return
	}
	pair, err := a.Tokens.Issue(c, u)
	if err != nil {
		Fail(c, err)
		return
	}
	RecordAudit(c, a.Audit, u.Username, audit.PasswordChange, u.Username, "")
	a.respond(c, pair)
}
