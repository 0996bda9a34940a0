package oidctest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-logr/logr"

	"github.com/streamspace/streamspace/portal/api"
	"github.com/streamspace/streamspace/portal/audit"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/portal/store/sqlite"
	"github.com/streamspace/streamspace/test/oidctest"
)

var ctx = context.Background()

var alice = oidctest.User{Username: "alice", Email: "alice@example.com", Password: "alice-password", Name: "Alice Liddell", Groups: []string{"designers", "platform-admins"}}

// portal is the portal's auth routes, mounted as the router mounts them,
// in front of a real Dex.
type portal struct {
	URL    string
	Store  store.Store
	Tokens *auth.Tokens
	OIDC   *auth.OIDC
	Dex    *oidctest.Provider
}

const callbackPath = "/api/v1/auth/oidc/callback"

func startPortal(t *testing.T, users ...oidctest.User) *portal {
	t.Helper()
	gin.SetMode(gin.TestMode)
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	dex := oidctest.Start(t, oidctest.Options{RedirectURL: base + callbackPath, Users: users})

	tokens := &auth.Tokens{Store: s, Key: []byte("0123456789abcdef0123456789abcdef"), Issuer: "streamspace-test"}
	o := &auth.OIDC{
		Name: "Dex", Issuer: dex.Issuer, ClientID: dex.ClientID, ClientSecret: dex.ClientSecret,
		RedirectURL: base + callbackPath, AdminGroups: []string{"platform-admins"},
	}
	h := &api.OIDCAPI{OIDC: o, Auth: &api.AuthAPI{Store: s, Tokens: tokens, Audit: &audit.Log{Writer: s}}}
	r := gin.New()
	r.Use(api.RenderErrors(logr.Discard()))
	r.GET("/api/v1/auth/providers", h.Providers)
	r.GET("/api/v1/auth/oidc/login", h.Login)
	r.GET(callbackPath, h.Callback)
	srv.Config.Handler = r
	srv.Start()
	t.Cleanup(srv.Close)
	return &portal{URL: base, Store: s, Tokens: tokens, OIDC: o, Dex: dex}
}

// signIn runs the whole flow in browser and returns the callback's answer.
func (p *portal) signIn(t *testing.T, browser *http.Client, redirect, email, password string) *http.Response {
	t.Helper()
	start := p.URL + "/api/v1/auth/oidc/login?redirect=" + url.QueryEscape(redirect)
	back, err := p.Dex.SignIn(ctx, browser, start, email, password)
	if err != nil {
		t.Fatalf("sign in at dex: %v", err)
	}
	if !strings.HasPrefix(back.String(), p.URL+callbackPath+"?") || back.Query().Get("code") == "" || back.Query().Get("state") == "" {
		t.Fatalf("dex sent the browser to %s, want the callback with code and state", back)
	}
	return get(t, browser, back.String())
}

func get(t *testing.T, browser *http.Client, u string) *http.Response {
	t.Helper()
	resp, err := browser.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func cookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// apiError reads the API's error shape and checks status and code.
func apiError(t *testing.T, resp *http.Response, status int, code string) string {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct{ Code, Message string }
	}
	if resp.StatusCode != status || json.Unmarshal(body, &e) != nil || e.Error.Code != code {
		t.Fatalf("got %d %s, want %d with error code %s", resp.StatusCode, body, status, code)
	}
	return e.Error.Message
}

