package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/streamspace/streamspace/portal/store"
)

// RecordEvent appends e to the outbox (RecordEvents of one).
func (s *Store) RecordEvent(ctx context.Context, e *store.OutboxEvent) (bool, error) {
	if err := s.RecordEvents(ctx, []*store.OutboxEvent{e}); err != nil {
		return false, err
	}
	return e.ID != 0, nil
}

// RecordEvents appends es with one INSERT of all their rows, in one
// transaction (one commit, one sync to disk, for many events); the
// dialect's InsertEvents does the same in one round trip. The rows are
// written under the dialect's outbox lock so that ids commit in the order
// they are drawn: otherwise a reader could see id N+1 committed before
// id N and move past N for good.
func (s *Store) RecordEvents(ctx context.Context, es []*store.OutboxEvent) error {
	for _, e := range es {
		e.ID = 0
	}
	if len(es) == 0 {
		return nil
	}
	recorded := time.Now().UTC()
	var got []Inserted
	var err error
	if s.d.InsertEvents != nil {
		got, err = s.d.InsertEvents(ctx, s.db, es, recorded)
	} else {
		got, err = s.insertEvents(ctx, es, recorded)
	}
	if err == nil {
		err = assignIDs(es, got)
	}
	if err != nil {
		for _, e := range es {
			e.ID = 0
		}
		return fmt.Errorf("record events: %w", err)
	}
	for _, e := range es {
		e.RecordedAt = recorded
	}
	return nil
}

// Inserted is a row an outbox insert returned: its id and dedup key (""
// when none).
type Inserted struct {
	ID  int64
	Key string
}

// maxInsertRows bounds the rows of one INSERT (6 values each, far below
// the databases' bound on parameters).
const maxInsertRows = 1000

