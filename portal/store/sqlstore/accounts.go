package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/streamspace/streamspace/portal/store"
)

// DeleteUser removes the account, revokes every token it holds and keeps
// its name as a tombstone, in one transaction: a half-deleted account
// would either keep signing in or free its name.
func (s *Store) DeleteUser(ctx context.Context, username, by string, at time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var source, subject string
	err = tx.QueryRowContext(ctx, s.q(`SELECT source, subject FROM users WHERE username = ?`), username).Scan(&source, &subject)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("user %s: %w", username, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	at = at.UTC()
	for _, stmt := range []struct {
		query string
		args  []any
	}{
		{`INSERT INTO deleted_users (username, source, subject, deleted_at, deleted_by) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (username) DO UPDATE SET source = excluded.source, subject = excluded.subject, deleted_at = excluded.deleted_at, deleted_by = excluded.deleted_by`,
			[]any{username, source, subject, at, by}},
		{`UPDATE refresh_tokens SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL`, []any{at, username}},
		{`UPDATE api_tokens SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL`, []any{at, username}},
		{`DELETE FROM provider_logins WHERE username = ?`, []any{username}},
		{`DELETE FROM users WHERE username = ?`, []any{username}},
	} {
		if _, err := tx.ExecContext(ctx, s.q(stmt.query), stmt.args...); err != nil {
			return fmt.Errorf("delete user %s: %w", username, err)
		}
	}
	return tx.Commit()
}

const deletedUserColumns = "username, source, subject, deleted_at, deleted_by"

func scanDeletedUser(row scanner) (*store.DeletedUser, error) {
	d := &store.DeletedUser{}
	if err := row.Scan(&d.Username, &d.Source, &d.Subject, &d.DeletedAt, &d.DeletedBy); err != nil {
		return nil, err
	}
	d.DeletedAt = d.DeletedAt.UTC()
	return d, nil
}

// DeletedUser returns the tombstone of username or store.ErrNotFound.
func (s *Store) DeletedUser(ctx context.Context, username string) (*store.DeletedUser, error) {
	d, err := scanDeletedUser(s.db.QueryRowContext(ctx, s.q(`SELECT `+deletedUserColumns+` FROM deleted_users WHERE username = ?`), username))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("deleted user %s: %w", username, store.ErrNotFound)
	}
	return d, err
}

// ListDeletedUsers returns every tombstone by name.
func (s *Store) ListDeletedUsers(ctx context.Context) ([]store.DeletedUser, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deletedUserColumns+` FROM deleted_users ORDER BY username`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.DeletedUser
	for rows.Next() {
		d, err := scanDeletedUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}

// ReleaseDeletedUser removes a tombstone.
func (s *Store) ReleaseDeletedUser(ctx context.Context, username string) error {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM deleted_users WHERE username = ?`), username)
	return oneRow(res, err, "deleted user "+username)
}

// SaveProviderLogin creates or replaces the provider's side of a login.
func (s *Store) SaveProviderLogin(ctx context.Context, l store.ProviderLogin) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO provider_logins (family, username, refresh_token, checked_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (family) DO UPDATE SET username = excluded.username, refresh_token = excluded.refresh_token, checked_at = excluded.checked_at`),
		l.Family, l.Username, l.RefreshToken, l.CheckedAt.UTC())
	return err
}

// ProviderLogin returns the provider's side of a login or store.ErrNotFound.
func (s *Store) ProviderLogin(ctx context.Context, family string) (*store.ProviderLogin, error) {
	l := &store.ProviderLogin{Family: family}
	err := s.db.QueryRowContext(ctx, s.q(`SELECT username, refresh_token, checked_at FROM provider_logins WHERE family = ?`), family).
		Scan(&l.Username, &l.RefreshToken, &l.CheckedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("provider login: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	l.CheckedAt = l.CheckedAt.UTC()
	return l, nil
}

// DeleteProviderLogin forgets the provider's side of a login.
func (s *Store) DeleteProviderLogin(ctx context.Context, family string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM provider_logins WHERE family = ?`), family)
	return err
}
