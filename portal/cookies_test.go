package portal_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/auth"
)

// Under TLS the portal's cookies carry the names only their own host can
// set (__Host-, or __Secure- for the path-scoped ones), and the plain names
// — what a sibling host of the same site, an apps host among them, could
// plant for the parent domain — are never read.
func TestCookies_underTLS_onlyTheirOwnHostCanSetThem(t *testing.T) {
	srv := httptest.NewServer(portal.NewRouter(newHandlers(func(c *portal.Components) { c.SecureCookies = true })))
	defer srv.Close()

	body, _ := json.Marshal(map[string]string{"username": "alice", "password": "password-of-alice"})
	resp, err := http.Post(srv.URL+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %v %v", resp, err)
	}
	resp.Body.Close()
	set := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		set[c.Name] = c
	}
	names := auth.Cookies(true)
	for name, path := range map[string]string{names.Access: "/", names.CSRF: "/", names.Refresh: "/api/v1/auth"} {
		c := set[name]
		if c == nil {
			t.Fatalf("login set no %s cookie; it set %v", name, resp.Header.Values("Set-Cookie"))
		}
		if !c.Secure || c.Path != path || c.Domain != "" {
			t.Errorf("%s: Secure %v, Path %q, Domain %q: the browser would refuse its prefix", name, c.Secure, c.Path, c.Domain)
		}
	}
	for _, plain := range []string{auth.AccessCookie, auth.CSRFCookie, auth.RefreshCookie} {
		if set[plain] != nil {
			t.Errorf("login also set the plain %s", plain)
		}
	}
	access, refresh := set[names.Access].Value, set[names.Refresh].Value

	do := func(method, path string, cookies map[string]string, header string) int {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader([]byte(`{}`)))
		req.Header.Set("Content-Type", "application/json")
		for name, value := range cookies {
			req.AddCookie(&http.Cookie{Name: name, Value: value})
		}
		if header != "" {
			req.Header.Set(auth.CSRFHeader, header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := do(http.MethodGet, "/api/v1/users/me", map[string]string{names.Access: access}, ""); got != http.StatusOK {
		t.Errorf("the __Host- access cookie: %d, want 200", got)
	}
	if got := do(http.MethodGet, "/api/v1/users/me", map[string]string{auth.AccessCookie: access}, ""); got != http.StatusUnauthorized {
		t.Errorf("a plain-named access cookie (plantable by a sibling host): %d, want 401", got)
	}
	// A CSRF token the attacker planted under the plain name is not the
	// one compared; the real one passes the check (400: the empty body).
	if got := do(http.MethodPost, "/api/v1/sessions", map[string]string{names.Access: access, auth.CSRFCookie: "planted"}, "planted"); got != http.StatusForbidden {
		t.Errorf("a planted plain-named CSRF cookie: %d, want 403", got)
	}
	if got := do(http.MethodPost, "/api/v1/sessions", map[string]string{names.Access: access, names.CSRF: "mine"}, "mine"); got != http.StatusBadRequest {
		t.Errorf("the __Host- CSRF cookie: %d, want 400 (past the check, refused for its body)", got)
	}
	if got := do(http.MethodPost, "/api/v1/auth/refresh", map[string]string{auth.RefreshCookie: refresh}, ""); got != http.StatusUnauthorized {
		t.Errorf("a plain-named refresh cookie: %d, want 401", got)
	}
	if got := do(http.MethodPost, "/api/v1/auth/refresh", map[string]string{names.Refresh: refresh}, ""); got != http.StatusOK {
		t.Errorf("the __Secure- refresh cookie: %d, want 200", got)
	}
}
