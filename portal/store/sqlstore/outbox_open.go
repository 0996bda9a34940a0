package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/streamspace/streamspace/portal/store"
)

// OpenEvents returns the events of type opened since since whose subject
// has no event keyed subject+closedKeySuffix. The closing event is found
// by its unique key (an index lookup per row), not by scanning its type.
func (s *Store) OpenEvents(ctx context.Context, opened, closedKeySuffix string, since time.Time) ([]store.OutboxEvent, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT o.id, o.type, o.subject, o.at, o.recorded_at, o.data, COALESCE(o.dedup_key, '')
		FROM plugin_events o WHERE o.type = ? AND o.at >= ?
		AND NOT EXISTS (SELECT 1 FROM plugin_events c WHERE c.dedup_key = o.subject || ?)
		ORDER BY o.id`), opened, since.UTC(), closedKeySuffix)
	if err != nil {
		return nil, fmt.Errorf("read open %s events: %w", opened, err)
	}
	out, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read open %s events: %w", opened, err)
	}
	return out, nil
}
