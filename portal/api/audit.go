package api

import (
	"context"

	"github.com/gin-gonic/gin"

	"github.com/streamspace/streamspace/portal/audit"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/store"
)

// audited records an action of the signed-in caller.
func audited(c *gin.Context, l *audit.Log, action, target, detail string) {
	RecordAudit(c, l, auth.Principal(c).Subject, action, target, detail)
}

// RecordAudit records an action of the request c by actor (the caller, or
// at sign-in the name that was tried). The write outlives the request: what
// was done is recorded even when the client has gone.
func RecordAudit(c *gin.Context, l *audit.Log, actor, action, target, detail string) {
	l.Record(context.WithoutCancel(c.Request.Context()), store.AuditEvent{Actor: actor, Action: action, Target: target, Detail: detail, RemoteAddr: c.ClientIP()},
		"requestID", c.GetString(RequestIDKey))
}