// insertEvents writes es in a transaction under the outbox lock, with one
// multi-row INSERT per maxInsertRows events, in es order.
func (s *Store) insertEvents(ctx context.Context, es []*store.OutboxEvent, recorded time.Time) ([]Inserted, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	if s.d.LockOutbox != "" {
		if _, err := tx.ExecContext(ctx, s.d.LockOutbox); err != nil {
			return nil, fmt.Errorf("lock outbox: %w", err)
		}
	}
	var got []Inserted
	for len(es) > 0 {
		part := es[:min(len(es), maxInsertRows)]
		es = es[len(part):]
		args := make([]any, 0, 6*len(part))
		for _, e := range part {
			var key any
			if e.Key != "" {
				key = e.Key
			}
			args = append(args, e.Type, e.Subject, e.At.UTC(), recorded, string(e.Data), key)
		}
		// VALUES rows are inserted in their order, so ids grow along es
		rows, err := tx.QueryContext(ctx, s.q(`INSERT INTO plugin_events (type, subject, at, recorded_at, data, dedup_key) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?), ", len(part)), ", ")+
			` ON CONFLICT (dedup_key) DO NOTHING RETURNING id, COALESCE(dedup_key, '')`), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var r Inserted
			if err := rows.Scan(&r.ID, &r.Key); err != nil {
				_ = rows.Close()
				return nil, err
			}
			got = append(got, r)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return got, nil
}

// assignIDs gives each event of es the id of its row in got, which holds
// the rows inserted (an event whose key was recorded before, or earlier
// in es, has none and keeps id 0). Rows were inserted in es order, so by
// ascending id they follow es: an event takes the next row when the keys
// match (an event without a key is always inserted); one left over means
// the rows do not match es, and the batch is refused rather than
// misnumbered.
func assignIDs(es []*store.OutboxEvent, got []Inserted) error {
	slices.SortFunc(got, func(a, b Inserted) int { return cmp.Compare(a.ID, b.ID) })
	i := 0
	for _, e := range es {
		if i < len(got) && got[i].Key == e.Key {
			e.ID = got[i].ID
			i++
		}
	}
	if i != len(got) {
		return fmt.Errorf("the database returned %d rows, %d of which match no event of the batch", len(got), len(got)-i)
	}
	return nil
}

// in returns "(?, ?, …)" for n values.
func in(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

// EventsAfter returns up to limit events of types after an id, by id.
func (s *Store) EventsAfter(ctx context.Context, after int64, types []string, limit int) ([]store.OutboxEvent, error) {
	if len(types) == 0 || limit <= 0 {
		return nil, nil
	}
	args := []any{after}
	for _, t := range types {
		args = append(args, t)
	}
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, type, subject, at, recorded_at, data, COALESCE(dedup_key, '') FROM plugin_events
		WHERE id > ? AND type IN `+in(len(types))+` ORDER BY id LIMIT ?`), args...)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	out, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// scanEvents reads rows of (id, type, subject, at, recorded_at, data,
// dedup_key, empty when none) and closes them.
func scanEvents(rows *sql.Rows) ([]store.OutboxEvent, error) {
	defer rows.Close()
	var out []store.OutboxEvent
	for rows.Next() {
		var e store.OutboxEvent
		var data string
		if err := rows.Scan(&e.ID, &e.Type, &e.Subject, &e.At, &e.RecordedAt, &data, &e.Key); err != nil {
			return nil, err
		}
		e.At, e.RecordedAt, e.Data = e.At.UTC(), e.RecordedAt.UTC(), []byte(data)
		out = append(out, e)
	}
	return out, rows.Err()
}

// LastEventID returns the highest id in the outbox, 0 when it is empty.
// (An id pruned away is never drawn again, so an emptied outbox's head is
// still below any id to come.)
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	var id sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(id) FROM plugin_events`).Scan(&id); err != nil {
		return 0, fmt.Errorf("last event: %w", err)
	}
	return id.Int64, nil
}

// StartPluginDelivery starts (or resumes) a plugin's delivery.
func (s *Store) StartPluginDelivery(ctx context.Context, plugin string, types []string) (int64, error) {
	if types == nil {
		types = []string{}
	}
	tj, _ := json.Marshal(types)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("start delivery to %s: %w", plugin, err)
	}
	defer func() { _ = tx.Rollback() }()
	// the head is read under the outbox lock, so no event being recorded
	// now can slip below it unseen
	if s.d.LockOutbox != "" {
		if _, err := tx.ExecContext(ctx, s.d.LockOutbox); err != nil {
			return 0, fmt.Errorf("start delivery to %s: lock outbox: %w", plugin, err)
		}
	}
	var head sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(id) FROM plugin_events`).Scan(&head); err != nil {
		return 0, fmt.Errorf("start delivery to %s: %w", plugin, err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO plugin_delivery (plugin, done_id, types, active) VALUES (?, ?, ?, TRUE)
		ON CONFLICT (plugin) DO UPDATE SET types = excluded.types, active = TRUE,
			done_id = CASE WHEN plugin_delivery.active THEN plugin_delivery.done_id ELSE excluded.done_id END`),
		plugin, head.Int64, string(tj)); err != nil {
		return 0, fmt.Errorf("start delivery to %s: %w", plugin, err)
	}
	var done int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT done_id FROM plugin_delivery WHERE plugin = ?`), plugin).Scan(&done); err != nil {
		return 0, fmt.Errorf("start delivery to %s: %w", plugin, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("start delivery to %s: %w", plugin, err)
	}
	return done, nil
}

// StopPluginDelivery marks a plugin off; its counts stay.
func (s *Store) StopPluginDelivery(ctx context.Context, plugin string) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE plugin_delivery SET active = FALSE, attempts = 0 WHERE plugin = ?`), plugin)
	if err != nil {
		return fmt.Errorf("stop delivery to %s: %w", plugin, err)
	}
	return nil
}

// ForgetPlugin drops a plugin's delivery state.
func (s *Store) ForgetPlugin(ctx context.Context, plugin string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM plugin_delivery WHERE plugin = ?`), plugin); err != nil {
		return fmt.Errorf("forget plugin %s: %w", plugin, err)
	}
	return nil
}

