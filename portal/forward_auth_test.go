package portal_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/test/freeport"
)

const faPattern = "{session}.apps.test"

// seenRequest is what a stand-in session received through nginx.
type seenRequest struct {
	host, user, cookie, authorization string
}

// sessionStandIn is the pods behind the Ingress: it answers every host
// and records what reached it.
type sessionStandIn struct {
	mu   sync.Mutex
	seen []seenRequest
}

func (s *sessionStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.seen = append(s.seen, seenRequest{host: r.Host, user: r.Header.Get("X-StreamSpace-User"),
		cookie: r.Header.Get("Cookie"), authorization: r.Header.Get("Authorization")})
	s.mu.Unlock()
	fmt.Fprintf(w, "content of %s", r.Host)
}

func (s *sessionStandIn) take() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.seen
	s.seen = nil
	return out
}

func findNginx(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	if os.Geteuid() != 0 {
		t.Skip("nginx is not installed and the test is not root: make system-deps installs it")
	}
	t.Fatal("nginx is not installed: run make system-deps")
	return ""
}

// send makes one request and reads its answer whole.
func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// startNginx runs a real nginx on loopback that asks the portal's forward
// auth (auth_request) before every request to a session host, the way
// ingress-nginx does, and drops the portal's credentials on the way to
// the session.
func startNginx(t *testing.T, portalURL, sessionURL string) string {
	t.Helper()
	bin := findNginx(t)
	dir := t.TempDir()
	port := freeport.For(t)
	// one process, no master: killing it leaves no worker behind
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events {}
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen 127.0.0.1:%[2]d;
		location / {
			auth_request /_streamspace_auth;
			auth_request_set $ss_user $upstream_http_x_streamspace_user;
			proxy_set_header Host $host;
			proxy_set_header X-StreamSpace-User $ss_user;
			proxy_set_header Cookie "";
			proxy_set_header Authorization "";
			proxy_pass %[4]s;
		}
		location = /_streamspace_auth {
			internal;
			proxy_pass %[3]s/api/v1/auth/forward;
			proxy_pass_request_body off;
			proxy_set_header Content-Length "";
			proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
		}
	}
}
`, dir, port, portalURL, sessionURL)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error.log:\n%s", b)
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatal("nginx did not listen")
		}
	}
}

// TestForwardAuth_realNginx_ownerAdminPass_othersRefused_credentialsDropped
// puts a real nginx with auth_request between callers and a session, with
// the real portal router answering the subrequest.
func TestForwardAuth_realNginx_ownerAdminPass_othersRefused_credentialsDropped(t *testing.T) {
	runningSession(t, "alice-fa-1", "alice", now)
	// gone after the test: bob's running sessions count against his quota
	bobs := runningSession(t, "bob-fa-1", "bob", now)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), bobs) })
	reg := prometheus.NewRegistry()
	h := newHandlers(func(c *portal.Components) { c.IngressHost = faPattern; c.Registry = reg })
	portalSrv := httptest.NewServer(portal.NewRouter(h))
	defer portalSrv.Close()
	backend := &sessionStandIn{}
	sessionSrv := httptest.NewServer(backend)
	defer sessionSrv.Close()
	proxy := startNginx(t, portalSrv.URL, sessionSrv.URL)

	alice, _ := login(t, "alice")
	bob, _ := login(t, "bob")
	root, _ := login(t, "root")
	aliceUser, err := db.UserByName(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	past := &auth.Tokens{Store: db, Key: tokens.Key, Issuer: "streamspace", Now: func() time.Time { return now.Add(-2 * time.Hour) }}
	expired, err := past.Issue(context.Background(), aliceUser)
	if err != nil {
		t.Fatal(err)
	}
	forged := alice[:len(alice)-4] + "AAAA" // same claims, wrong signature

	get := func(host string, edit func(*http.Request)) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, proxy+"/index.html", nil)
		req.Host = host
		if edit != nil {
			edit(req)
		}
		return send(t, req)
	}
	cookie := func(token string) func(*http.Request) {
		return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: auth.AccessCookie, Value: token}) }
	}
	const aliceHost, bobHost = "alice-fa-1.apps.test", "bob-fa-1.apps.test"

	for _, tc := range []struct {
		name   string
		host   string
		edit   func(*http.Request)
		status int
		user   string // who the session is told the caller is
	}{
		{"owner by cookie", aliceHost, cookie(alice), http.StatusOK, "alice"},
		{"owner by bearer, claiming to be root", aliceHost, func(r *http.Request) {
			bearer(alice)(r)
			r.Header.Set("X-StreamSpace-User", "root")
		}, http.StatusOK, "alice"},
		{"admin", aliceHost, bearer(root), http.StatusOK, "root"},
		{"another user", aliceHost, bearer(bob), http.StatusForbidden, ""},
		{"another user, naming his own host in X-Forwarded-Host", aliceHost, func(r *http.Request) {
			bearer(bob)(r)
			r.Header.Set("X-Forwarded-Host", bobHost)
		}, http.StatusForbidden, ""},
		{"another user, naming his own host in X-Original-Host", aliceHost, func(r *http.Request) {
			cookie(bob)(r)
			r.Header.Set("X-Original-Host", bobHost)
		}, http.StatusForbidden, ""},
		{"anonymous", aliceHost, nil, http.StatusUnauthorized, ""},
		{"forged token", aliceHost, bearer(forged), http.StatusUnauthorized, ""},
		{"expired token", aliceHost, cookie(expired.AccessToken), http.StatusUnauthorized, ""},
		{"unknown host", "nobody-fa-9.apps.test", bearer(bob), http.StatusForbidden, ""},
		{"his own session", bobHost, bearer(bob), http.StatusOK, "bob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(tc.host, tc.edit)
			seen := backend.take()
			if status != tc.status {
				t.Fatalf("status %d, want %d (%s)", status, tc.status, body)
			}
			if tc.status != http.StatusOK {
				if len(seen) != 0 || strings.Contains(body, "content of") {
					t.Fatalf("a refused caller reached the session: %+v %q", seen, body)
				}
				return
			}
			if body != "content of "+tc.host || len(seen) != 1 {
				t.Fatalf("content %q, session saw %+v", body, seen)
			}
			if s := seen[0]; s.user != tc.user || s.cookie != "" || s.authorization != "" {
				t.Errorf("session received user %q, cookie %q, authorization %q: want %q and no portal credentials", s.user, s.cookie, s.authorization, tc.user)
			}
		})
	}

	want := `
