// Package storetest is the behaviour every store.Store must have. The
// SQLite and PostgreSQL packages run it against a real database each.
package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/streamspace/streamspace/portal/store"
)

// Run runs the suite; open returns a fresh, empty, migrated store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	for name, test := range map[string]func(*testing.T, store.Store){
		"users":                  users,
		"refresh token rotation": rotation,
		"refresh token reuse":    reuse,
		"concurrent rotation":    concurrentRotation,
		"audit log":              audit,
		"session history":        history,
		"API tokens":             apiTokens,
		"deleted users":          deletedUsers,
		"provider logins":        providerLogins,
		"must change password":   mustChangePassword,
		"spent tickets":          spentTickets,
		"outbox":                 outbox,
		"outbox batches":         outboxBatches,
		"outbox concurrent tail": outboxConcurrentTail,
		"plugin deliveries":      pluginDeliveries,
		"prune events":           pruneEvents,
		"open events":            openEvents,
	} {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			test(t, s)
		})
	}
}

var ctx = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func users(t *testing.T, s store.Store) {
	u := &store.User{Username: "alice", Display: "Alice", Email: "alice@example.com", PasswordHash: "$2a$10$x", Role: "admin", Groups: []string{"developers", "designers"}, Source: "local"}
	must(t, s.CreateUser(ctx, u))
	if u.ID == 0 || u.CreatedAt.IsZero() {
		t.Fatalf("CreateUser did not set ID and times: %+v", u)
	}
	sso := &store.User{Username: "carol", Role: "user", Source: "oidc", Subject: "https://idp.example.com#c-123"}
	must(t, s.CreateUser(ctx, sso))
	if got, err := s.UserByName(ctx, "carol"); err != nil || got.Subject != sso.Subject {
		t.Errorf("subject read back: %v %+v", err, got)
	}
	if err := s.CreateUser(ctx, &store.User{Username: "alice", Role: "user", Source: "oidc"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate user: got %v, want ErrConflict", err)
	}
	got, err := s.UserByName(ctx, "alice")
	must(t, err)
	if got.Email != "alice@example.com" || got.Role != "admin" || len(got.Groups) != 2 || got.Groups[1] != "designers" || got.LastLoginAt != nil {
		t.Errorf("read back %+v", got)
	}
	if _, err := s.UserByName(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing user: got %v, want ErrNotFound", err)
	}
	login := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	must(t, s.RecordLogin(ctx, "alice", login))
	got.Disabled, got.Groups = true, nil
	must(t, s.UpdateUser(ctx, got))
	again, err := s.UserByName(ctx, "alice")
	must(t, err)
	if !again.Disabled || len(again.Groups) != 0 || again.LastLoginAt == nil || !again.LastLoginAt.Equal(login) {
		t.Errorf("after update: %+v", again)
	}
	if err := s.UpdateUser(ctx, &store.User{Username: "ghost"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update missing user: got %v", err)
	}
	must(t, s.CreateUser(ctx, &store.User{Username: "bob", Role: "user", Source: "oidc"}))
	list, err := s.ListUsers(ctx)
	must(t, err)
	if len(list) != 3 || list[0].Username != "alice" || list[1].Username != "bob" || list[2].Subject == "" {
		t.Errorf("ListUsers = %+v", list)
	}
}

func token(hash, family string, now time.Time) store.RefreshToken {
	return store.RefreshToken{Hash: hash, Family: family, Username: "alice", CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour)}
}

func rotation(t *testing.T, s store.Store) {
	now := time.Now().UTC().Truncate(time.Second)
	must(t, s.SaveRefreshToken(ctx, token("h1", "f1", now)))
	must(t, s.RotateRefreshToken(ctx, "h1", token("h2", "f1", now), now.Add(time.Minute)))
	old, err := s.RefreshTokenByHash(ctx, "h1")
	must(t, err)
	if old.RevokedAt == nil {
		t.Error("rotated token not revoked")
	}
	next, err := s.RefreshTokenByHash(ctx, "h2")
	must(t, err)
	if next.RevokedAt != nil || next.Family != "f1" || !next.ExpiresAt.Equal(now.Add(30*24*time.Hour)) {
		t.Errorf("next token %+v", next)
	}
	must(t, s.RevokeUserTokens(ctx, "alice", now))
	if next, _ = s.RefreshTokenByHash(ctx, "h2"); next.RevokedAt == nil {
		t.Error("logout did not revoke")
	}
	if _, err := s.RefreshTokenByHash(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing token: %v", err)
	}
}

func reuse(t *testing.T, s store.Store) {
	now := time.Now().UTC()
	must(t, s.SaveRefreshToken(ctx, token("a1", "fam", now)))
	must(t, s.RotateRefreshToken(ctx, "a1", token("a2", "fam", now), now))
	// The stolen a1 is presented again.
	if err := s.RotateRefreshToken(ctx, "a1", token("a3", "fam", now), now); !errors.Is(err, store.ErrTokenReused) {
		t.Fatalf("reuse: got %v, want ErrTokenReused", err)
	}
	if _, err := s.RefreshTokenByHash(ctx, "a3"); !errors.Is(err, store.ErrNotFound) {
		t.Error("a reused token must not mint a new one")
	}
	must(t, s.RevokeFamily(ctx, "fam", now))
	if t2, _ := s.RefreshTokenByHash(ctx, "a2"); t2.RevokedAt == nil {
		t.Error("family not revoked")
	}
	if err := s.RotateRefreshToken(ctx, "never-issued", token("x", "fam", now), now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown token: got %v, want ErrNotFound", err)
	}
}

// concurrentRotation: of two clients racing with the same token, exactly
// one rotates it.
func concurrentRotation(t *testing.T, s store.Store) {
	now := time.Now().UTC()
	must(t, s.SaveRefreshToken(ctx, token("c1", "cf", now)))
	won := race(t, 8, store.ErrTokenReused, func(i int) error {
		return s.RotateRefreshToken(ctx, "c1", token("c-next-"+string(rune('a'+i)), "cf", now), now)
	})
	if won != 1 {
		t.Errorf("%d rotations succeeded, want exactly 1", won)
	}
}

// race runs fn from n goroutines at once and returns how many succeeded;
// an error other than loser fails the test.
func race(t *testing.T, n int, loser error, fn func(i int) error) int {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = fn(i)
		}(i)
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, loser):
			t.Errorf("unexpected error: %v", err)
		}
	}
	return won
}

