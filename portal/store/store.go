// Package store is the portal's persistent state: users with their local
// credentials, refresh tokens, the audit log and session history. One
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

// Store is the portal's persistence.
type Store interface {
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
