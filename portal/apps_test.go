package portal_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/store"
)

// appsPortal is the whole portal handler (routing by Host first) with an
// apps domain, over the test's API server, store and stand-in sessions.
type appsPortal struct {
	t     *testing.T
	srv   *httptest.Server
	h     portal.Handlers
	clock atomic.Int64 // added to the real time, in seconds
}

func newAppsPortal(t *testing.T, public, domain string) *appsPortal {
	t.Helper()
	a := &appsPortal{t: t}
	a.h = newHandlers(func(c *portal.Components) { c.AppsDomain, c.PublicURL = domain, public })
	a.h.Apps.Now = func() time.Time { return time.Now().Add(time.Duration(a.clock.Load()) * time.Second) }
	a.srv = httptest.NewServer(portal.Handler(a.h))
	t.Cleanup(a.srv.Close)
	return a
}

// do sends a request for host (a session's apps host, or "" for the
// portal's) and never follows a redirect.
func (a *appsPortal) do(method, host, path string, edit func(*http.Request)) (*http.Response, string) {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.srv.URL+path, nil)
	if host != "" {
		req.Host = host
	}
	if edit != nil {
		edit(req)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// ticket asks the portal for a ticket to session as the holder of token.
func (a *appsPortal) ticket(token, session string) (string, int) {
	a.t.Helper()
	resp, body := a.do(http.MethodPost, "", "/api/v1/sessions/"+session+"/apps-ticket", bearer(token))
	var out struct{ URL, Origin string }
	_ = json.Unmarshal([]byte(body), &out)
	return out.URL, resp.StatusCode
}

// exchange loads a ticket URL on the host it names, as the viewer's frame
// does, and returns the response and the credential cookie it set.
func (a *appsPortal) exchange(ticketURL string) (*http.Response, *http.Cookie) {
	a.t.Helper()
	u, err := url.Parse(ticketURL)
	if err != nil || u.Path != "/_streamspace/auth" {
		a.t.Fatalf("ticket URL %q", ticketURL)
	}
	resp, _ := a.do(http.MethodGet, u.Host, u.RequestURI(), nil)
	for _, ck := range resp.Cookies() {
		if strings.Contains(ck.Name, "streamspace-app") {
			return resp, ck
		}
	}
	return resp, nil
}

// signIn: ticket then exchange, which must succeed.
func (a *appsPortal) signIn(token, session string) *http.Cookie {
	a.t.Helper()
	u, status := a.ticket(token, session)
	if status != http.StatusCreated {
		a.t.Fatalf("ticket for %s: %d", session, status)
	}
	resp, ck := a.exchange(u)
	if resp.StatusCode != http.StatusSeeOther || ck == nil {
		a.t.Fatalf("exchange for %s: %d, cookie %v", session, resp.StatusCode, ck)
	}
	return ck
}

// newUser creates a user of this test's own and signs them in.
func newUser(t *testing.T, name string) string {
	t.Helper()
	hash, _ := auth.HashPassword("password-of-" + name)
	if err := db.CreateUser(context.Background(), &store.User{Username: name, PasswordHash: hash, Role: "user", Source: "local"}); err != nil {
		t.Fatal(err)
	}
	token, _ := login(t, name)
	return token
}

func bearer(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func withCookie(ck *http.Cookie) func(*http.Request) {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value}) }
}

const appsDomain = "apps.example.com"

func appsHost(session string) string { return session + "." + appsDomain }