func TestSignIn_createsTheUser_issuesTokens_andReturnsToThePage(t *testing.T) {
	p := startPortal(t, alice)
	browser := oidctest.NewBrowser()

	// The start: a signed flow cookie for the callback only, and Dex.
	start := get(t, browser, p.URL+"/api/v1/auth/oidc/login?redirect="+url.QueryEscape("/sessions/abc?tab=files"))
	to, _ := start.Location()
	if start.StatusCode != http.StatusFound || to == nil || !strings.HasPrefix(to.String(), p.Dex.Issuer+"/auth?") {
		t.Fatalf("login start: %d to %v, want 302 to dex", start.StatusCode, to)
	}
	flow := cookie(start, "ss_oidc")
	if flow == nil || !flow.HttpOnly || flow.SameSite != http.SameSiteLaxMode || flow.Path != "/api/v1/auth/oidc" || flow.MaxAge <= 0 || flow.MaxAge > 600 {
		t.Fatalf("flow cookie %+v, want HttpOnly, Lax, for /api/v1/auth/oidc, at most 10 minutes", flow)
	}
	if q := to.Query(); q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" || !strings.Contains(q.Get("scope"), "groups") {
		t.Errorf("authorization request %s: want PKCE S256, a nonce, a state and the groups scope", to)
	}

	back, err := p.Dex.SignIn(ctx, browser, to.String(), alice.Email, alice.Password)
	if err != nil {
		t.Fatal(err)
	}
	resp := get(t, browser, back.String())
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "/sessions/abc?tab=files" {
		t.Fatalf("callback: %d to %q, want 302 to the page the sign-in started from", resp.StatusCode, loc)
	}
	access, refresh, csrf := cookie(resp, auth.AccessCookie), cookie(resp, auth.RefreshCookie), cookie(resp, auth.CSRFCookie)
	if access == nil || !access.HttpOnly || refresh == nil || refresh.Path != "/api/v1/auth" || csrf == nil || csrf.HttpOnly {
		t.Fatalf("cookies %v: want the ones a password sign-in sets", resp.Cookies())
	}
	if c := cookie(resp, "ss_oidc"); c == nil || c.MaxAge >= 0 {
		t.Errorf("flow cookie %+v: want it deleted after use", c)
	}

	claims, err := p.Tokens.Verify(access.Value)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != "alice" || claims.Role != "admin" || !slices.Equal(claims.Groups, alice.Groups) {
		t.Errorf("access token says %s, role %s, groups %v; want alice, admin (platform-admins), %v", claims.Subject, claims.Role, claims.Groups, alice.Groups)
	}
	u, err := p.Store.UserByName(ctx, "alice")
	if err != nil || u.Source != "oidc" || u.PasswordHash != "" || u.Display != "Alice Liddell" || u.Email != alice.Email || u.LastLoginAt == nil {
		t.Errorf("stored user %+v, %v", u, err)
	}
	events, err := p.Store.AuditLog(ctx, store.AuditFilter{Actor: "alice", Action: "login"})
	if err != nil || len(events) != 1 || events[0].Detail != "oidc" {
		t.Errorf("audit %+v, %v: want one login with detail oidc", events, err)
	}

	// The code and the flow cookie are spent: replaying the callback fails.
	replay := get(t, browser, back.String())
	if msg := apiError(t, replay, http.StatusUnauthorized, api.CodeUnauthenticated); !strings.Contains(msg, "no sign-in is in progress") {
		t.Errorf("replayed callback: %q", msg)
	}
}

func TestSignIn_again_refreshesGroupsAndRole(t *testing.T) {
	p := startPortal(t, alice)
	if resp := p.signIn(t, oidctest.NewBrowser(), "/", alice.Email, alice.Password); resp.StatusCode != http.StatusFound {
		t.Fatalf("first sign-in: %d", resp.StatusCode)
	}

	demoted := alice
	demoted.Groups = []string{"designers", "interns"}
	if err := p.Dex.SetUser(ctx, demoted); err != nil {
		t.Fatal(err)
	}
	resp := p.signIn(t, oidctest.NewBrowser(), "/", alice.Email, alice.Password)
	access := cookie(resp, auth.AccessCookie)
	if resp.StatusCode != http.StatusFound || access == nil {
		t.Fatalf("second sign-in: %d", resp.StatusCode)
	}
	claims, err := p.Tokens.Verify(access.Value)
	if err != nil || claims.Role != "user" || !slices.Equal(claims.Groups, demoted.Groups) {
		t.Fatalf("access token %+v, %v: want role user and groups %v", claims, err, demoted.Groups)
	}
	users, _ := p.Store.ListUsers(ctx)
	if len(users) != 1 || users[0].Role != "user" || !slices.Equal(users[0].Groups, demoted.Groups) {
		t.Errorf("users %+v: want alice alone, refreshed", users)
	}
}

