// Package sqlstore implements store.Store over database/sql. The SQLite and
// PostgreSQL packages give it a connection, their migrations and the few
// things that differ between the two dialects.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/streamspace/streamspace/portal/store"
)

// Dialect is what differs between databases.
type Dialect struct {
	// Numbered placeholders ($1, $2 …) instead of "?".
	Numbered bool
	// IsUniqueViolation recognises a unique-constraint error.
	IsUniqueViolation func(error) bool
	// LockOutbox, run first in a transaction, serialises outbox inserts
	// until it ends (so ids commit in order); empty where the database
	// has one writer anyway.
	LockOutbox string
	// InsertEvents, when set, writes the rows of RecordEvents (es in
	// order, all recorded at recorded) in one transaction under the
	// outbox lock, ON CONFLICT (dedup_key) DO NOTHING, and returns the
	// rows inserted; without it RecordEvents runs a transaction of
	// multi-row INSERTs through database/sql.
	InsertEvents func(ctx context.Context, db *sql.DB, es []*store.OutboxEvent, recorded time.Time) ([]Inserted, error)
}

// Store is a store.Store on a *sql.DB.
type Store struct {
	db *sql.DB
	d  Dialect
}

var _ store.Store = (*Store)(nil)

// New wraps an open, migrated database.
func New(db *sql.DB, d Dialect) *Store { return &Store{db: db, d: d} }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// q rewrites "?" placeholders for dialects that number them.
func (s *Store) q(query string) string {
	if !s.d.Numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *Store) conflict(err error, what string) error {
	if err != nil && s.d.IsUniqueViolation(err) {
		return fmt.Errorf("%s: %w", what, store.ErrConflict)
	}
	return err
}

const userColumns = "id, username, display, email, password_hash, role, groups, source, subject, disabled, must_change_password, created_at, updated_at, last_login_at"

type scanner interface{ Scan(...any) error }

func scanUser(row scanner) (*store.User, error) {
	u := &store.User{}
	var groups string
	var last sql.NullTime
	if err := row.Scan(&u.ID, &u.Username, &u.Display, &u.Email, &u.PasswordHash, &u.Role, &groups, &u.Source, &u.Subject, &u.Disabled, &u.MustChangePassword, &u.CreatedAt, &u.UpdatedAt, &last); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(groups), &u.Groups); err != nil {
		return nil, fmt.Errorf("groups of %s: %w", u.Username, err)
	}
	if last.Valid {
		t := last.Time.UTC()
		u.LastLoginAt = &t
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, nil
}

func groupsJSON(g []string) string {
	if g == nil {
		g = []string{}
	}
	b, _ := json.Marshal(g)
	return string(b)
}

// CreateUser inserts u and sets its ID and timestamps.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	now := time.Now().UTC()
	u.CreatedAt, u.UpdatedAt = now, now
	query := s.q(`INSERT INTO users (username, display, email, password_hash, role, groups, source, subject, disabled, must_change_password, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	err := s.db.QueryRowContext(ctx, query, u.Username, u.Display, u.Email, u.PasswordHash, u.Role, groupsJSON(u.Groups), u.Source, u.Subject, u.Disabled, u.MustChangePassword, now, now).Scan(&u.ID)
	return s.conflict(err, "user "+u.Username)
}

// UserByName returns the user or store.ErrNotFound.
func (s *Store) UserByName(ctx context.Context, username string) (*store.User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE username = ?`), username))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("user %s: %w", username, store.ErrNotFound)
	}
	return u, err
}

// ListUsers returns every user by name.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY username`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}

// UpdateUser writes every field of u but its name and creation time.
func (s *Store) UpdateUser(ctx context.Context, u *store.User) error {
	u.UpdatedAt = time.Now().UTC()
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE users SET display = ?, email = ?, password_hash = ?, role = ?, groups = ?, source = ?, subject = ?, disabled = ?, must_change_password = ?, updated_at = ?
		WHERE username = ?`), u.Display, u.Email, u.PasswordHash, u.Role, groupsJSON(u.Groups), u.Source, u.Subject, u.Disabled, u.MustChangePassword, u.UpdatedAt, u.Username)
	return oneRow(res, err, "user "+u.Username)
}

// RecordLogin sets the user's last login time.
func (s *Store) RecordLogin(ctx context.Context, username string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE users SET last_login_at = ? WHERE username = ?`), at.UTC(), username)
	return oneRow(res, err, "user "+username)
}

