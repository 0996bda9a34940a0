package auth_test

import (
	"testing"
	"time"

	"github.com/streamspace/streamspace/portal/store"
)

// BenchmarkAuthenticate measures what reading the account on every request
// costs over checking the token alone (embedded SQLite, one user): the
// figure that decides whether the lookup needs a cache.
func BenchmarkAuthenticate(b *testing.B) {
	s := newStore(b)
	if err := s.CreateUser(ctx, &store.User{Username: "alice", Role: "user", Source: "local"}); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tokens := newTokens(s, &now)
	u, _ := s.UserByName(ctx, "alice")
	pair, err := tokens.Issue(ctx, u)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("token only (Verify)", func(b *testing.B) {
		for b.Loop() {
			if _, err := tokens.Verify(pair.AccessToken); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("token and account (Authenticate)", func(b *testing.B) {
		for b.Loop() {
			if _, err := tokens.Authenticate(ctx, pair.AccessToken); err != nil {
				b.Fatal(err)
			}
		}
	})
}