func TestSignIn_wrongPassword_staysAtDex(t *testing.T) {
	p := startPortal(t, alice)
	_, err := p.Dex.SignIn(ctx, oidctest.NewBrowser(), p.URL+"/api/v1/auth/oidc/login", alice.Email, "not-her-password")
	if !errors.Is(err, oidctest.ErrLoginRejected) {
		t.Fatalf("wrong password: %v, want the login form again (no code)", err)
	}
	if users, _ := p.Store.ListUsers(ctx); len(users) != 0 {
		t.Errorf("users %+v after a failed sign-in", users)
	}
}

func TestCallback_refusesWhatDoesNotMatchThisBrowsersSignIn(t *testing.T) {
	p := startPortal(t, alice)

	t.Run("tampered state", func(t *testing.T) {
		browser := oidctest.NewBrowser()
		back, err := p.Dex.SignIn(ctx, browser, p.URL+"/api/v1/auth/oidc/login", alice.Email, alice.Password)
		if err != nil {
			t.Fatal(err)
		}
		q := back.Query()
		q.Set("state", q.Get("state")+"x")
		back.RawQuery = q.Encode()
		resp := get(t, browser, back.String())
		if msg := apiError(t, resp, http.StatusUnauthorized, api.CodeUnauthenticated); !strings.Contains(msg, "state") {
			t.Errorf("message %q does not name the state", msg)
		}
		if cookie(resp, auth.AccessCookie) != nil {
			t.Error("signed in despite the state")
		}
	})

	t.Run("a code from another browser's sign-in", func(t *testing.T) {
		back, err := p.Dex.SignIn(ctx, oidctest.NewBrowser(), p.URL+"/api/v1/auth/oidc/login", alice.Email, alice.Password)
		if err != nil {
			t.Fatal(err)
		}
		resp := get(t, oidctest.NewBrowser(), back.String()) // the victim's browser: no flow cookie
		apiError(t, resp, http.StatusUnauthorized, api.CodeUnauthenticated)
	})

	t.Run("a forged flow cookie", func(t *testing.T) {
		browser := oidctest.NewBrowser()
		back, err := p.Dex.SignIn(ctx, browser, p.URL+"/api/v1/auth/oidc/login", alice.Email, alice.Password)
		if err != nil {
			t.Fatal(err)
		}
		portalURL, _ := url.Parse(p.URL + "/api/v1/auth/oidc")
		flow := browser.Jar.Cookies(portalURL)[0]
		payload, sig, _ := strings.Cut(flow.Value, ".")
		browser.Jar.SetCookies(portalURL, []*http.Cookie{{Name: "ss_oidc", Value: payload + "." + sig[:len(sig)-2] + "AA", Path: "/api/v1/auth/oidc"}})
		resp := get(t, browser, back.String())
		if msg := apiError(t, resp, http.StatusUnauthorized, api.CodeUnauthenticated); !strings.Contains(msg, "tampered") {
			t.Errorf("message %q", msg)
		}
	})

	t.Run("a made-up code", func(t *testing.T) {
		browser := oidctest.NewBrowser()
		back, err := p.Dex.SignIn(ctx, browser, p.URL+"/api/v1/auth/oidc/login", alice.Email, alice.Password)
		if err != nil {
			t.Fatal(err)
		}
		q := back.Query()
		q.Set("code", "made-up")
		back.RawQuery = q.Encode()
		resp := get(t, browser, back.String())
		if msg := apiError(t, resp, http.StatusUnauthorized, api.CodeUnauthenticated); !strings.Contains(msg, "refused the authorization code") {
			t.Errorf("message %q", msg)
		}
	})

	t.Run("the provider's error", func(t *testing.T) {
		resp := get(t, oidctest.NewBrowser(), p.URL+callbackPath+"?error=access_denied&error_description=consent+withheld&state=x")
		if msg := apiError(t, resp, http.StatusUnauthorized, api.CodeUnauthenticated); msg != "the identity provider refused the sign-in: access_denied: consent withheld" {
			t.Errorf("message %q", msg)
		}
	})

	if users, _ := p.Store.ListUsers(ctx); len(users) != 0 {
		t.Errorf("users %+v after refused callbacks", users)
	}
}