// SavePluginDelivery records a dispatcher's progress for a plugin. The
// place only moves forward, whatever order two saves land in.
func (s *Store) SavePluginDelivery(ctx context.Context, plugin string, p store.DeliveryProgress) error {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE plugin_delivery SET
		done_id = CASE WHEN done_id > ? THEN done_id ELSE ? END,
		delivered = delivered + ?, failed = failed + ?, attempts = ?, last_error = ?,
		last_attempt = COALESCE(?, last_attempt), last_success = COALESCE(?, last_success)
		WHERE plugin = ?`),
		p.Through, p.Through, p.Delivered, p.Failed, p.Attempts, p.LastError, timeOrNil(p.LastAttempt), timeOrNil(p.LastSuccess), plugin)
	if err := oneRow(res, err, "plugin "+plugin); err != nil {
		return fmt.Errorf("save delivery to %s: %w", plugin, err)
	}
	return nil
}

// PluginDeliveries returns every plugin's delivery state by name; what is
// pending is counted for plugins that are on.
func (s *Store) PluginDeliveries(ctx context.Context) ([]store.PluginDelivery, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT plugin, done_id, types, active, delivered, failed, attempts, last_error, last_attempt, last_success
		FROM plugin_delivery ORDER BY plugin`)
	if err != nil {
		return nil, fmt.Errorf("plugin deliveries: %w", err)
	}
	type pending struct {
		done  int64
		types []string
	}
	var out []store.PluginDelivery
	var todo []pending
	for rows.Next() {
		var d store.PluginDelivery
		var p pending
		var types string
		var active bool
		var last, success sql.NullTime
		if err := rows.Scan(&d.Plugin, &p.done, &types, &active, &d.Delivered, &d.Failed, &d.Attempts, &d.LastError, &last, &success); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("plugin deliveries: %w", err)
		}
		if active {
			if err := json.Unmarshal([]byte(types), &p.types); err != nil {
				_ = rows.Close()
				return nil, fmt.Errorf("plugin deliveries: types of %s: %w", d.Plugin, err)
			}
		}
		d.LastAttempt, d.LastSuccess = nullTime(last), nullTime(success)
		out = append(out, d)
		todo = append(todo, p)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("plugin deliveries: %w", err)
	}
	// counted after the rows are closed: SQLite has one connection
	for i, p := range todo {
		if len(p.types) == 0 {
			continue
		}
		args := []any{p.done}
		for _, t := range p.types {
			args = append(args, t)
		}
		if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM plugin_events WHERE id > ? AND type IN `+in(len(p.types))), args...).Scan(&out[i].Pending); err != nil {
			return nil, fmt.Errorf("plugin deliveries: pending for %s: %w", out[i].Plugin, err)
		}
	}
	return out, nil
}

// PruneEvents bounds the outbox: events recorded before a time that every
// plugin still on is done with go, and so do events more than keep ids
// below the newest whatever their state (a plugin stuck for days does
// not grow the table for ever; what it had not received is lost to it).
func (s *Store) PruneEvents(ctx context.Context, before time.Time, keep int64) (int64, error) {
	var minDone sql.NullInt64
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT MIN(done_id) FROM plugin_delivery WHERE active = ?`), true).Scan(&minDone); err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	head, err := s.LastEventID(ctx)
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	upTo := head
	if minDone.Valid && minDone.Int64 < upTo {
		upTo = minDone.Int64
	}
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM plugin_events WHERE id <= ? AND recorded_at < ?`), upTo, before.UTC())
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	n, _ := res.RowsAffected()
	if keep >= 0 && head-keep > 0 {
		res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM plugin_events WHERE id <= ?`), head-keep)
		if err != nil {
			return n, fmt.Errorf("prune events: %w", err)
		}
		m, _ := res.RowsAffected()
		n += m
	}
	return n, nil
}