# HELP streamspace_portal_forward_auth_total Forward-auth answers to Ingress controllers, by outcome (allowed, unauthenticated, forbidden, unknown_host, no_host, error).
# TYPE streamspace_portal_forward_auth_total counter
streamspace_portal_forward_auth_total{outcome="allowed"} 4
streamspace_portal_forward_auth_total{outcome="forbidden"} 1
streamspace_portal_forward_auth_total{outcome="no_host"} 2
streamspace_portal_forward_auth_total{outcome="unauthenticated"} 3
streamspace_portal_forward_auth_total{outcome="unknown_host"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "streamspace_portal_forward_auth_total"); err != nil {
		t.Error(err)
	}
}

// TestForwardAuth_unknownHostAndOthersSession_answerAlike: a signed-in
// caller cannot tell which session hosts exist.
func TestForwardAuth_unknownHostAndOthersSession_answerAlike(t *testing.T) {
	runningSession(t, "alice-fa-2", "alice", now)
	h := newHandlers(func(c *portal.Components) { c.IngressHost = "{user}-{session}.apps.test" })
	portalSrv := httptest.NewServer(portal.NewRouter(h))
	defer portalSrv.Close()
	alice, _ := login(t, "alice")
	bob, _ := login(t, "bob")
	ask := func(method, token, header, value string) (int, string) {
		req, _ := http.NewRequest(method, portalSrv.URL+"/api/v1/auth/forward", nil)
		bearer(token)(req)
		req.Header.Set(header, value)
		return send(t, req)
	}
	// the pattern splits alice-alice-fa-2 several ways; only the session
	// whose own host it is counts
	if st, _ := ask(http.MethodHead, alice, "X-Forwarded-Host", "alice-alice-fa-2.apps.test:443"); st != http.StatusOK {
		t.Fatalf("owner via Traefik's header: %d", st)
	}
	if st, _ := ask(http.MethodGet, alice, "X-Forwarded-Host", "bob-alice-fa-2.apps.test"); st != http.StatusForbidden {
		t.Fatalf("a host naming another user for alice's session: %d", st)
	}
	other, otherBody := ask(http.MethodGet, bob, "X-Original-URL", "https://alice-alice-fa-2.apps.test/x")
	unknown, unknownBody := ask(http.MethodGet, bob, "X-Original-URL", "https://alice-alice-fa-3.apps.test/x")
	if other != http.StatusForbidden || unknown != http.StatusForbidden || otherBody != unknownBody {
		t.Fatalf("another's session %d %s, unknown host %d %s: must answer alike", other, otherBody, unknown, unknownBody)
	}
}