func TestSignIn_localAccountOfTheSameName_isNotTakenOver(t *testing.T) {
	p := startPortal(t, alice)
	hash, err := auth.HashPassword("local-alice-password")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Store.CreateUser(ctx, &store.User{Username: "alice", PasswordHash: hash, Role: "user", Source: "local"}); err != nil {
		t.Fatal(err)
	}
	resp := p.signIn(t, oidctest.NewBrowser(), "/", alice.Email, alice.Password)
	if msg := apiError(t, resp, http.StatusConflict, api.CodeConflict); !strings.Contains(msg, `"alice" signs in with a password`) {
		t.Errorf("message %q", msg)
	}
	if cookie(resp, auth.AccessCookie) != nil {
		t.Error("signed in as the local account")
	}
	u, _ := p.Store.UserByName(ctx, "alice")
	if u.Source != "local" || u.PasswordHash != hash || u.Role != "user" || len(u.Groups) != 0 {
		t.Errorf("the local account changed: %+v", u)
	}
	if events, _ := p.Store.AuditLog(ctx, store.AuditFilter{Actor: "alice", Action: "login.failed"}); len(events) != 1 || !strings.Contains(events[0].Detail, "oidc") {
		t.Errorf("audit %+v: want one oidc login.failed", events)
	}
}

func TestSignIn_disabledUser_isRefused(t *testing.T) {
	p := startPortal(t, alice)
	if resp := p.signIn(t, oidctest.NewBrowser(), "/", alice.Email, alice.Password); resp.StatusCode != http.StatusFound {
		t.Fatalf("first sign-in: %d", resp.StatusCode)
	}
	u, _ := p.Store.UserByName(ctx, "alice")
	u.Disabled = true
	if err := p.Store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	resp := p.signIn(t, oidctest.NewBrowser(), "/", alice.Email, alice.Password)
	if msg := apiError(t, resp, http.StatusUnauthorized, api.CodeUnauthenticated); msg != auth.ErrUserDisabled.Error() {
		t.Errorf("message %q", msg)
	}
}

func TestLogin_redirectMustStayOnThisSite(t *testing.T) {
	p := startPortal(t)
	for _, bad := range []string{"//evil.example", `/\evil.example`, "https://evil.example/", "dashboard", "/x\r\nSet-Cookie: a=b"} {
		resp := get(t, oidctest.NewBrowser(), p.URL+"/api/v1/auth/oidc/login?redirect="+url.QueryEscape(bad))
		apiError(t, resp, http.StatusBadRequest, api.CodeInvalid)
	}
}