func oneRow(res sql.Result, err error, what string) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// SaveRefreshToken stores a new token.
func (s *Store) SaveRefreshToken(ctx context.Context, t store.RefreshToken) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO refresh_tokens (hash, family, username, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`),
		t.Hash, t.Family, t.Username, t.CreatedAt.UTC(), t.ExpiresAt.UTC())
	return s.conflict(err, "refresh token")
}

// RefreshTokenByHash returns the token or store.ErrNotFound.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash string) (*store.RefreshToken, error) {
	t := &store.RefreshToken{Hash: hash}
	var revoked sql.NullTime
	err := s.db.QueryRowContext(ctx, s.q(`SELECT family, username, created_at, expires_at, revoked_at FROM refresh_tokens WHERE hash = ?`), hash).
		Scan(&t.Family, &t.Username, &t.CreatedAt, &t.ExpiresAt, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("refresh token: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	if revoked.Valid {
		r := revoked.Time.UTC()
		t.RevokedAt = &r
	}
	return t, nil
}

// RotateRefreshToken revokes the old token and stores the next one, in one
// transaction; a token revoked already means reuse.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, next store.RefreshToken, at time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	// Only one of two concurrent rotations of the same token can flip it.
	res, err := tx.ExecContext(ctx, s.q(`UPDATE refresh_tokens SET revoked_at = ? WHERE hash = ? AND revoked_at IS NULL`), at.UTC(), oldHash)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var exists int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM refresh_tokens WHERE hash = ?`), oldHash).Scan(&exists); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("refresh token: %w", store.ErrNotFound)
		}
		return store.ErrTokenReused
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO refresh_tokens (hash, family, username, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`),
		next.Hash, next.Family, next.Username, next.CreatedAt.UTC(), next.ExpiresAt.UTC()); err != nil {
		return s.conflict(err, "refresh token")
	}
	return tx.Commit()
}

// RevokeFamily revokes every token rotated from one login.
func (s *Store) RevokeFamily(ctx context.Context, family string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL`), at.UTC(), family)
	return err
}

// RevokeUserTokens revokes every token of a user (logout everywhere).
func (s *Store) RevokeUserTokens(ctx context.Context, username string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE refresh_tokens SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL`), at.UTC(), username)
	return err
}

// Audit appends an event.
func (s *Store) Audit(ctx context.Context, e store.AuditEvent) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO audit_log (at, actor, action, target, remote_addr, detail) VALUES (?, ?, ?, ?, ?, ?)`),
		e.At.UTC(), e.Actor, e.Action, e.Target, e.RemoteAddr, e.Detail)
	return err
}

// AuditLog returns matching events, newest first.
func (s *Store) AuditLog(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	query := `SELECT id, at, actor, action, target, remote_addr, detail FROM audit_log WHERE at >= ?`
	args := []any{f.Since.UTC()}
	if f.Actor != "" {
		query += ` AND actor = ?`
		args = append(args, f.Actor)
	}
	if f.Action != "" {
		query += ` AND action = ?`
		args = append(args, f.Action)
	}
	limit := f.Limit
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	query += ` ORDER BY at DESC, id DESC LIMIT ` + strconv.Itoa(limit)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.AuditEvent
	for rows.Next() {
		var e store.AuditEvent
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.Target, &e.RemoteAddr, &e.Detail); err != nil {
			return nil, err
		}
		e.At = e.At.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// StartSession records a session's start; starting it again is a no-op.
func (s *Store) StartSession(ctx context.Context, r store.SessionRecord) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO session_history (session, username, template, started_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (session) DO NOTHING`), r.Session, r.Username, r.Template, r.StartedAt.UTC())
	return err
}

// RecordHibernation adds one hibernation of the given length.
func (s *Store) RecordHibernation(ctx context.Context, session string, seconds int64) error {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE session_history SET hibernations = hibernations + 1, hibernated_seconds = hibernated_seconds + ? WHERE session = ?`), seconds, session)
	return oneRow(res, err, "session "+session)
}

