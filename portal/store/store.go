// Package store is the portal's persistent state: users with their local
// credentials, refresh tokens, the audit log, session history and the
// plugin event outbox with each plugin's delivery state. One
// interface, two databases: PostgreSQL in production and an embedded,
// pure-Go SQLite by default (no server to run).
package store

import (
	"context"
	"errors"
	"time"
)

// Errors every implementation returns, so callers can tell cases apart.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
	// ErrTokenReused is returned when a refresh token that was already
	// rotated or revoked is presented again: a sign of theft. The caller
	// revokes the token's whole family.
	ErrTokenReused = errors.New("refresh token already used")
)

// User is a person who can sign in.
type User struct {
	ID       int64
	Username string
	Display  string
	Email    string
	// PasswordHash is a bcrypt hash; empty for users who sign in by OIDC.
	PasswordHash string
	Role         string // "admin" or "user"
	Groups       []string
	Source       string // "local", "oidc" or "service"
	// Subject is the identity provider's stable ID of an SSO user
	// (issuer and subject claim); empty for others.
	Subject  string
	Disabled bool
	// MustChangePassword: the password was given, not chosen (the
	// bootstrap admin's); the account may do nothing but change it.
	MustChangePassword bool
	CreatedAt          time.Time
	UpdatedAt          time.Time
	LastLoginAt        *time.Time
}

// RefreshToken is stored by the hash of its value only.
type RefreshToken struct {
	Hash      string
	Family    string // tokens rotated from one login share a family
	Username  string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt *time.Time
}

// DeletedUser is what is left of a deleted account: its name stays taken
// (its home volume may still exist) until an admin releases it.
type DeletedUser struct {
	Username  string
	Source    string
	Subject   string
	DeletedAt time.Time
	DeletedBy string
}

// ProviderLogin is the identity provider's side of one SSO login (one
// refresh token family): the provider's refresh token, sealed by the
// caller, and when the provider last confirmed the person.
type ProviderLogin struct {
	Family       string
	Username     string
	RefreshToken string
	CheckedAt    time.Time
}