func TestProviders_andSSOThatIsNotConfigured(t *testing.T) {
	p := startPortal(t)
	var got struct {
		Local bool
		OIDC  struct {
			Enabled bool
			Name    string
		}
	}
	resp := get(t, http.DefaultClient, p.URL+"/api/v1/auth/providers")
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || !got.Local || !got.OIDC.Enabled || got.OIDC.Name != "Dex" {
		t.Errorf("providers %+v, %v", got, err)
	}

	// Without a provider the routes still answer (the router serves them
	// either way): providers says so, login and callback are not found.
	var none *api.OIDCAPI
	r := gin.New()
	r.Use(api.RenderErrors(logr.Discard()))
	r.GET("/providers", none.Providers)
	r.GET("/login", (&api.OIDCAPI{}).Login)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/providers", nil))
	if body := w.Body.String(); w.Code != http.StatusOK || body != `{"local":true,"oidc":{"enabled":false,"name":""}}` {
		t.Errorf("providers without SSO: %d %s", w.Code, body)
	}
	w = httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/login", nil))
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"not_found"`) {
		t.Errorf("login without SSO: %d %s", w.Code, w.Body)
	}
}

// TestExchange_verifiesTheIDToken drives auth.OIDC directly against Dex
// for what the handlers cannot get wrong on purpose: the PKCE verifier,
// the nonce and the token's expiry.
func TestExchange_verifiesTheIDToken(t *testing.T) {
	p := startPortal(t, alice)
	signIn := func(t *testing.T) (auth.Flow, string) {
		t.Helper()
		flow, err := auth.NewFlow()
		if err != nil {
			t.Fatal(err)
		}
		start, err := p.OIDC.AuthCodeURL(ctx, flow.State, flow.Nonce, flow.Verifier)
		if err != nil {
			t.Fatal(err)
		}
		back, err := p.Dex.SignIn(ctx, oidctest.NewBrowser(), start, alice.Email, alice.Password)
		if err != nil {
			t.Fatal(err)
		}
		return flow, back.Query().Get("code")
	}

	t.Run("right verifier and nonce", func(t *testing.T) {
		flow, code := signIn(t)
		id, err := p.OIDC.Exchange(ctx, code, flow.Verifier, flow.Nonce)
		if err != nil || id.Username != "alice" || id.Email != alice.Email || id.Display != alice.Name || id.Subject == "" || !slices.Equal(id.Groups, alice.Groups) {
			t.Fatalf("identity %+v, %v", id, err)
		}
	})
	t.Run("another PKCE verifier", func(t *testing.T) {
		flow, code := signIn(t)
		other, _ := auth.NewFlow()
		if _, err := p.OIDC.Exchange(ctx, code, other.Verifier, flow.Nonce); !errors.Is(err, auth.ErrProviderRejected) {
			t.Errorf("%v, want ErrProviderRejected", err)
		}
	})
	t.Run("another nonce", func(t *testing.T) {
		flow, code := signIn(t)
		if _, err := p.OIDC.Exchange(ctx, code, flow.Verifier, "another-nonce"); !errors.Is(err, auth.ErrIDToken) || !strings.Contains(err.Error(), "nonce") {
			t.Errorf("%v, want ErrIDToken about the nonce", err)
		}
	})
	t.Run("an expired ID token", func(t *testing.T) {
		flow, code := signIn(t)
		late := &auth.OIDC{Issuer: p.OIDC.Issuer, ClientID: p.OIDC.ClientID, ClientSecret: p.OIDC.ClientSecret, RedirectURL: p.OIDC.RedirectURL,
			Now: func() time.Time { return time.Now().Add(2 * time.Hour) }} // Dex issues them for an hour here
		if _, err := late.Exchange(ctx, code, flow.Verifier, flow.Nonce); !errors.Is(err, auth.ErrIDToken) || !strings.Contains(err.Error(), "expired") {
			t.Errorf("%v, want ErrIDToken about expiry", err)
		}
	})
}

// TestLogin_providerDown_failsTheSignInOnly: a provider that does not
// answer is an upstream error for the sign-in, not a portal failure.
func TestLogin_providerDown_failsTheSignInOnly(t *testing.T) {
	gin.SetMode(gin.TestMode)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String() + "/dex"
	_ = l.Close() // nothing listens there any more

	tokens := &auth.Tokens{Key: []byte("0123456789abcdef0123456789abcdef"), Issuer: "streamspace-test"}
	h := &api.OIDCAPI{OIDC: &auth.OIDC{Issuer: down, ClientID: "portal"}, Auth: &api.AuthAPI{Tokens: tokens}}
	r := gin.New()
	r.Use(api.RenderErrors(logr.Discard()))
	r.GET("/login", h.Login)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/login", nil))
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != http.StatusBadGateway || e.Error.Code != api.CodeUpstream || !strings.Contains(e.Error.Message, down) {
		t.Errorf("login with the provider down: %d %s, want 502 upstream_unavailable naming the issuer", w.Code, w.Body)
	}
	if w.Header().Get("Set-Cookie") != "" {
		t.Errorf("a flow cookie for a sign-in that cannot start: %s", w.Header().Get("Set-Cookie"))
	}
}
