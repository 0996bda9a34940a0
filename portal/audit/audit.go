// Package audit is the portal's one path into the audit log: the names of
// the actions it records, and the write that never fails silently.
package audit

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamspace/streamspace/portal/store"
)

// The actions the audit log records. They are stored as written here and
// filtered on by admins (GET /api/v1/admin/audit?action=), so a name, once
// shipped, does not change.
const (
	// sign-in
	Login       = "login"
	LoginFailed = "login.failed"
	Logout      = "logout"
	// TokenReuse: a refresh token was presented a second time (its whole
	// family is revoked).
	TokenReuse = "token.reuse"
	// PasswordChange: a person changed their own password.
	PasswordChange = "password.change"
	// LoginSignedOut: a login ended because its identity provider no
	// longer confirms the person (removed, disabled, unreachable).
	LoginSignedOut = "login.signed_out"

	// a caller's own API tokens
	TokenCreate = "token.create"
	TokenRevoke = "token.revoke"

	// sessions, by their user or by the platform
	SessionCreate     = "session.create"
	SessionDelete     = "session.delete"
	SessionWake       = "session.wake"
	SessionHibernate  = "session.hibernate"
	SessionEnd        = "session.end"
	SessionConnect    = "session.connect"
	SessionDisconnect = "session.disconnect"
	// SessionPolicyRefusal: the template's data policy dropped what a
	// stream carried (a clipboard transfer, a file).
	SessionPolicyRefusal = "session.policy_refusal"

	// admins
	AdminUserCreate = "admin.user.create"
	AdminUserUpdate = "admin.user.update"
	AdminUserDelete = "admin.user.delete"
	// AdminNameRelease: an admin let a deleted account's name be taken
	// again.
	AdminNameRelease     = "admin.user.release_name"
	AdminTokenRevoke     = "admin.token.revoke"
	AdminSyncReconcile   = "admin.sync.reconcile"
	AdminTemplatePropose = "admin.template.propose"
	AdminQuotaPropose    = "admin.quota.propose"
	// plugin changes, each proposed to Git (detail: "<mode> <url or commit>")
	AdminPluginInstall   = "admin.plugin.install"
	AdminPluginEnable    = "admin.plugin.enable"
	AdminPluginDisable   = "admin.plugin.disable"
	AdminPluginConfigure = "admin.plugin.configure"
	AdminPluginApprove   = "admin.plugin.approve"
	AdminPluginUninstall = "admin.plugin.uninstall"
)

// System is the actor the log names for what the platform did by itself
// (an idle session hibernated, a session ended at its maximum duration).
const System = "system"

// Writer stores audit events (the portal's store).
type Writer interface {
	Audit(ctx context.Context, e store.AuditEvent) error
}

// Log records audit events. The action an event describes has already
// happened and is not undone when its record cannot be written: a write
// that meets the database unreachable (a restart, a failover) is retried
// for RetryFor, and one that still fails is logged with the whole event
// and counted, never dropped silently. A nil *Log records nothing.
type Log struct {
	Writer Writer
	Log    logr.Logger
	// Failures counts lost records; nil: not counted.
	Failures prometheus.Counter
	// RetryFor bounds the retries of a write that found the database
	// unreachable; zero means DefaultRetryFor.
	RetryFor time.Duration
}

// DefaultRetryFor is long enough for a PostgreSQL restart or a managed
// database's failover, short enough that the request waiting on its record
// still answers well within a client's patience.
const DefaultRetryFor = 15 * time.Second

// NewLog is a Log writing to w whose lost records are counted on reg.
func NewLog(w Writer, log logr.Logger, reg prometheus.Registerer) (*Log, error) {
	failures := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "streamspace_portal_audit_write_failures_total",
		Help: "Audit records lost: the action happened but its record could not be written (the portal log has it).",
	})
	if err := reg.Register(failures); err != nil {
		return nil, err
	}
	return &Log{Writer: w, Log: log, Failures: failures}, nil
}

// Record writes e (the store stamps it now unless it has a time).
// keysAndValues add context to the log line of a failed write (the
// request ID).
func (l *Log) Record(ctx context.Context, e store.AuditEvent, keysAndValues ...any) {
	if l == nil || l.Writer == nil {
		return
	}
	if e.At.IsZero() {
		e.At = time.Now() // when it happened, not when a retry wrote it
	}
	retryFor := l.RetryFor
	if retryFor <= 0 {
		retryFor = DefaultRetryFor
	}
	deadline := time.Now().Add(retryFor)
	err := l.Writer.Audit(ctx, e)
	for wait := 100 * time.Millisecond; err != nil && store.IsUnavailable(err) && time.Now().Add(wait).Before(deadline); wait = min(2*wait, time.Second) {
		time.Sleep(wait)
		err = l.Writer.Audit(ctx, e)
	}
	if err == nil {
		return
	}
	if l.Failures != nil {
		l.Failures.Inc()
	}
	l.Log.Error(err, "Audit record lost", append([]any{"action", e.Action, "actor", e.Actor, "target", e.Target, "detail", e.Detail}, keysAndValues...)...)
}
