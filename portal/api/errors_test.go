package api

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/go-logr/logr/funcr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/streamspace/streamspace/agent/quota"
)

var sessions = schema.GroupResource{Group: "stream.space", Resource: "sessions"}

// webhookRefusal is the quota webhook's refusal as the API server hands it
// on: the webhook's status whole, its message prefixed.
func webhookRefusal(cause metav1.CauseType, msg string) error {
	se := apierrors.NewForbidden(sessions, "bob-firefox-1a2b3", errors.New(msg))
	se.ErrStatus.Message = `admission webhook "vsession.stream.space" denied the request: ` + se.ErrStatus.Message
	se.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: cause, Message: msg}}
	return se
}

func TestKubeError_mapsByStatusNeverByText(t *testing.T) {
	quotaRefusal := webhookRefusal(quota.CauseQuotaExceeded, `quota "default" exceeded: maxRunningSessions: 2 running, limit 2`)
	for _, tc := range []struct {
		name   string
		err    error
		status int // 0: not an *Error, so an internal error
		code   string
	}{
		{"the webhook's quota refusal", quotaRefusal, http.StatusForbidden, CodeQuotaExceeded},
		{"the webhook's quota refusal, wrapped", fmt.Errorf("wake: %w", quotaRefusal), http.StatusForbidden, CodeQuotaExceeded},
		{"the webhook's disabled user", webhookRefusal(quota.CauseUserDisabled, "user is disabled: bob"), http.StatusForbidden, CodeForbidden},
		// the portal's own service account refused: its text names quotas,
		// it is no quota refusal
		{"an RBAC denial about quotas", apierrors.NewForbidden(schema.GroupResource{Group: "stream.space", Resource: "quotas"}, "default",
			errors.New(`User "system:serviceaccount:streamspace:portal" cannot get resource "quotas"`)), 0, ""},
		{"a Forbidden with another cause", webhookRefusal("FieldValueForbidden", "quota"), 0, ""},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Group: "stream.space", Kind: "Session"}, "s", nil), http.StatusBadRequest, CodeInvalid},
		{"not found", apierrors.NewNotFound(sessions, "s"), http.StatusNotFound, CodeNotFound},
		{"conflict", apierrors.NewConflict(sessions, "s", errors.New("changed")), http.StatusConflict, CodeConflict},
		{"already exists", apierrors.NewAlreadyExists(sessions, "s"), http.StatusConflict, CodeConflict},
		{"anything else", errors.New("connection refused"), 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := kubeError(tc.err)
			var e *Error
			if !errors.As(got, &e) {
				if tc.status != 0 {
					t.Fatalf("%v: not mapped, want %d %s", got, tc.status, tc.code)
				}
				return
			}
			if tc.status == 0 || e.Status != tc.status || e.Code != tc.code {
				t.Fatalf("mapped to %d %s, want %d %q", e.Status, e.Code, tc.status, tc.code)
			}
			if e.Code == CodeQuotaExceeded && e.Message != tc.err.Error() {
				t.Errorf("message %q, want the API server's", e.Message)
			}
		})
	}
}

func TestQuotaError_thePreCheckMapsAsTheWebhook(t *testing.T) {
	pre := quotaError(&quota.ExceededError{Quota: "default", Limit: "maxRunningSessions", Used: "2 running", Max: "2"})
	hook := kubeError(webhookRefusal(quota.CauseQuotaExceeded, "exceeded"))
	for _, err := range []error{pre, hook} {
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusForbidden || e.Code != CodeQuotaExceeded {
			t.Errorf("%v: want 403 quota_exceeded", err)
		}
	}
	if e := pre.(*Error); e.Fields["limit"] != "maxRunningSessions" || e.Fields["max"] != "2" {
		t.Errorf("pre-check fields: %v", e.Fields)
	}
	disabled := quotaError(fmt.Errorf("%w: bob", quota.ErrUserDisabled))
	if disabled != kubeError(webhookRefusal(quota.CauseUserDisabled, "user is disabled: bob")) {
		t.Errorf("a disabled user: pre-check %v, webhook differs", disabled)
	}
}

// serveOne runs handler behind RenderErrors, logging into a buffer.
func serveOne(handler gin.HandlerFunc) (*httptest.ResponseRecorder, string) {
	gin.SetMode(gin.ReleaseMode)
	var logged strings.Builder
	log := funcr.New(func(prefix, args string) { logged.WriteString(args + "\n") }, funcr.Options{})
	r := gin.New()
	r.Use(func(c *gin.Context) { c.Set(RequestIDKey, "req-42") }, RenderErrors(log))
	r.GET("/x", handler)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/x", nil))
	return w, logged.String()
}

func TestRenderErrors_internalErrorLogsItsCauseAndShowsOnlyTheRequestID(t *testing.T) {
	w, logged := serveOne(func(c *gin.Context) {
		Fail(c, errors.New("read users: dial tcp 10.0.0.7:5432: password authentication failed for user \"portal\""))
	})
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", w.Code)
	}
	body := w.Body.String()
	if want := `{"error":{"code":"internal","message":"internal error; see the portal log (request req-42)"}}`; body != want {
		t.Errorf("body %s, want %s", body, want)
	}
	if !strings.Contains(logged, "password authentication failed") || !strings.Contains(logged, `"requestID"="req-42"`) {
		t.Errorf("the cause and request ID are not in the log: %s", logged)
	}
}

func TestRenderErrors_typedErrorIsShown_sideEffectFailureIsLogged(t *testing.T) {
	w, logged := serveOne(func(c *gin.Context) {
		Fail(c, Errorf(http.StatusConflict, CodeConflict, "the session was terminated"))
	})
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), `"code":"conflict"`) || logged != "" {
		t.Errorf("conflict: %d %s, logged %q", w.Code, w.Body.String(), logged)
	}
	w, logged = serveOne(func(c *gin.Context) {
		_ = c.Error(errors.New("users.stream.space \"bob\" is forbidden")).SetMeta(IdentityFailed)
		c.JSON(http.StatusOK, gin.H{"ok": true})
	})
	if w.Code != http.StatusOK || !strings.Contains(logged, "User object not updated") || !strings.Contains(logged, "req-42") {
		t.Errorf("identity failure: %d, logged %q", w.Code, logged)
	}
}

// The database unreachable is "try again" (503), not a fault of the
// portal (500); the answer still names no address.
func TestRenderErrors_databaseUnreachableIs503Unavailable(t *testing.T) {
	w, logged := serveOne(func(c *gin.Context) {
		Fail(c, fmt.Errorf("read users: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}))
	})
	body := w.Body.String()
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"unavailable"`) || !strings.Contains(body, "req-42") {
		t.Errorf("answered %d %s, want 503 unavailable with the request ID", w.Code, body)
	}
	if strings.Contains(body, "dial") || !strings.Contains(logged, "connection refused") {
		t.Errorf("the cause must be logged, not answered: body %s, log %s", body, logged)
	}
}