func TestApps_signInByTicket_cookieForThatHostOnly_headers(t *testing.T) {
	a := newAppsPortal(t, "https://portal.example.com", appsDomain)
	alice, _ := login(t, "alice")
	s := runningSession(t, "alice-apps", "alice", time.Now())

	u, status := a.ticket(alice, s.Name)
	if status != http.StatusCreated || !strings.HasPrefix(u, "https://alice-apps.apps.example.com/_streamspace/auth?ticket=") {
		t.Fatalf("ticket: %d %q", status, u)
	}
	resp, ck := a.exchange(u)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("exchange: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// host-only (no Domain), HttpOnly, __Host- and Secure under TLS, and
	// SameSite=Strict: portal.example.com and *.apps.example.com are one site
	setCookie := resp.Header.Get("Set-Cookie")
	if ck == nil || ck.Name != "__Host-streamspace-app" || !ck.HttpOnly || !ck.Secure || ck.Path != "/" ||
		ck.SameSite != http.SameSiteStrictMode || strings.Contains(strings.ToLower(setCookie), "domain=") {
		t.Fatalf("credential cookie: %s", setCookie)
	}
	if strings.Contains(setCookie, "ss_") || len(resp.Cookies()) != 1 {
		t.Errorf("the apps host set %v", resp.Header.Values("Set-Cookie"))
	}

	// the web client, over HTTP and its WebSocket, with the apps headers
	resp, body := a.do(http.MethodGet, appsHost(s.Name), "/index.html", withCookie(ck))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "web client") {
		t.Fatalf("web client on its host: %d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Content-Security-Policy"); got != "frame-ancestors https://portal.example.com" {
		t.Errorf("apps host CSP %q", got)
	}
	if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("apps host Referrer-Policy %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, path := range []string{"/websockify", "/_streamspace/connect"} { // the web client's, and noVNC's stream
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.srv.URL, "http")+path, &websocket.DialOptions{
			Host: appsHost(s.Name), HTTPHeader: http.Header{"Cookie": {ck.Name + "=" + ck.Value}}, Subprotocols: []string{"binary"}})
		if err != nil {
			t.Fatalf("WebSocket %s on the apps host: %v", path, err)
		}
		conn.SetReadLimit(-1)
		vncHandshake(t, ctx, conn)
		_ = conn.Close(websocket.StatusNormalClosure, "")
		// and not without the credential
		if conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.srv.URL, "http")+path, &websocket.DialOptions{
			Host: appsHost(s.Name), HTTPHeader: http.Header{"Authorization": {"Bearer " + alice}}}); err == nil {
			conn.CloseNow()
			t.Errorf("WebSocket %s opened with a portal token", path)
		} else if resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("WebSocket %s without the credential: %v", path, err)
		}
	}

	// the portal's origin: a strict CSP framing only the apps hosts; the
	// web client is not served there any more
	resp, _ = a.do(http.MethodGet, "", "/api/v1/users/me", bearer(alice))
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self';", "frame-src https://*.apps.example.com;", "frame-ancestors 'none'", "base-uri 'none'", "object-src 'none'", "connect-src 'self' wss://*.apps.example.com;"} {
		if !strings.Contains(csp, want) {
			t.Errorf("portal CSP %q lacks %q", csp, want)
		}
	}
	if resp, _ := a.do(http.MethodGet, "", "/api/v1/sessions/"+s.Name+"/web/index.html", bearer(alice)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("path web client with an apps domain: %d, want 404 (off unless --path-web-clients)", resp.StatusCode)
	}
}

