// Package postgres is the production store on PostgreSQL (pgx), migrated
// at open.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/pressly/goose/v3"

	"github.com/streamspace/streamspace/portal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Open connects to dsn (postgres://… or key=value) and migrates the
// database to the current schema.
func Open(ctx context.Context, dsn string) (*sqlstore.Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub)
	if err == nil {
		_, err = p.Up(ctx)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("migrate postgres: %w", err)
	}
	return sqlstore.New(db, sqlstore.Dialect{Numbered: true, IsUniqueViolation: isUnique, LockOutbox: lockOutbox}), nil
}

// lockOutbox is a transaction-scoped advisory lock (released at commit
// or rollback) that orders outbox inserts; the key is arbitrary, fixed.
const lockOutbox = `SELECT pg_advisory_xact_lock(7316240501)`

func isUnique(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}
