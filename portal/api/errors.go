// Package api holds the portal's REST handlers: one struct per resource,
// each depending on narrow interfaces. Errors are returned as *Error and
// rendered in one place (RenderErrors) into one JSON shape.
package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Error is the one error shape of the API:
//
//	{"error": {"code": "quota_exceeded", "message": "…", "fields": {"template": "…"}}}
//
// Codes are stable; messages are for people.
type Error struct {
	Status  int               `json:"-"`
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Stable error codes.
const (
	CodeUnauthenticated = "unauthenticated"
	CodeForbidden       = "forbidden"
	CodeNotFound        = "not_found"
	CodeInvalid         = "invalid_request"
	CodeQuotaExceeded   = "quota_exceeded"
	CodeConflict        = "conflict"
	CodeRateLimited     = "rate_limited"
	CodeNotRunning      = "not_running"
	CodeUpstream        = "upstream_unavailable"
	CodeUnavailable     = "unavailable"
	CodeInternal        = "internal"
)

// Errorf builds an *Error.
func Errorf(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// fail records err on the request and stops it; RenderErrors writes it.
func fail(c *gin.Context, err error) {
	_ = c.Error(err)
	c.Abort()
}

// RenderErrors renders the first error a handler recorded. Anything that is
// not an *Error is an internal error: logged by the caller's logger, never
// shown to the client.
func RenderErrors() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		if len(c.Errors) == 0 || c.Writer.Written() {
			return
		}
		var e *Error
		if !errors.As(c.Errors[0].Err, &e) {
			e = Errorf(http.StatusInternalServerError, CodeInternal, "internal error; see the portal log (request "+c.GetString(RequestIDKey)+")")
		}
		c.JSON(e.Status, gin.H{"error": e})
	}
}

// RequestIDKey is where the request ID middleware keeps the ID.
const RequestIDKey = "request-id"