// TestApps_noVNCStreamByTicket_fromThePortalsPage: the portal's own noVNC
// viewer (on the portal's page) opens the session's stream on the apps
// host with a one-time ticket: once, for that session alone, from the
// portal's page or no page; another apps host's page cannot, even with a
// ticket, and the stream is no longer offered by cookie to the portal's page.
func TestApps_noVNCStreamByTicket_fromThePortalsPage(t *testing.T) {
	a := newAppsPortal(t, "https://portal.example.com", appsDomain)
	alice, _ := login(t, "alice")
	s := runningSession(t, "alice-novnc", "alice", time.Now())
	other := runningSession(t, "alice-novnc-b", "alice", time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	connectURL := func(session string) string {
		t.Helper()
		resp, body := a.do(http.MethodPost, "", "/api/v1/sessions/"+session+"/apps-ticket", bearer(alice))
		var out struct{ Connect string }
		_ = json.Unmarshal([]byte(body), &out)
		if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(out.Connect, "wss://"+appsHost(session)+"/_streamspace/connect?ticket=") {
			t.Fatalf("ticket for %s: %d connect %q", session, resp.StatusCode, out.Connect)
		}
		return out.Connect
	}
	// dial opens u (a wss:// URL on its apps host) on the test server, as
	// a page of origin would
	dial := func(u, origin string) (*websocket.Conn, int) {
		t.Helper()
		parsed, _ := url.Parse(u)
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.srv.URL, "http")+parsed.RequestURI(),
			&websocket.DialOptions{Host: parsed.Host, HTTPHeader: h, Subprotocols: []string{"binary"}})
		if err != nil {
			if resp == nil {
				t.Fatalf("dial %s: %v", parsed.Path, err)
			}
			return nil, resp.StatusCode
		}
		conn.SetReadLimit(-1)
		return conn, http.StatusSwitchingProtocols
	}

	u := connectURL(s.Name)
	conn, status := dial(u, "https://portal.example.com")
	if conn == nil {
		t.Fatalf("the portal's viewer with a ticket: %d", status)
	}
	vncHandshake(t, ctx, conn)
	_ = conn.Close(websocket.StatusNormalClosure, "")

	refused := []struct {
		name, url, origin string
		want              int
	}{
		{"the same ticket again", u, "https://portal.example.com", http.StatusUnauthorized},
		{"a ticket of session B on session A's host", strings.Replace(connectURL(other.Name), other.Name+".", s.Name+".", 1), "https://portal.example.com", http.StatusUnauthorized},
		{"a fresh ticket from another apps host's page", connectURL(s.Name), "https://" + appsHost(other.Name), http.StatusForbidden},
		{"a fresh ticket from another site's page", connectURL(s.Name), "https://evil.example", http.StatusForbidden},
		{"no ticket, from the portal's page", "wss://" + appsHost(s.Name) + "/_streamspace/connect", "https://portal.example.com", http.StatusUnauthorized},
	}
	for _, tc := range refused {
		if conn, status := dial(tc.url, tc.origin); conn != nil || status != tc.want {
			if conn != nil {
				conn.CloseNow()
			}
			t.Errorf("%s: %d, want %d", tc.name, status, tc.want)
		}
	}
	// a ticket spent by the stream opens no frame
	u = connectURL(s.Name)
	if conn, _ := dial(u, ""); conn == nil {
		t.Fatal("a ticket from no page (an API client)")
	} else {
		conn.CloseNow()
	}
	exchange := strings.Replace(strings.Replace(u, "wss://", "https://", 1), "/_streamspace/connect", "/_streamspace/auth", 1)
	if resp, ck := a.exchange(exchange); resp.StatusCode != http.StatusUnauthorized || ck != nil {
		t.Errorf("a ticket spent by the stream, exchanged for a cookie: %d %v", resp.StatusCode, ck)
	}
}