// EndSession records the end of a session once; later calls keep the
// first end.
func (s *Store) EndSession(ctx context.Context, session string, at time.Time, reason string) error {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE session_history SET ended_at = ?, end_reason = ? WHERE session = ? AND ended_at IS NULL`), at.UTC(), reason, session)
	if err == nil {
		if n, _ := res.RowsAffected(); n == 0 {
			var exists int
			if err := s.db.QueryRowContext(ctx, s.q(`SELECT 1 FROM session_history WHERE session = ?`), session).Scan(&exists); errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("session %s: %w", session, store.ErrNotFound)
			}
		}
	}
	return err
}

// SessionHistory returns the sessions started since a time, oldest first.
func (s *Store) SessionHistory(ctx context.Context, since time.Time) ([]store.SessionRecord, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT session, username, template, started_at, ended_at, end_reason, hibernations, hibernated_seconds
		FROM session_history WHERE started_at >= ? ORDER BY started_at, session`), since.UTC())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.SessionRecord
	for rows.Next() {
		var r store.SessionRecord
		var ended sql.NullTime
		if err := rows.Scan(&r.Session, &r.Username, &r.Template, &r.StartedAt, &ended, &r.EndReason, &r.Hibernations, &r.HibernatedSeconds); err != nil {
			return nil, err
		}
		r.StartedAt = r.StartedAt.UTC()
		if ended.Valid {
			t := ended.Time.UTC()
			r.EndedAt = &t
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

const apiTokenColumns = "id, name, username, hash, created_at, expires_at, last_used_at, revoked_at"

func scanAPIToken(row scanner) (*store.APIToken, error) {
	t := &store.APIToken{}
	var expires, used, revoked sql.NullTime
	if err := row.Scan(&t.ID, &t.Name, &t.Username, &t.Hash, &t.CreatedAt, &expires, &used, &revoked); err != nil {
		return nil, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = nullTime(expires), nullTime(used), nullTime(revoked)
	return t, nil
}

func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

func timeOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

// CreateAPIToken stores a new API token.
func (s *Store) CreateAPIToken(ctx context.Context, t store.APIToken) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO api_tokens (id, name, username, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`),
		t.ID, t.Name, t.Username, t.Hash, t.CreatedAt.UTC(), timeOrNil(t.ExpiresAt))
	return s.conflict(err, "API token "+t.ID)
}

// APITokenByHash returns the token with that hash or store.ErrNotFound.
func (s *Store) APITokenByHash(ctx context.Context, hash string) (*store.APIToken, error) {
	t, err := scanAPIToken(s.db.QueryRowContext(ctx, s.q(`SELECT `+apiTokenColumns+` FROM api_tokens WHERE hash = ?`), hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("API token: %w", store.ErrNotFound)
	}
	return t, err
}

// ListAPITokens returns a user's tokens, newest first.
func (s *Store) ListAPITokens(ctx context.Context, username string) ([]store.APIToken, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+apiTokenColumns+` FROM api_tokens WHERE username = ? ORDER BY created_at DESC, id`), username)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.APIToken
	for rows.Next() {
		t, err := scanAPIToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

// RevokeAPIToken revokes one of username's tokens.
func (s *Store) RevokeAPIToken(ctx context.Context, username, id string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND username = ?`), at.UTC(), id, username)
	return oneRow(res, err, "API token "+id)
}

// TouchAPIToken records when a token was last used.
func (s *Store) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE api_tokens SET last_used_at = ? WHERE id = ?`), at.UTC(), id)
	return oneRow(res, err, "API token "+id)
}
