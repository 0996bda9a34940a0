package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/streamspace/streamspace/portal/store"
)

func deletedUsers(t *testing.T, s store.Store) {
	now := time.Now().UTC().Truncate(time.Second)
	must(t, s.CreateUser(ctx, &store.User{Username: "carol", Role: "user", Source: "oidc", Subject: "https://idp#c1"}))
	rt := token("h1", "f1", now)
	rt.Username = "carol"
	must(t, s.SaveRefreshToken(ctx, rt))
	must(t, s.CreateAPIToken(ctx, store.APIToken{ID: "t1", Name: "ci", Username: "carol", Hash: "th1", CreatedAt: now}))
	must(t, s.SaveProviderLogin(ctx, store.ProviderLogin{Family: "f1", Username: "carol", RefreshToken: "sealed", CheckedAt: now}))

	must(t, s.DeleteUser(ctx, "carol", "admin", now))
	if _, err := s.UserByName(ctx, "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted user still there: %v", err)
	}
	got, err := s.RefreshTokenByHash(ctx, "h1")
	must(t, err)
	if got.RevokedAt == nil {
		t.Error("a deleted user's refresh token is not revoked")
	}
	at, err := s.APITokenByHash(ctx, "th1")
	must(t, err)
	if at.RevokedAt == nil {
		t.Error("a deleted user's API token is not revoked")
	}
	if _, err := s.ProviderLogin(ctx, "f1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deleted user's provider login is kept: %v", err)
	}
	d, err := s.DeletedUser(ctx, "carol")
	must(t, err)
	if want := (store.DeletedUser{Username: "carol", Source: "oidc", Subject: "https://idp#c1", DeletedAt: now, DeletedBy: "admin"}); *d != want {
		t.Errorf("tombstone = %+v, want %+v", *d, want)
	}
	list, err := s.ListDeletedUsers(ctx)
	must(t, err)
	if len(list) != 1 || list[0].Username != "carol" {
		t.Errorf("list = %+v", list)
	}
	if err := s.DeleteUser(ctx, "carol", "admin", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting again: %v, want ErrNotFound", err)
	}

	// the name can be taken again, and deleted again: the tombstone is kept
	// up to date rather than refused
	must(t, s.CreateUser(ctx, &store.User{Username: "carol", Role: "user", Source: "local"}))
	must(t, s.DeleteUser(ctx, "carol", "root", now.Add(time.Minute)))
	d, err = s.DeletedUser(ctx, "carol")
	must(t, err)
	if d.Source != "local" || d.DeletedBy != "root" {
		t.Errorf("tombstone after the second delete = %+v", *d)
	}

	must(t, s.ReleaseDeletedUser(ctx, "carol"))
	if _, err := s.DeletedUser(ctx, "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("released name still a tombstone: %v", err)
	}
	if err := s.ReleaseDeletedUser(ctx, "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("releasing twice: %v, want ErrNotFound", err)
	}
}

func providerLogins(t *testing.T, s store.Store) {
	now := time.Now().UTC().Truncate(time.Second)
	if _, err := s.ProviderLogin(ctx, "f"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing login: %v", err)
	}
	must(t, s.SaveProviderLogin(ctx, store.ProviderLogin{Family: "f", Username: "dave", RefreshToken: "one", CheckedAt: now}))
	must(t, s.SaveProviderLogin(ctx, store.ProviderLogin{Family: "f", Username: "dave", RefreshToken: "two", CheckedAt: now.Add(time.Hour)}))
	l, err := s.ProviderLogin(ctx, "f")
	must(t, err)
	if want := (store.ProviderLogin{Family: "f", Username: "dave", RefreshToken: "two", CheckedAt: now.Add(time.Hour)}); *l != want {
		t.Errorf("login = %+v, want %+v", *l, want)
	}
	must(t, s.DeleteProviderLogin(ctx, "f"))
	if _, err := s.ProviderLogin(ctx, "f"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted login: %v", err)
	}
}

func mustChangePassword(t *testing.T, s store.Store) {
	u := &store.User{Username: "root", Role: "admin", Source: "local", MustChangePassword: true}
	must(t, s.CreateUser(ctx, u))
	got, err := s.UserByName(ctx, "root")
	must(t, err)
	if !got.MustChangePassword {
		t.Fatal("MustChangePassword not kept at create")
	}
	got.MustChangePassword = false
	must(t, s.UpdateUser(ctx, got))
	if got, _ = s.UserByName(ctx, "root"); got.MustChangePassword {
		t.Error("MustChangePassword not cleared by update")
	}
}
