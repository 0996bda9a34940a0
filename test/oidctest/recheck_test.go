package oidctest_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamspace/streamspace/portal/api"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/test/oidctest"
)

// recheckEvery is short on the portal's clock, which the tests move by
// hand: no test waits for it.
const recheckEvery = 10 * time.Minute

// clock is the portal's tokens' time, moved by the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// watcher records what the tokens told about accounts.
type watcher struct {
	mu     sync.Mutex
	events []string
}

func (w *watcher) AccountChanged(username string, now *store.User, reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	role := "gone"
	if now != nil {
		role = now.Role
	}
	w.events = append(w.events, username+" "+role+": "+reason)
}

func (w *watcher) seen() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.events)
}

// ssoLogin signs alice in at the real Dex and returns the portal's
// refresh token of that login, with the portal re-checking every
// recheckEvery on clk.
func ssoLogin(t *testing.T, p *portal, u oidctest.User) (refresh string, clk *clock, w *watcher) {
	t.Helper()
	clk, w = &clock{now: time.Now()}, &watcher{}
	p.Tokens.Now, p.Tokens.RecheckEvery, p.Tokens.Provider, p.Tokens.Watcher = clk.Now, recheckEvery, p.OIDC, w
	resp := p.signIn(t, oidctest.NewBrowser(), "/", u.Email, u.Password)
	rt, access := cookie(resp, auth.RefreshCookie), cookie(resp, auth.AccessCookie)
	if resp.StatusCode != http.StatusFound || rt == nil || access == nil {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	claims, err := p.Tokens.Authenticate(ctx, access.Value)
	if err != nil {
		t.Fatal(err)
	}
	if exp := claims.ExpiresAt.Time; exp.After(clk.Now().Add(recheckEvery)) {
		t.Errorf("the access token lives until %s, past the first re-check at %s", exp, clk.Now().Add(recheckEvery))
	}
	return rt.Value, clk, w
}

func TestRecheck_droppedFromTheAdminGroup_losesTheRoleAtTheNextCheck_notBefore(t *testing.T) {
	p := startPortal(t, alice)
	refresh, clk, w := ssoLogin(t, p, alice)

	demoted := alice
	demoted.Groups = []string{"designers"}
	if err := p.Dex.SetUser(ctx, demoted); err != nil {
		t.Fatal(err)
	}

	// Before the check is due the provider is not asked: the role holds.
	clk.advance(recheckEvery / 2)
	pair, u, err := p.Tokens.Refresh(ctx, refresh)
	if err != nil || u.Role != "admin" {
		t.Fatalf("refresh before the check is due: %v, role %v", err, u)
	}
	if !pair.AccessExpiresAt.Equal(clk.Now().Add(recheckEvery / 2)) {
		t.Errorf("access token until %s, want the due check at %s", pair.AccessExpiresAt, clk.Now().Add(recheckEvery/2))
	}

	// At the check the provider's groups win: the role goes, at once.
	clk.advance(recheckEvery / 2)
	pair, u, err = p.Tokens.Refresh(ctx, pair.RefreshToken)
	if err != nil {
		t.Fatalf("refresh at the check: %v", err)
	}
	if u.Role != "user" || !slices.Equal(u.Groups, demoted.Groups) {
		t.Errorf("after the check: role %s, groups %v; want user, %v", u.Role, u.Groups, demoted.Groups)
	}
	claims, err := p.Tokens.Authenticate(ctx, pair.AccessToken)
	if err != nil || claims.IsAdmin() {
		t.Errorf("the new access token: %+v, %v; want no admin", claims, err)
	}
	if stored, _ := p.Store.UserByName(ctx, "alice"); stored.Role != "user" {
		t.Errorf("stored role %s", stored.Role)
	}
	if got := w.seen(); len(got) != 1 || !strings.HasPrefix(got[0], "alice user: the identity provider changed the role to user") {
		t.Errorf("watcher heard %q, want alice's new role", got)
	}

	// Back in the group: the role comes back at the next check, and Dex's
	// rotated refresh token was kept (an old one would be refused).
	if err := p.Dex.SetUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	clk.advance(recheckEvery)
	if _, u, err = p.Tokens.Refresh(ctx, pair.RefreshToken); err != nil || u.Role != "admin" {
		t.Fatalf("the third check: %v, %+v; want admin again", err, u)
	}
}

func TestRecheck_removedAtTheProvider_isSignedOut_andStaysOut(t *testing.T) {
	p := startPortal(t, alice)
	refresh, clk, w := ssoLogin(t, p, alice)
	if err := p.Dex.RemoveUser(ctx, alice.Email); err != nil {
		t.Fatal(err)
	}
	clk.advance(recheckEvery)
	_, _, err := p.Tokens.Refresh(ctx, refresh)
	var so *auth.SignedOutError
	if !errors.Is(err, auth.ErrProviderSignedOut) || !errors.As(err, &so) || so.Username != "alice" {
		t.Fatalf("refresh after removal: %v, want ErrProviderSignedOut for alice", err)
	}
	if got := w.seen(); len(got) != 1 || !strings.HasPrefix(got[0], "alice gone: signed out") {
		t.Errorf("watcher heard %q, want alice gone", got)
	}
	// the login is over: its refresh token is spent, however often tried
	if _, _, err := p.Tokens.Refresh(ctx, refresh); err == nil {
		t.Error("the signed-out login refreshed")
	}
}

func TestRecheck_noRefreshTokenFromTheProvider_signsInAgainWhenDue(t *testing.T) {
	p := startPortal(t, alice)
	p.OIDC.Scopes = []string{"openid", "profile", "email", "groups"} // no offline_access: Dex gives no refresh token
	refresh, clk, _ := ssoLogin(t, p, alice)
	clk.advance(recheckEvery - time.Second)
	pair, _, err := p.Tokens.Refresh(ctx, refresh)
	if err != nil {
		t.Fatalf("before the check is due: %v", err)
	}
	clk.advance(time.Second)
	if _, _, err := p.Tokens.Refresh(ctx, pair.RefreshToken); !errors.Is(err, auth.ErrReauthenticate) {
		t.Fatalf("when due: %v, want ErrReauthenticate", err)
	}
}

func TestRecheck_aTamperedStoredProviderToken_signsOut_not500(t *testing.T) {
	p := startPortal(t, alice)
	refresh, clk, _ := ssoLogin(t, p, alice)
	pair, _, err := p.Tokens.Refresh(ctx, refresh)
	if err != nil {
		t.Fatal(err)
	}
	l, err := p.Store.ProviderLogin(ctx, pair.Family)
	if err != nil {
		t.Fatal(err)
	}
	l.RefreshToken = l.RefreshToken[:len(l.RefreshToken)-4] + "AAAA"
	if err := p.Store.SaveProviderLogin(ctx, *l); err != nil {
		t.Fatal(err)
	}
	clk.advance(recheckEvery)
	if _, _, err := p.Tokens.Refresh(ctx, pair.RefreshToken); !errors.Is(err, auth.ErrReauthenticate) {
		t.Fatalf("a tampered provider token: %v, want ErrReauthenticate", err)
	}
}

func TestSignIn_unverifiedEmail_isNotKept(t *testing.T) {
	mallory := oidctest.User{Username: "mallory", Email: "ceo@example.com", Password: "mallory-password", EmailUnverified: true}
	p := startPortal(t, mallory)
	if resp := p.signIn(t, oidctest.NewBrowser(), "/", mallory.Email, mallory.Password); resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	u, err := p.Store.UserByName(ctx, "mallory")
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "" {
		t.Errorf("the unverified email %q was kept as the account's", u.Email)
	}
}

func TestSignIn_nameOfADeletedAccount_waitsForAnAdmin(t *testing.T) {
	p := startPortal(t, alice)
	if resp := p.signIn(t, oidctest.NewBrowser(), "/", alice.Email, alice.Password); resp.StatusCode != http.StatusFound {
		t.Fatalf("first sign-in: %d", resp.StatusCode)
	}
	if err := p.Store.DeleteUser(ctx, "alice", "root", time.Now()); err != nil {
		t.Fatal(err)
	}
	// whoever the provider names alice now (the same person or not) does
	// not get the deleted account's name, and so its home volume
	resp := p.signIn(t, oidctest.NewBrowser(), "/", alice.Email, alice.Password)
	if msg := apiError(t, resp, http.StatusConflict, api.CodeConflict); !strings.Contains(msg, "belonged to a deleted account") {
		t.Errorf("message %q", msg)
	}
	if _, err := p.Store.UserByName(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the name was taken: %v", err)
	}
	if err := p.Store.ReleaseDeletedUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if resp := p.signIn(t, oidctest.NewBrowser(), "/", alice.Email, alice.Password); resp.StatusCode != http.StatusFound {
		t.Fatalf("after the admin released the name: %d", resp.StatusCode)
	}
}

func TestLogout_forgetsTheProvidersRefreshToken(t *testing.T) {
	p := startPortal(t, alice)
	refresh, _, _ := ssoLogin(t, p, alice)
	pair, _, err := p.Tokens.Refresh(ctx, refresh)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Store.ProviderLogin(ctx, pair.Family); err != nil {
		t.Fatalf("the provider's side of the login: %v", err)
	}
	if err := p.Tokens.Logout(ctx, pair.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Store.ProviderLogin(ctx, pair.Family); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after logout the provider's refresh token is kept: %v", err)
	}
}
