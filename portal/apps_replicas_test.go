package portal_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/portal/store/postgres"
	"github.com/streamspace/streamspace/test/pgtest"
)

// TestApps_twoReplicasOnOnePostgres_aTicketIsSpentOnce: two portal
// replicas (each its own handlers, as two pods) share one real PostgreSQL
// and the token key; a ticket exchanged on either is refused on the other.
func TestApps_twoReplicasOnOnePostgres_aTicketIsSpentOnce(t *testing.T) {
	ctx := context.Background()
	pg, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	dsn, err := pg.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shared.Close() })
	u := &store.User{Username: "alice", Role: "user", Source: "local"}
	if err := shared.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}

	replica := func() *appsPortal {
		// its own connection pool, as another pod would have
		db, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		toks := &auth.Tokens{Store: db, Key: tokens.Key, Issuer: "streamspace"}
		a := &appsPortal{t: t}
		a.h = newHandlers(func(c *portal.Components) {
			c.Store, c.Tokens, c.AppsDomain, c.PublicURL = db, toks, appsDomain, "https://portal.example.com"
		})
		a.srv = httptest.NewServer(portal.Handler(a.h))
		t.Cleanup(a.srv.Close)
		return a
	}
	one, two := replica(), replica()
	pair, err := (&auth.Tokens{Store: shared, Key: tokens.Key, Issuer: "streamspace"}).Issue(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	alice := pair.AccessToken
	s := runningSession(t, "alice-replicas", "alice", time.Now())

	for _, order := range []struct {
		name        string
		first, then *appsPortal
	}{{"spent on one, replayed on two", one, two}, {"spent on two, replayed on one", two, one}} {
		t.Run(order.name, func(t *testing.T) {
			u, status := order.first.ticket(alice, s.Name)
			if status != http.StatusCreated {
				t.Fatalf("ticket: %d", status)
			}
			if resp, ck := order.first.exchange(u); resp.StatusCode != http.StatusSeeOther || ck == nil {
				t.Fatalf("first use: %d, cookie %v", resp.StatusCode, ck)
			}
			if resp, ck := order.then.exchange(u); resp.StatusCode != http.StatusUnauthorized || ck != nil {
				t.Errorf("the ticket replayed on the other replica: %d, cookie %v", resp.StatusCode, ck)
			}
			if resp, ck := order.first.exchange(u); resp.StatusCode != http.StatusUnauthorized || ck != nil {
				t.Errorf("the ticket replayed on the same replica: %d, cookie %v", resp.StatusCode, ck)
			}
		})
	}
	// the control: a fresh ticket from one replica is good on the other
	u2, _ := one.ticket(alice, s.Name)
	if resp, ck := two.exchange(u2); resp.StatusCode != http.StatusSeeOther || ck == nil {
		t.Errorf("a ticket of one replica, first used on the other: %d", resp.StatusCode)
	}
}