func audit(t *testing.T, s store.Store) {
	base := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	for i, e := range []store.AuditEvent{
		{Actor: "alice", Action: "login", RemoteAddr: "192.0.2.1"},
		{Actor: "alice", Action: "session.create", Target: "alice-firefox-1"},
		{Actor: "bob", Action: "login", RemoteAddr: "192.0.2.2"},
		{Actor: "alice", Action: "logout"},
	} {
		e.At = base.Add(time.Duration(i) * time.Minute)
		must(t, s.Audit(ctx, e))
	}
	all, err := s.AuditLog(ctx, store.AuditFilter{})
	must(t, err)
	if len(all) != 4 || all[0].Action != "logout" || !all[3].At.Equal(base) {
		t.Errorf("AuditLog newest first: %+v", all)
	}
	logins, err := s.AuditLog(ctx, store.AuditFilter{Action: "login"})
	must(t, err)
	if len(logins) != 2 || logins[0].Actor != "bob" || logins[1].RemoteAddr != "192.0.2.1" {
		t.Errorf("logins: %+v", logins)
	}
	recent, err := s.AuditLog(ctx, store.AuditFilter{Actor: "alice", Since: base.Add(30 * time.Second), Limit: 1})
	must(t, err)
	if len(recent) != 1 || recent[0].Action != "logout" {
		t.Errorf("filtered: %+v", recent)
	}
}