// TestApps_hibernatedSession_notWokenByItsWebClient: a web client left
// open reconnects by itself; on the apps host that must not wake the
// session it was hibernated from (the portal's /connect still does).
func TestApps_hibernatedSession_notWokenByItsWebClient(t *testing.T) {
	a := newAppsPortal(t, "https://portal.example.com", appsDomain)
	alice, _ := login(t, "alice")
	s := runningSession(t, "alice-sleeps", "alice", time.Now())
	ck := a.signIn(alice, s.Name)
	u, _ := a.ticket(alice, s.Name)
	ticket, _ := url.Parse(u)
	if err := env.Client.Patch(context.Background(), s, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"state":"hibernated"}}`))); err != nil {
		t.Fatal(err)
	}
	setStatus(t, s, streamv1.PhaseHibernated, time.Now())
	for _, path := range []string{"/", "/websockify", "/_streamspace/connect?ticket=" + url.QueryEscape(ticket.Query().Get("ticket"))} {
		resp, body := a.do(http.MethodGet, appsHost(s.Name), path, withCookie(ck))
		if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "not_running") || !strings.Contains(body, "open it from the portal") {
			t.Errorf("%s of a hibernated session: %d %s", path, resp.StatusCode, body)
		}
	}
	got := &streamv1.Session{}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(s), got); err != nil || got.Spec.State != streamv1.StateHibernated {
		t.Fatalf("the apps host woke the session: %v %q", err, got.Spec.State)
	}
	// nor is its state told to anyone without its credential
	if resp, body := a.do(http.MethodGet, appsHost(s.Name), "/", bearer(alice)); resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "not_running") {
		t.Errorf("the hibernated session's host without its credential: %d %s", resp.StatusCode, body)
	}
	// the portal's viewer wakes it, through the portal
	if r := call(t, http.MethodGet, "/api/v1/sessions/"+s.Name+"/connect", alice, nil); r.Status != http.StatusAccepted {
		t.Errorf("the portal's /connect on a hibernated session: %d", r.Status)
	}
}

func TestApps_authorizationMatrix(t *testing.T) {
	a := newAppsPortal(t, "https://portal.example.com", appsDomain)
	alice, _ := login(t, "alice")
	bob := newUser(t, "mallory") // not bob: his quota is counted elsewhere
	root, _ := login(t, "root")
	sa := runningSession(t, "alice-matrix-a", "alice", time.Now())
	sb := runningSession(t, "alice-matrix-b", "alice", time.Now())
	bobs := runningSession(t, "mallory-matrix", "mallory", time.Now())
	aliceA := a.signIn(alice, sa.Name)
	bobCookie := a.signIn(bob, bobs.Name)

	get := func(host string, edit func(*http.Request)) (int, string) {
		resp, body := a.do(http.MethodGet, host, "/index.html", edit)
		return resp.StatusCode, body
	}
	cases := []struct {
		name string
		host string
		edit func(*http.Request)
		want int
	}{
		{"owner", appsHost(sa.Name), withCookie(aliceA), http.StatusOK},
		{"the owner's cookie of session A on session B's host", appsHost(sb.Name), withCookie(aliceA), http.StatusUnauthorized},
		{"another user's valid cookie on alice's host", appsHost(sa.Name), withCookie(bobCookie), http.StatusUnauthorized},
		{"anonymous", appsHost(sa.Name), nil, http.StatusUnauthorized},
		{"the portal's access token", appsHost(sa.Name), bearer(alice), http.StatusUnauthorized},
		{"the portal's access cookie", appsHost(sa.Name), func(r *http.Request) { r.AddCookie(&http.Cookie{Name: auth.AccessCookie, Value: alice}) }, http.StatusUnauthorized},
		{"the portal's access token as the credential", appsHost(sa.Name), func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: aliceA.Name, Value: alice})
		}, http.StatusUnauthorized},
		{"a host under the apps domain that is no session's", "x." + appsHost(sa.Name), withCookie(aliceA), http.StatusNotFound},
	}
	for _, tc := range cases {
		if code, body := get(tc.host, tc.edit); code != tc.want || (code != http.StatusOK && strings.Contains(body, "web client")) {
			t.Errorf("%s: %d, want %d (%.80s)", tc.name, code, tc.want, body)
		}
	}

	// tickets: another's session → 404; an admin → yes; for A on B → no
	if _, status := a.ticket(bob, sa.Name); status != http.StatusNotFound {
		t.Errorf("mallory's ticket for alice's session: %d", status)
	}
	if _, status := a.ticket(alice, "no-such-session"); status != http.StatusNotFound {
		t.Errorf("ticket for a missing session: %d", status)
	}
	a.signIn(root, sa.Name)
	u, _ := a.ticket(alice, sa.Name)
	onB := strings.Replace(u, sa.Name+".", sb.Name+".", 1)
	if resp, ck := a.exchange(onB); resp.StatusCode != http.StatusUnauthorized || ck != nil {
		t.Errorf("ticket of A on B's host: %d, cookie %v", resp.StatusCode, ck)
	}
	// a replayed ticket
	if resp, _ := a.exchange(u); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first use: %d", resp.StatusCode)
	}
	if resp, ck := a.exchange(u); resp.StatusCode != http.StatusUnauthorized || ck != nil {
		t.Errorf("replayed ticket: %d, cookie %v", resp.StatusCode, ck)
	}
	// an expired ticket, and an expired credential
	u, _ = a.ticket(alice, sa.Name)
	a.clock.Store(31)
	if resp, ck := a.exchange(u); resp.StatusCode != http.StatusUnauthorized || ck != nil {
		t.Errorf("expired ticket: %d, cookie %v", resp.StatusCode, ck)
	}
	a.clock.Store(int64((12*time.Hour + time.Minute) / time.Second))
	if code, _ := get(appsHost(sa.Name), withCookie(aliceA)); code != http.StatusUnauthorized {
		t.Errorf("expired credential: %d", code)
	}
	a.clock.Store(0)

	// the apps credential opens nothing of the portal's API
	for _, edit := range []func(*http.Request){bearer(aliceA.Value), withCookie(aliceA),
		func(r *http.Request) { r.AddCookie(&http.Cookie{Name: auth.AccessCookie, Value: aliceA.Value}) }} {
		if resp, _ := a.do(http.MethodGet, "", "/api/v1/users/me", edit); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("apps credential on the portal API: %d", resp.StatusCode)
		}
	}
	// and a ticket is no credential
	u, _ = a.ticket(alice, sa.Name)
	ticket, _ := url.Parse(u)
	if code, _ := get(appsHost(sa.Name), func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: aliceA.Name, Value: ticket.Query().Get("ticket")})
	}); code != http.StatusUnauthorized {
		t.Errorf("a ticket as the credential: %d", code)
	}
}

func TestApps_disabledUser_refusedAtOnce(t *testing.T) {
	a := newAppsPortal(t, "https://portal.example.com", appsDomain)
	ctx := context.Background()
	dora := newUser(t, "dora")
	s := runningSession(t, "dora-apps", "dora", time.Now())
	ck := a.signIn(dora, s.Name)
	u, _ := a.ticket(dora, s.Name) // a ticket still unused when she is disabled
	if resp, _ := a.do(http.MethodGet, appsHost(s.Name), "/index.html", withCookie(ck)); resp.StatusCode != http.StatusOK {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	user, err := db.UserByName(ctx, "dora")
	if err != nil {
		t.Fatal(err)
	}
	user.Disabled = true
	if err := db.UpdateUser(ctx, user); err != nil {
		t.Fatal(err)
	}
	if resp, body := a.do(http.MethodGet, appsHost(s.Name), "/index.html", withCookie(ck)); resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "web client") {
		t.Errorf("disabled user's credential: %d", resp.StatusCode)
	}
	if resp, ck := a.exchange(u); resp.StatusCode != http.StatusUnauthorized || ck != nil {
		t.Errorf("disabled user's ticket: %d, cookie %v", resp.StatusCode, ck)
	}
}

func TestApps_hostileSession_headersStripped_redirectNotSteerable(t *testing.T) {
	a := newAppsPortal(t, "https://portal.example.com", appsDomain)
	alice, _ := login(t, "alice")
	s := runningSession(t, "alice-hostile", "alice", time.Now())

	var seen atomic.Pointer[http.Request]
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Clone(context.Background()))
		w.Header().Set("Service-Worker-Allowed", "/")
		w.Header().Set("Clear-Site-Data", `"*"`)
		w.Header().Set("Content-Security-Policy", "frame-ancestors *")
		for _, name := range []string{"ss_access", "ss_csrf", "__Host-streamspace-app", "streamspace-app", "app_theme"} {
			http.SetCookie(w, &http.Cookie{Name: name, Value: "planted", Path: "/"})
		}
		_, _ = io.WriteString(w, "hostile page")
	}))
	defer hostile.Close()
	webUpstream = hostile.URL
	defer func() { webUpstream = "http://" + strings.TrimSuffix(strings.TrimPrefix(vnc.URL, "ws://"), "/") }()

	// the redirect after the exchange goes to / whatever the request says
	u, _ := a.ticket(alice, s.Name)
	for _, extra := range []string{"&next=https://evil.example/", "&redirect=//evil.example", "&return_to=/api/v1/tokens"} {
		resp, _ := a.exchange(u + extra)
		if resp.StatusCode == http.StatusSeeOther && resp.Header.Get("Location") != "/" {
			t.Errorf("exchange with %s redirected to %q", extra, resp.Header.Get("Location"))
		}
	}
	u, _ = a.ticket(alice, s.Name)
	resp, ck := a.exchange(u + "&next=https://evil.example/")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" || ck == nil {
		t.Fatalf("exchange with next=: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = a.do(http.MethodGet, appsHost(s.Name), "/_streamspace/auth/?ticket=x", func(r *http.Request) { r.Header.Set("X-Forwarded-Prefix", "//evil.example") })
	if resp.Header.Get("Location") != "" {
		t.Errorf("a trailing slash was redirected to %q", resp.Header.Get("Location"))
	}
	resp, _ = a.do(http.MethodGet, "evil.example", "/_streamspace/auth?ticket=x", nil)
	if resp.Header.Get("Location") != "" {
		t.Errorf("a foreign Host header was redirected to %q", resp.Header.Get("Location"))
	}

	resp, body := a.do(http.MethodGet, appsHost(s.Name), "/", func(r *http.Request) {
		withCookie(ck)(r)
		r.AddCookie(&http.Cookie{Name: "ss_access", Value: alice})
		r.AddCookie(&http.Cookie{Name: "app_theme", Value: "dark"})
		r.Header.Set("Authorization", "Bearer "+alice)
	})
	if resp.StatusCode != http.StatusOK || body != "hostile page" {
		t.Fatalf("hostile page: %d %s", resp.StatusCode, body)
	}
	for _, h := range []string{"Service-Worker-Allowed", "Clear-Site-Data"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("%s: %s passed through", h, v)
		}
	}
	var names []string
	for _, c := range resp.Cookies() {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "app_theme" {
		t.Errorf("cookies set through the apps host: %v, want only the app's own", names)
	}
	// ours is enforced beside the session's own policy
	if csp := resp.Header.Values("Content-Security-Policy"); len(csp) != 2 || csp[0] != "frame-ancestors https://portal.example.com" {
		t.Errorf("apps host CSP %q", csp)
	}
	r := seen.Load()
	if c := r.Header.Get("Cookie"); c != "app_theme=dark" || r.Header.Get("Authorization") != "" {
		t.Errorf("the session saw Cookie %q Authorization %q", c, r.Header.Get("Authorization"))
	}
	if r.Header.Get("X-Forwarded-Prefix") != "" {
		t.Errorf("X-Forwarded-Prefix %q on an apps host", r.Header.Get("X-Forwarded-Prefix"))
	}
}

func TestApps_localhost_crossSite_partitionedCookie_andRefusals(t *testing.T) {
	// make run's portal: http://localhost:8443, sessions on
	// <name>.localhost:8443. localhost and x.localhost are different sites,
	// so the frame's cookie is a third-party cookie: SameSite=None;Secure
	// (Chromium takes Secure from http://*.localhost) and Partitioned.
	a := newAppsPortal(t, "http://localhost:8443", "localhost")
	alice, _ := login(t, "alice")
	s := runningSession(t, "alice-local", "alice", time.Now())
	u, _ := a.ticket(alice, s.Name)
	if !strings.HasPrefix(u, "http://alice-local.localhost:8443/_streamspace/auth?ticket=") {
		t.Fatalf("ticket URL %q", u)
	}
	resp, ck := a.exchange(u)
	set := resp.Header.Get("Set-Cookie")
	if ck == nil || ck.Name != "streamspace-app" || ck.SameSite != http.SameSiteNoneMode || !ck.Secure || !ck.Partitioned || !ck.HttpOnly {
		t.Fatalf("credential cookie on localhost: %s", set)
	}
	resp, _ = a.do(http.MethodGet, "localhost:8443", "/", nil) // the portal itself is not an app
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-src http://*.localhost:8443;") {
		t.Errorf("portal CSP on localhost: %q", resp.Header.Get("Content-Security-Policy"))
	}

	// a session name that is no DNS label is refused with the reason
	dotted := runningSession(t, "alice.dotted", "alice", time.Now())
	r := call(t, http.MethodPost, "/api/v1/sessions/"+dotted.Name+"/apps-ticket", alice, nil)
	if r.Status != http.StatusNotFound { // the shared test router has no apps domain
		t.Errorf("ticket without an apps domain: %d", r.Status)
	}
	resp, body := a.do(http.MethodPost, "", "/api/v1/sessions/"+dotted.Name+"/apps-ticket", bearer(alice))
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "not one DNS label") {
		t.Errorf("ticket for %s: %d %s", dotted.Name, resp.StatusCode, body)
	}
	// settings that cannot work are refused at start
	for _, bad := range []struct{ public, domain string }{
		{"https://portal.apps.example.com", appsDomain}, // the portal would be an app
		{"http://portal.example.com", "apps.other.example"},
		{"", appsDomain},
	} {
		if _, err := portal.NewHandlers(portal.Components{Client: env.Client, Namespace: ns, Store: db, Tokens: tokens,
			Registry: prometheus.NewRegistry(), AppsDomain: bad.domain, PublicURL: bad.public}); err == nil {
			t.Errorf("apps domain %q with public URL %q accepted", bad.domain, bad.public)
		}
	}
}