// APIToken is a long-lived credential for automation: a person's own
// script, or a service account's. Only the hash of its value is stored; the
// value is shown once, when it is created.
type APIToken struct {
	ID         string // public, names the token in lists and URLs
	Name       string
	Username   string // whose rights the token carries
	Hash       string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// AuditEvent is one line of the audit log: who did what, to what, when and
// from where.
type AuditEvent struct {
	ID         int64
	At         time.Time
	Actor      string
	Action     string // e.g. login, logout, session.create, session.wake
	Target     string
	RemoteAddr string
	Detail     string
}

// AuditFilter narrows an audit query; zero values match everything.
type AuditFilter struct {
	Actor  string
	Action string
	Since  time.Time
	Limit  int
}

// SessionRecord is one session's history, for analytics.
type SessionRecord struct {
	Session   string
	Username  string
	Template  string
	StartedAt time.Time
	EndedAt   *time.Time
	EndReason string
	// Hibernations and HibernatedSeconds measure what hibernation saved.
	Hibernations      int
	HibernatedSeconds int64
}

// OutboxEvent is one platform event in the plugin event outbox.
type OutboxEvent struct {
	// ID is the outbox's sequence number, set by RecordEvent: ids grow in
	// the order events are recorded and are never reused.
	ID      int64
	Type    string
	Subject string
	// At is when it happened; RecordedAt when the outbox got it.
	At         time.Time
	RecordedAt time.Time
	// Data is the event's JSON payload.
	Data []byte
	// Key, when set, makes recording idempotent: an event whose Key was
	// recorded before is the same event seen again, not a new one.
	Key string
}

// PluginDelivery is the delivery state of one installed plugin.
type PluginDelivery struct {
	Plugin string
	// Delivered and Failed count events since the plugin was installed
	// (failed: given up on, permanently or after the last retry);
	// Pending counts events recorded for it and not done yet.
	Delivered, Failed, Pending int64
	// Attempts made on the event being retried now (0: none failing).
	Attempts int
	// LastError of the latest failed attempt ("" once one succeeds).
	LastError   string
	LastAttempt *time.Time
	LastSuccess *time.Time
}

// DeliveryProgress is what a dispatcher reports for one plugin.
type DeliveryProgress struct {
	// Through: every event with an id up to it is done for the plugin.
	Through int64
	// Delivered and Failed are added to the plugin's counts.
	Delivered, Failed int64
	Attempts          int
	LastError         string
	// LastAttempt and LastSuccess replace the stored ones when set.
	LastAttempt, LastSuccess *time.Time
}

// Outbox is the plugin event outbox and each plugin's place in it.
type Outbox interface {
	// RecordEvent appends e and sets its ID and RecordedAt; it reports
	// false (and records nothing) when e.Key was recorded before.
	RecordEvent(ctx context.Context, e *OutboxEvent) (bool, error)
	// RecordEvents appends several events at once (one transaction); an
	// event whose Key was recorded before is left with ID 0.
	RecordEvents(ctx context.Context, es []*OutboxEvent) error
	// EventsAfter returns up to limit events with an id above after and
	// one of types, by id.
	EventsAfter(ctx context.Context, after int64, types []string, limit int) ([]OutboxEvent, error)
	// LastEventID is the highest id recorded (0: none).
	LastEventID(ctx context.Context) (int64, error)
	// OpenEvents returns, by id, the events of type opened recorded at or
	// after since whose subject has no event keyed subject+closedKeySuffix:
	// what began and, as far as the outbox knows, never ended (a session
	// created and never deleted).
	OpenEvents(ctx context.Context, opened, closedKeySuffix string, since time.Time) ([]OutboxEvent, error)

	// StartPluginDelivery makes plugin receive types from now on and
	// returns the id it has done everything through: a plugin new or
	// stopped before starts at the newest event (what happened before
	// its install or while it was off is not replayed); a started one
	// keeps its place (a portal restart).
	StartPluginDelivery(ctx context.Context, plugin string, types []string) (int64, error)
	// StopPluginDelivery marks plugin off (disabled): it keeps its counts.
	StopPluginDelivery(ctx context.Context, plugin string) error
	// ForgetPlugin drops plugin's delivery state (uninstalled).
	ForgetPlugin(ctx context.Context, plugin string) error
	SavePluginDelivery(ctx context.Context, plugin string, p DeliveryProgress) error
	// PluginDeliveries returns every plugin's delivery state, by name.
	PluginDeliveries(ctx context.Context) ([]PluginDelivery, error)
	// PruneEvents deletes events recorded before a time that every
	// started plugin is done with, and beyond that the oldest events
	// past the newest keep, whatever their state; it returns how many
	// went.
	PruneEvents(ctx context.Context, before time.Time, keep int64) (int64, error)
}

// Store is the portal's persistence.
type Store interface {
	Outbox

	CreateUser(ctx context.Context, u *User) error
	UserByName(ctx context.Context, username string) (*User, error)
	ListUsers(ctx context.Context) ([]User, error)
	UpdateUser(ctx context.Context, u *User) error
	RecordLogin(ctx context.Context, username string, at time.Time) error
	// DeleteUser removes an account, revokes its tokens and keeps its name
	// as a DeletedUser; ErrNotFound when there is no such account.
	DeleteUser(ctx context.Context, username, by string, at time.Time) error
	// DeletedUser returns the tombstone of a name or ErrNotFound.
	DeletedUser(ctx context.Context, username string) (*DeletedUser, error)
	ListDeletedUsers(ctx context.Context) ([]DeletedUser, error)
	// ReleaseDeletedUser frees a deleted account's name; ErrNotFound when
	// it holds none.
	ReleaseDeletedUser(ctx context.Context, username string) error

	// SaveProviderLogin creates or replaces the provider's side of a login.
	SaveProviderLogin(ctx context.Context, l ProviderLogin) error
	ProviderLogin(ctx context.Context, family string) (*ProviderLogin, error)
	DeleteProviderLogin(ctx context.Context, family string) error

	SaveRefreshToken(ctx context.Context, t RefreshToken) error
	RefreshTokenByHash(ctx context.Context, hash string) (*RefreshToken, error)
	// RotateRefreshToken revokes oldHash and saves next in one
	// transaction; ErrTokenReused when oldHash was already revoked.
	RotateRefreshToken(ctx context.Context, oldHash string, next RefreshToken, at time.Time) error
	RevokeFamily(ctx context.Context, family string, at time.Time) error
	RevokeUserTokens(ctx context.Context, username string, at time.Time) error

	CreateAPIToken(ctx context.Context, t APIToken) error
	APITokenByHash(ctx context.Context, hash string) (*APIToken, error)
	// ListAPITokens returns a user's tokens, revoked ones included, newest
	// first.
	ListAPITokens(ctx context.Context, username string) ([]APIToken, error)
	// RevokeAPIToken revokes one of username's tokens; ErrNotFound when
	// username holds no token with that ID.
	RevokeAPIToken(ctx context.Context, username, id string, at time.Time) error
	TouchAPIToken(ctx context.Context, id string, at time.Time) error

	// SpendTicket records a one-time apps ticket as spent, for every
	// portal replica sharing the store: ErrConflict when it was spent
	// already. It is remembered until keepUntil, then forgotten.
	SpendTicket(ctx context.Context, id string, keepUntil, now time.Time) error

	Audit(ctx context.Context, e AuditEvent) error
	AuditLog(ctx context.Context, f AuditFilter) ([]AuditEvent, error)

	StartSession(ctx context.Context, r SessionRecord) error
	RecordHibernation(ctx context.Context, session string, seconds int64) error
	EndSession(ctx context.Context, session string, at time.Time, reason string) error
	SessionHistory(ctx context.Context, since time.Time) ([]SessionRecord, error)

	// Ping checks the database answers (readiness).
	Ping(ctx context.Context) error
	Close() error
}