func history(t *testing.T, s store.Store) {
	start := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	must(t, s.StartSession(ctx, store.SessionRecord{Session: "s1", Username: "alice", Template: "firefox", StartedAt: start}))
	must(t, s.StartSession(ctx, store.SessionRecord{Session: "s1", Username: "alice", Template: "firefox", StartedAt: start.Add(time.Hour)})) // no-op
	must(t, s.StartSession(ctx, store.SessionRecord{Session: "s2", Username: "bob", Template: "gimp", StartedAt: start.Add(2 * time.Hour)}))
	must(t, s.RecordHibernation(ctx, "s1", 1800))
	must(t, s.RecordHibernation(ctx, "s1", 600))
	must(t, s.EndSession(ctx, "s1", start.Add(3*time.Hour), "MaxSessionDurationReached"))
	must(t, s.EndSession(ctx, "s1", start.Add(4*time.Hour), "UserRequest")) // the first end stays
	if err := s.EndSession(ctx, "nope", start, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("end unknown session: %v", err)
	}
	rows, err := s.SessionHistory(ctx, start)
	must(t, err)
	if len(rows) != 2 {
		t.Fatalf("history: %+v", rows)
	}
	s1 := rows[0]
	if s1.Session != "s1" || !s1.StartedAt.Equal(start) || s1.Hibernations != 2 || s1.HibernatedSeconds != 2400 ||
		s1.EndedAt == nil || !s1.EndedAt.Equal(start.Add(3*time.Hour)) || s1.EndReason != "MaxSessionDurationReached" {
		t.Errorf("s1 = %+v", s1)
	}
	if rows[1].EndedAt != nil {
		t.Errorf("s2 still runs: %+v", rows[1])
	}
	later, err := s.SessionHistory(ctx, start.Add(time.Hour))
	must(t, err)
	if len(later) != 1 || later[0].Session != "s2" {
		t.Errorf("since filter: %+v", later)
	}
}

func apiTokens(t *testing.T, s store.Store) {
	at := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	expires := at.Add(24 * time.Hour)
	must(t, s.CreateAPIToken(ctx, store.APIToken{ID: "t1", Name: "ci", Username: "robot", Hash: "h1", CreatedAt: at, ExpiresAt: &expires}))
	must(t, s.CreateAPIToken(ctx, store.APIToken{ID: "t2", Name: "laptop", Username: "robot", Hash: "h2", CreatedAt: at.Add(time.Minute)}))
	must(t, s.CreateAPIToken(ctx, store.APIToken{ID: "t3", Name: "other", Username: "alice", Hash: "h3", CreatedAt: at}))
	if err := s.CreateAPIToken(ctx, store.APIToken{ID: "t4", Name: "dup", Username: "alice", Hash: "h1", CreatedAt: at}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("same hash twice: got %v, want ErrConflict", err)
	}
	got, err := s.APITokenByHash(ctx, "h1")
	must(t, err)
	if got.ID != "t1" || got.Username != "robot" || got.ExpiresAt == nil || !got.ExpiresAt.Equal(expires) || got.RevokedAt != nil || got.LastUsedAt != nil {
		t.Errorf("read back %+v", got)
	}
	if _, err := s.APITokenByHash(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown hash: got %v, want ErrNotFound", err)
	}
	must(t, s.TouchAPIToken(ctx, "t1", at.Add(time.Hour)))
	// alice cannot revoke robot's token
	if err := s.RevokeAPIToken(ctx, "alice", "t1", at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke someone else's token: got %v, want ErrNotFound", err)
	}
	must(t, s.RevokeAPIToken(ctx, "robot", "t1", at.Add(2*time.Hour)))
	must(t, s.RevokeAPIToken(ctx, "robot", "t1", at.Add(3*time.Hour))) // the first revocation time stays
	list, err := s.ListAPITokens(ctx, "robot")
	must(t, err)
	if len(list) != 2 || list[0].ID != "t2" || list[1].RevokedAt == nil || !list[1].RevokedAt.Equal(at.Add(2*time.Hour)) ||
		list[1].LastUsedAt == nil || !list[1].LastUsedAt.Equal(at.Add(time.Hour)) {
		t.Errorf("list: %+v", list)
	}
}
