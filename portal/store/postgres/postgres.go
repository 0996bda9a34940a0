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
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // and the database/sql driver "pgx"
	"github.com/pressly/goose/v3"

	"github.com/streamspace/streamspace/portal/store"
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
	return OpenDB(ctx, db)
}

// OpenDB migrates the database behind db (a "pgx" database/sql handle,
// e.g. from stdlib.OpenDB with a tracer) and returns the store on it; it
// closes db when it fails.
func OpenDB(ctx context.Context, db *sql.DB) (*sqlstore.Store, error) {
	// database/sql keeps 2 idle connections by default: with the
	// dispatcher, the outbox recorder and requests at once, every
	// connection beyond them would be closed after its query and opened
	// again for the next (a backend forked, statements prepared again).
	db.SetMaxIdleConns(maxIdleConns)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		_ = db.Close()
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
	return sqlstore.New(db, sqlstore.Dialect{Numbered: true, IsUniqueViolation: isUnique, LockOutbox: lockOutbox,
		InsertEvents: insertEvents}), nil
}

// maxIdleConns is how many connections stay open between queries.
const maxIdleConns = 16

// lockOutbox is a transaction-scoped advisory lock (released at commit
// or rollback) that orders outbox inserts; the key is arbitrary, fixed.
const lockOutbox = `SELECT pg_advisory_xact_lock(7316240501)`

// insertOutbox writes a batch of events from arrays, in array order
// (ordinality), skipping keys recorded before or earlier in the batch.
const insertOutbox = `INSERT INTO plugin_events (type, subject, at, recorded_at, data, dedup_key)
	SELECT e.type, e.subject, e.at, $4, e.data, e.dedup_key
	FROM unnest($1::text[], $2::text[], $3::timestamptz[], $5::text[], $6::text[]) WITH ORDINALITY AS e(type, subject, at, data, dedup_key, n)
	ORDER BY e.n
	ON CONFLICT (dedup_key) DO NOTHING
	RETURNING id, COALESCE(dedup_key, '')`

// insertEvents records a batch in one round trip: the outbox lock and
// the insert go out together as a pgx pipeline, which PostgreSQL runs as
// one implicit transaction (the lock is held from before the first id is
// drawn until the commit, and released by it). The statement text is the
// same whatever the batch size, so it is prepared once per connection.
func insertEvents(ctx context.Context, db *sql.DB, es []*store.OutboxEvent, recorded time.Time) ([]sqlstore.Inserted, error) {
	types := make([]string, len(es))
	subjects := make([]string, len(es))
	ats := make([]time.Time, len(es))
	data := make([]string, len(es))
	keys := make([]*string, len(es))
	for i, e := range es {
		types[i], subjects[i], ats[i], data[i] = e.Type, e.Subject, e.At.UTC(), string(e.Data)
		if e.Key != "" {
			keys[i] = &e.Key
		}
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var got []sqlstore.Inserted
	err = conn.Raw(func(dc any) error {
		c := dc.(*stdlib.Conn).Conn()
		b := &pgx.Batch{}
		b.Queue(lockOutbox)
		b.Queue(insertOutbox, types, subjects, ats, recorded, data, keys)
		res := c.SendBatch(ctx, b)
		if _, err := res.Exec(); err != nil {
			_ = res.Close()
			return fmt.Errorf("lock outbox: %w", err)
		}
		rows, err := res.Query()
		if err == nil {
			var r sqlstore.Inserted
			_, err = pgx.ForEachRow(rows, []any{&r.ID, &r.Key}, func() error {
				got = append(got, r)
				return nil
			})
		}
		if cerr := res.Close(); err == nil {
			err = cerr // the implicit transaction's commit
		}
		return err
	})
	return got, err
}

func isUnique(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}
