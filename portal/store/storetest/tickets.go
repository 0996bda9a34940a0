package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/streamspace/streamspace/portal/store"
)

// spentTickets: a ticket is spent once, even by racing callers (two
// replicas on one database), and forgotten after its keepUntil.
func spentTickets(t *testing.T, s store.Store) {
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	must(t, s.SpendTicket(ctx, "t1", now.Add(time.Minute), now))
	if err := s.SpendTicket(ctx, "t1", now.Add(time.Minute), now.Add(time.Second)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a ticket spent twice: got %v, want ErrConflict", err)
	}
	must(t, s.SpendTicket(ctx, "t2", now.Add(time.Minute), now))

	won := race(t, 8, store.ErrConflict, func(int) error { return s.SpendTicket(ctx, "raced", now.Add(time.Minute), now) })
	if won != 1 {
		t.Errorf("%d racing spends of one ticket succeeded, want exactly 1", won)
	}

	// past keepUntil the rows are forgotten (the ticket's own expiry,
	// checked before, refuses it by then)
	later := now.Add(2 * time.Minute)
	must(t, s.SpendTicket(ctx, "t3", later.Add(time.Minute), later))
	must(t, s.SpendTicket(ctx, "t1", later.Add(time.Minute), later))
	if err := s.SpendTicket(ctx, "t3", later.Add(time.Minute), later); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a ticket still kept was forgotten: %v", err)
	}
}
