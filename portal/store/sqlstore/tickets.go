package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// SpendTicket records ticket id as spent until keepUntil; ErrConflict when
// it was spent already, by this replica or another. The primary key makes
// the check and the record one statement, so two replicas racing on one
// ticket cannot both win. Rows past their keepUntil are forgotten first.
func (s *Store) SpendTicket(ctx context.Context, id string, keepUntil, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM spent_tickets WHERE keep_until < ?`), now.UTC()); err != nil {
		return fmt.Errorf("forget expired tickets: %w", err)
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO spent_tickets (id, keep_until) VALUES (?, ?)`), id, keepUntil.UTC())
	if err = s.conflict(err, "ticket spent already"); err != nil {
		return fmt.Errorf("spend ticket: %w", err)
	}
	return nil
}
