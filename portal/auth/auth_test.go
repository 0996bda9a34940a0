package auth_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/portal/store/sqlite"
)

var ctx = context.Background()

func newStore(t testing.TB) store.Store {
	t.Helper()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newTokens(s store.Store, now *time.Time) *auth.Tokens {
	return &auth.Tokens{Store: s, Key: []byte("0123456789abcdef0123456789abcdef"), Issuer: "streamspace-test", Now: func() time.Time { return *now }}
}

func TestBootstrap_onceWithPasswordInA0600File_neverInTheOutput_thenLogin(t *testing.T) {
	s := newStore(t)
	var out bytes.Buffer
	dir := t.TempDir()
	created, err := auth.Bootstrap(ctx, s, "admin", dir, &out)
	if err != nil || !created {
		t.Fatalf("bootstrap: %v %v", created, err)
	}
	password := bootstrapPassword(t, dir, &out)
	if strings.Contains(out.String(), password) {
		t.Fatalf("the one-time password reached the output: %q", out.String())
	}
	m := []string{"", password}
	if again, _ := auth.Bootstrap(ctx, s, "admin", dir, &out); again {
		t.Error("bootstrap ran twice")
	}
	u, err := s.UserByName(ctx, "admin")
	if err != nil || strings.Contains(u.PasswordHash, m[1]) || u.Role != "admin" || !u.MustChangePassword {
		t.Fatalf("stored admin %+v, %v", u, err)
	}
	if _, err := auth.Login(ctx, s, "admin", m[1]); err != nil {
		t.Errorf("login with the printed password: %v", err)
	}
	if _, err := auth.Login(ctx, s, "admin", "wrong-password"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := auth.Login(ctx, s, "nobody", m[1]); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("unknown user: %v (must look like a wrong password)", err)
	}
}

func TestTokens_accessVerifies_expiresAfterAnHour_rejectsForgery(t *testing.T) {
	s := newStore(t)
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	tk := newTokens(s, &now)
	u := &store.User{Username: "alice", Role: "user", Groups: []string{"designers"}, Source: "oidc"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	p, err := tk.Issue(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tk.Verify(p.AccessToken)
	if err != nil || c.Subject != "alice" || c.Role != "user" || c.Groups[0] != "designers" {
		t.Fatalf("verify: %+v %v", c, err)
	}
	if !p.AccessExpiresAt.Equal(now.Add(time.Hour)) {
		t.Errorf("access token lives until %v", p.AccessExpiresAt)
	}
	now = now.Add(time.Hour + time.Second)
	if _, err := tk.Verify(p.AccessToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("expired token accepted: %v", err)
	}
	now = now.Add(-time.Hour)
	forged := jwt.NewWithClaims(jwt.SigningMethodHS256, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "streamspace-test", Subject: "alice",
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}, Role: "admin"})
	bad, _ := forged.SignedString([]byte("another-key-another-key-another-key"))
	if _, err := tk.Verify(bad); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("forged token accepted: %v", err)
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "streamspace-test", Subject: "alice",
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}, Role: "admin"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if _, err := tk.Verify(none); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("alg=none accepted: %v", err)
	}
}

func TestTokens_refreshRotates_reuseRevokesTheFamily_logout(t *testing.T) {
	s := newStore(t)
	now := time.Now().UTC()
	tk := newTokens(s, &now)
	u := &store.User{Username: "bob", Role: "user", Source: "local"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	first, err := tk.Issue(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	second, who, err := tk.Refresh(ctx, first.RefreshToken)
	if err != nil || who.Username != "bob" || second.RefreshToken == first.RefreshToken {
		t.Fatalf("refresh: %v", err)
	}
	// The first token is replayed (stolen): refused, and the family dies,
	// so the legitimate holder's newer token stops working too.
	if _, _, err := tk.Refresh(ctx, first.RefreshToken); !errors.Is(err, auth.ErrRefreshReused) {
		t.Fatalf("reuse: %v", err)
	}
	if _, _, err := tk.Refresh(ctx, second.RefreshToken); !errors.Is(err, auth.ErrRefreshReused) {
		t.Errorf("family still alive after reuse: %v", err)
	}

	// Logout on another login.
	other, _ := tk.Issue(ctx, u)
	if err := tk.Logout(ctx, other.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tk.Refresh(ctx, other.RefreshToken); err == nil {
		t.Error("refresh after logout worked")
	}
	// Expiry and unknown tokens.
	late, _ := tk.Issue(ctx, u)
	now = now.Add(31 * 24 * time.Hour)
	if _, _, err := tk.Refresh(ctx, late.RefreshToken); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("expired refresh token: %v", err)
	}
	if _, _, err := tk.Refresh(ctx, "made-up"); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("unknown refresh token: %v", err)
	}
}

func TestTokens_disabledUserCannotRefresh(t *testing.T) {
	s := newStore(t)
	now := time.Now().UTC()
	tk := newTokens(s, &now)
	u := &store.User{Username: "carol", Role: "user", Source: "local"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	p, _ := tk.Issue(ctx, u)
	u.Disabled = true
	if err := s.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tk.Refresh(ctx, p.RefreshToken); !errors.Is(err, auth.ErrUserDisabled) {
		t.Errorf("disabled user refreshed: %v", err)
	}
}

func TestResetPassword_newPasswordWorks_oldDoesNot_signedOut(t *testing.T) {
	s := newStore(t)
	var out bytes.Buffer
	dir := t.TempDir()
	if _, err := auth.Bootstrap(ctx, s, "admin", dir, &out); err != nil {
		t.Fatal(err)
	}
	old := bootstrapPassword(t, dir, &out)
	now := time.Now()
	tokens := newTokens(s, &now)
	u, _ := s.UserByName(ctx, "admin")
	pair, err := tokens.Issue(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := auth.ResetPassword(ctx, s, "admin", &out); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`: (\S+) \(shown once`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("printed %q", out.String())
	}
	if _, err := auth.Login(ctx, s, "admin", m[1]); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if u, _ := s.UserByName(ctx, "admin"); !u.MustChangePassword {
		t.Error("a printed password need not be changed at the next sign-in")
	}
	if _, err := auth.Login(ctx, s, "admin", old); err == nil {
		t.Error("the old password still works")
	}
	if _, _, err := tokens.Refresh(ctx, pair.RefreshToken); err == nil {
		t.Error("a login from before the reset still refreshes")
	}
	if err := auth.ResetPassword(ctx, s, "nobody", &out); err == nil {
		t.Error("reset of an unknown user")
	}
}
