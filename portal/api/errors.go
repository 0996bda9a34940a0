// Package api holds the portal's REST handlers: one struct per resource,
// each depending on narrow interfaces. Errors are returned as *Error and
// rendered in one place (RenderErrors) into one JSON shape.
package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/streamspace/streamspace/agent/quota"
	"github.com/streamspace/streamspace/portal/store"
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

// The stable error codes, every one the portal answers with (the stream
// proxy's included). openapi.json lists the same set; a test keeps the two
// in step.
const (
	CodeUnauthenticated = "unauthenticated"
	CodeForbidden       = "forbidden"
	CodeNotFound        = "not_found"
	CodeInvalid         = "invalid_request"
	CodeQuotaExceeded   = "quota_exceeded"
	CodeConflict        = "conflict"
	CodeRateLimited     = "rate_limited"
	// CodePasswordChangeRequired: the account's password is one-time (the
	// bootstrap admin's); nothing but changing it is allowed
	// (POST /api/v1/users/me/password).
	CodePasswordChangeRequired = "password_change_required"
	// CodePayloadTooLarge: a request body over MaxBody.
	CodePayloadTooLarge = "payload_too_large"
	// CodeUnsupportedMediaType: a body that is not application/json (a
	// cross-site form cannot send JSON, so this also stops login CSRF).
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeNotRunning           = "not_running"
	CodeUpstream             = "upstream_unavailable"
	// CodeUpstreamRedirect: the session answered the stream with a
	// redirect, which the portal never follows.
	CodeUpstreamRedirect = "upstream_redirect"
	// CodeUpstreamNotSession: the Service or pod the portal would dial
	// exists but is not the session's own (a look-alike, or a status that
	// points elsewhere); it is never dialled.
	CodeUpstreamNotSession = "upstream_not_session"
	CodeUnavailable        = "unavailable"
	// CodeShuttingDown: the portal is draining before it stops; the
	// client connects again (to another replica, or this one restarted).
	CodeShuttingDown = "shutting_down"
	// CodeInternal: the cause is in the portal's log under the request ID,
	// never in the answer.
	CodeInternal = "internal"
)

// Errorf builds an *Error.
func Errorf(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// Fail records err on the request and stops it; RenderErrors writes it.
// An err that is not an *Error is an internal error.
func Fail(c *gin.Context, err error) {
	_ = c.Error(err)
	c.Abort()
}

// IdentityFailed marks a request error that is a failed User object write:
// the request still succeeds (see applyIdentity); the log says so.
const IdentityFailed = "identity"

// RenderErrors renders the first error a handler recorded, and logs what
// the client is not told: the cause of every 5xx (a client sees only an
// internal error's request ID) and side effects that failed under a
// successful answer.
func RenderErrors(log logr.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		id := c.GetString(RequestIDKey)
		var failed error
		for _, e := range c.Errors {
			if e.Meta == IdentityFailed {
				log.Error(e.Err, "User object not updated", "route", c.FullPath(), "requestID", id)
			} else if failed == nil {
				failed = e.Err
			}
		}
		if failed == nil {
			return
		}
		var e *Error
		switch {
		case errors.As(failed, &e):
		case store.IsUnavailable(failed):
			// The database is down or restarting: the client may try
			// again, as it would behind a load balancer without a ready
			// replica.
			e = Errorf(http.StatusServiceUnavailable, CodeUnavailable, "the portal's database cannot be reached; try again shortly (request "+id+")")
		default:
			e = Errorf(http.StatusInternalServerError, CodeInternal, "internal error; see the portal log (request "+id+")")
		}
		if e.Status >= http.StatusInternalServerError {
			log.Error(failed, "Request failed", "route", c.FullPath(), "requestID", id)
		}
		if !c.Writer.Written() {
			c.JSON(e.Status, gin.H{"error": e})
		}
	}
}

// RequestIDKey is where the request ID middleware keeps the ID.
const RequestIDKey = "request-id"

// errUserDisabled answers a start by a disabled user, whether the portal's
// quota check or the webhook's found it.
var errUserDisabled = Errorf(http.StatusForbidden, CodeForbidden, "your account is disabled")

// quotaError turns the quota check's refusal into the API's error, by its
// type; any other error is returned as it is.
func quotaError(err error) error {
	var ex *quota.ExceededError
	switch {
	case errors.As(err, &ex):
		return &Error{Status: http.StatusForbidden, Code: CodeQuotaExceeded, Message: ex.Error(),
			Fields: map[string]string{"limit": ex.Limit, "used": ex.Used, "max": ex.Max}}
	case errors.Is(err, quota.ErrUserDisabled):
		return errUserDisabled
	}
	return err
}

// kubeError maps what the API server refused by the status it answered
// with. The quota webhook's refusal is a Forbidden like an RBAC denial; the
// cause it carries tells them apart.
func kubeError(err error) error {
	switch quota.RefusalCause(err) {
	case quota.CauseQuotaExceeded:
		return Errorf(http.StatusForbidden, CodeQuotaExceeded, err.Error())
	case quota.CauseUserDisabled:
		return errUserDisabled
	}
	switch {
	case apierrors.IsInvalid(err):
		return Errorf(http.StatusBadRequest, CodeInvalid, err.Error())
	case apierrors.IsNotFound(err):
		return Errorf(http.StatusNotFound, CodeNotFound, err.Error())
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		return Errorf(http.StatusConflict, CodeConflict, err.Error())
	}
	return err
}