// TestForwardAuth_realNginx_appsCookie_opensItsOwnHostOnly: with the
// Ingress hosts on the apps domain ({session}.<apps domain>), a browser
// signed in on a session's apps host uses that host's cookie through the
// Ingress: a real nginx asks the portal (auth_request) with it, and the
// cookie of session A opens A's host and nothing else.
func TestForwardAuth_realNginx_appsCookie_opensItsOwnHostOnly(t *testing.T) {
	a := &appsPortal{t: t}
	a.h = newHandlers(func(c *portal.Components) {
		c.AppsDomain, c.PublicURL, c.IngressHost = appsDomain, "https://portal.example.com", "{session}."+appsDomain
	})
	a.srv = httptest.NewServer(portal.Handler(a.h))
	t.Cleanup(a.srv.Close)
	backend := &sessionStandIn{}
	sessionSrv := httptest.NewServer(backend)
	defer sessionSrv.Close()
	proxy := startNginx(t, a.srv.URL, sessionSrv.URL)

	alice, _ := login(t, "alice")
	mallory := newUser(t, "mallet")
	sa := runningSession(t, "alice-fa-apps-a", "alice", now)
	sb := runningSession(t, "alice-fa-apps-b", "alice", now)
	sm := runningSession(t, "mallet-fa-apps", "mallet", now)
	aliceA := a.signIn(alice, sa.Name)
	malloryM := a.signIn(mallory, sm.Name)
	if aliceA.Name != "__Host-streamspace-app" {
		t.Fatalf("apps cookie %q", aliceA.Name)
	}
	tampered := *aliceA
	tampered.Value = aliceA.Value[:len(aliceA.Value)-4] + "AAAA"
	asApps := func(value string) func(*http.Request) {
		return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: aliceA.Name, Value: value}) }
	}

	for _, tc := range []struct {
		name   string
		host   string
		edit   func(*http.Request)
		status int
	}{
		{"A's cookie on A's host", appsHost(sa.Name), withCookie(aliceA), http.StatusOK}, // as alice (below)
		{"A's cookie on B's host (same owner)", appsHost(sb.Name), withCookie(aliceA), http.StatusUnauthorized},
		{"another user's cookie of his own session on A's host", appsHost(sa.Name), withCookie(malloryM), http.StatusUnauthorized},
		{"his cookie on his own host", appsHost(sm.Name), withCookie(malloryM), http.StatusOK},
		{"A's cookie on a host that is no session's", appsHost("nobody-fa-apps"), withCookie(aliceA), http.StatusUnauthorized},
		{"a tampered cookie", appsHost(sa.Name), withCookie(&tampered), http.StatusUnauthorized},
		{"the portal's access token as the apps cookie", appsHost(sa.Name), asApps(alice), http.StatusUnauthorized},
		{"the cookie under the name used without TLS", appsHost(sa.Name), func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "streamspace-app", Value: aliceA.Value})
		}, http.StatusUnauthorized},
		{"another user's portal token beside A's cookie: the token decides", appsHost(sa.Name), func(r *http.Request) {
			withCookie(aliceA)(r)
			bearer(mallory)(r)
		}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, proxy+"/index.html", nil)
			req.Host = tc.host
			tc.edit(req)
			status, body := send(t, req)
			seen := backend.take()
			if status != tc.status {
				t.Fatalf("status %d, want %d (%s)", status, tc.status, body)
			}
			if tc.status != http.StatusOK {
				if len(seen) != 0 {
					t.Fatalf("a refused caller reached the session: %+v", seen)
				}
				return
			}
			owner := strings.SplitN(tc.host, "-", 2)[0] // alice-…, mallet-…
			if len(seen) != 1 || seen[0].host != tc.host || seen[0].cookie != "" || seen[0].user != owner {
				t.Fatalf("the session saw %+v, want the request of %s without the cookie", seen, owner)
			}
		})
	}
}
