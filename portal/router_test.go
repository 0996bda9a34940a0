package portal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/api"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/gitwrite"
	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/portal/store/sqlite"
	"github.com/streamspace/streamspace/portal/stream"
	"github.com/streamspace/streamspace/test/testenv"
	"github.com/streamspace/streamspace/test/vnctest"
)

const ns = "streamspace"

var (
	env    *testenv.Env
	srv    *httptest.Server
	db     store.Store
	tokens *auth.Tokens
	vnc    *vnctest.Server
	now    = time.Now()

	streamMetrics *stream.Metrics
	// webUpstream is where the web client path leads (websockify serving
	// files and the stream on one port, like KasmVNC); tests may point it
	// elsewhere
	webUpstream string
	// gitWriter is the write-back of routers built from now on
	gitWriter *gitwrite.Writer
)

// webDir writes the files of a stand-in web client.
func webDir(dir string) string {
	web := filepath.Join(dir, "web")
	_ = os.MkdirAll(web, 0o755)
	_ = os.WriteFile(filepath.Join(web, "index.html"), []byte("<!doctype html><title>web client</title>"), 0o644)
	return web
}

// TestMain: a real API server (the portal's Kubernetes side), the embedded
// SQLite store, and the real router over HTTP.
func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	var err error
	if env, err = testenv.Start(false); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, _ := os.MkdirTemp("", "portal-test-")
	ctx := context.Background()
	if db, err = sqlite.Open(ctx, filepath.Join(dir, "portal.db")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := seed(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tokens = &auth.Tokens{Store: db, Key: []byte("test-key-test-key-test-key-test-key"), Issuer: "streamspace", Now: func() time.Time { return now }}
	if vnc, err = vnctest.StartWeb(webDir(dir)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	webUpstream = "http://" + strings.TrimSuffix(strings.TrimPrefix(vnc.URL, "ws://"), "/")
	h := newHandlers()
	streamMetrics = h.Stream.Metrics
	srv = httptest.NewServer(portal.NewRouter(h))
	code := m.Run()
	vnc.Stop()
	srv.Close()
	_ = db.Close()
	_ = env.Stop()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// newHandlers composes the portal's handlers as Run does, over the test's
// API server and store (metrics on a registry of their own), with the
// stream's upstreams pointed at the test's VNC server. edit changes the
// components first.
func newHandlers(edit ...func(*portal.Components)) portal.Handlers {
	c := portal.Components{Client: env.Client, Namespace: ns, Store: db, Tokens: tokens, Registry: prometheus.NewRegistry(),
		Log: zap.New(zap.WriteTo(os.Stderr)), Writer: gitWriter}
	for _, e := range edit {
		e(&c)
	}
	h, err := portal.NewHandlers(c)
	if err != nil {
		panic(err) // a second registration on a fresh registry: a bug here
	}
	h.Stream.ActivityEvery = 100 * time.Millisecond
	h.Stream.Upstream = func(*streamv1.Session, *streamv1.Template) string { return vnc.URL }
	h.Stream.WebUpstream = func(*streamv1.Session, *streamv1.Template) string { return webUpstream }
	return h
}

func seed(ctx context.Context) error {
	c := env.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	mem := resource.MustParse("2Gi")
	if err := c.Create(ctx, &streamv1.Template{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "firefox"}, Spec: streamv1.TemplateSpec{
		DisplayName: "Firefox", Category: "Web Browsers", BaseImage: "lscr.io/linuxserver/firefox:1.0.0",
		DefaultResources: streamv1.Resources{Memory: &mem},
		Ports:            []streamv1.TemplatePort{{Name: "http", ContainerPort: 3000}},
		Stream:           streamv1.StreamSpec{Protocol: streamv1.StreamSelkies, Port: 3000}}}); err != nil {
		return err
	}
	if err := c.Create(ctx, &streamv1.Template{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "light"}, Spec: streamv1.TemplateSpec{
		DisplayName: "Light desktop", Category: "Utilities", BaseImage: "localhost/streamspace/light:1.0.0",
		Ports:  []streamv1.TemplatePort{{Name: "vnc-ws", ContainerPort: 6080}},
		Stream: streamv1.StreamSpec{Protocol: streamv1.StreamWebsockifyVNC, Port: 6080}}}); err != nil {
		return err
	}
	if err := c.Create(ctx, &streamv1.Quota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"},
		Spec: streamv1.QuotaSpec{Default: true, Limits: streamv1.QuotaLimits{MaxRunningSessions: ptr.To[int32](2)}}}); err != nil {
		return err
	}
	// alice opens many streams across the tests
	if err := c.Create(ctx, &streamv1.Quota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice-wide"},
		Spec: streamv1.QuotaSpec{Users: []string{"alice"}, Limits: streamv1.QuotaLimits{MaxRunningSessions: ptr.To[int32](50)}}}); err != nil {
		return err
	}
	for _, u := range []struct{ name, role string }{{"alice", "user"}, {"bob", "user"}, {"root", "admin"}} {
		hash, err := auth.HashPassword("password-of-" + u.name)
		if err != nil {
			return err
		}
		if err := db.CreateUser(ctx, &store.User{Username: u.name, PasswordHash: hash, Role: u.role, Source: "local"}); err != nil {
			return err
		}
	}
	return nil
}

type response struct {
	Status int
	Body   map[string]any
}

func call(t *testing.T, method, path, token string, body any) response {
	t.Helper()
	return callAt(t, srv.URL, method, path, token, body)
}

// callAt is call to the portal at base.
func callAt(t *testing.T, base, method, path, token string, body any) response {
	t.Helper()
	var buf bytes.Buffer
	if body != nil {
		_ = json.NewEncoder(&buf).Encode(body)
	}
	req, _ := http.NewRequest(method, base+path, &buf)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := response{Status: resp.StatusCode}
	_ = json.NewDecoder(resp.Body).Decode(&out.Body)
	return out
}

func login(t *testing.T, user string) (access, refresh string) {
	t.Helper()
	r := call(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"username": user, "password": "password-of-" + user})
	if r.Status != http.StatusOK {
		t.Fatalf("login %s: %d %v", user, r.Status, r.Body)
	}
	return r.Body["accessToken"].(string), r.Body["refreshToken"].(string)
}

func errorCode(r response) string {
	e, _ := r.Body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestSessions_launchListWakeDelete_userFromTokenNotBody(t *testing.T) {
	alice, _ := login(t, "alice")
	r := call(t, http.MethodPost, "/api/v1/sessions", alice, map[string]any{"template": "firefox", "user": "mallory"})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %v", r.Status, r.Body)
	}
	name := r.Body["name"].(string)
	s := &streamv1.Session{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	if s.Spec.User != "alice" {
		t.Errorf("session user %q, want the caller", s.Spec.User)
	}
	list := call(t, http.MethodGet, "/api/v1/sessions", alice, nil)
	listed := false
	for _, x := range list.Body["sessions"].([]any) {
		v := x.(map[string]any)
		listed = listed || v["name"] == name
		if v["user"] != "alice" {
			t.Errorf("alice sees %v", v)
		}
	}
	if !listed {
		t.Errorf("alice's list lacks %s: %v", name, list.Body)
	}
	// Hibernate, then wake through the API.
	if h := call(t, http.MethodPost, "/api/v1/sessions/"+name+"/hibernate", alice, nil); h.Status != http.StatusAccepted || h.Body["state"] != "hibernated" {
		t.Fatalf("hibernate: %d %v", h.Status, h.Body)
	}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(s), s); err != nil || s.Annotations[streamv1.StateReasonAnnotation] != streamv1.ReasonUserRequest {
		t.Errorf("hibernated session: %v %v", err, s.Annotations)
	}
	if w := call(t, http.MethodPost, "/api/v1/sessions/"+name+"/wake", alice, nil); w.Status != http.StatusAccepted || w.Body["state"] != "running" {
		t.Errorf("wake: %d %v", w.Status, w.Body)
	}
	if d := call(t, http.MethodDelete, "/api/v1/sessions/"+name, alice, nil); d.Status != http.StatusOK || d.Body["state"] != "terminated" {
		t.Errorf("delete: %d %v", d.Status, d.Body)
	}
	events, _ := db.AuditLog(context.Background(), store.AuditFilter{Actor: "alice"})
	actions := map[string]bool{}
	for _, e := range events {
		actions[e.Action] = true
	}
	for _, want := range []string{"login", "session.create", "session.hibernate", "session.wake", "session.delete"} {
		if !actions[want] {
			t.Errorf("no audit row for %s: %+v", want, events)
		}
	}
}

func TestSessions_quotaDenialAndBadInput_areClearErrors(t *testing.T) {
	bob, _ := login(t, "bob")
	for i := 0; i < 2; i++ {
		if r := call(t, http.MethodPost, "/api/v1/sessions", bob, map[string]any{"template": "firefox"}); r.Status != http.StatusCreated {
			t.Fatalf("create %d: %v", i, r.Body)
		}
	}
	r := call(t, http.MethodPost, "/api/v1/sessions", bob, map[string]any{"template": "firefox"})
	if r.Status != http.StatusForbidden || errorCode(r) != api.CodeQuotaExceeded {
		t.Fatalf("third session: %d %v", r.Status, r.Body)
	}
	msg := r.Body["error"].(map[string]any)["message"].(string)
	if msg != `quota "default" exceeded: maxRunningSessions: 2 running, limit 2; hibernate or terminate a running session to start another` {
		t.Errorf("message: %s", msg)
	}
	r = call(t, http.MethodPost, "/api/v1/sessions", bob, map[string]any{"template": "nope", "resources": map[string]string{"memory": "lots"}})
	fields, _ := r.Body["error"].(map[string]any)["fields"].(map[string]any)
	if r.Status != http.StatusBadRequest || errorCode(r) != api.CodeInvalid || fields["resources.memory"] == nil {
		t.Errorf("bad body: %d %v", r.Status, r.Body)
	}
	r = call(t, http.MethodPost, "/api/v1/sessions", bob, map[string]any{"template": "nope"})
	if r.Status != http.StatusBadRequest || r.Body["error"].(map[string]any)["message"] != `template "nope" does not exist` {
		t.Errorf("unknown template: %d %v", r.Status, r.Body)
	}
}

func TestAuth_refreshRotates_revokedRefreshIsRefused_logout(t *testing.T) {
	access, refresh := login(t, "bob")
	r := call(t, http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refreshToken": refresh})
	if r.Status != http.StatusOK || r.Body["refreshToken"] == refresh {
		t.Fatalf("refresh: %d %v", r.Status, r.Body)
	}
	next := r.Body["refreshToken"].(string)
	if r := call(t, http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refreshToken": refresh}); r.Status != http.StatusUnauthorized {
		t.Errorf("reused refresh token: %d", r.Status)
	}
	if r := call(t, http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refreshToken": next}); r.Status != http.StatusUnauthorized {
		t.Errorf("family must be revoked after reuse: %d", r.Status)
	}
	_, refresh = login(t, "bob")
	if r := call(t, http.MethodPost, "/api/v1/auth/logout", access, map[string]string{"refreshToken": refresh}); r.Status != http.StatusNoContent {
		t.Errorf("logout: %d", r.Status)
	}
	if r := call(t, http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refreshToken": refresh}); r.Status != http.StatusUnauthorized {
		t.Errorf("refresh after logout: %d", r.Status)
	}
	if r := call(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"username": "bob", "password": "wrong"}); r.Status != http.StatusUnauthorized || errorCode(r) != api.CodeUnauthenticated {
		t.Errorf("wrong password: %d %v", r.Status, r.Body)
	}
}

func TestUsersMe_showsQuotaAndUse(t *testing.T) {
	root, _ := login(t, "root")
	r := call(t, http.MethodGet, "/api/v1/users/me", root, nil)
	if r.Status != http.StatusOK || r.Body["username"] != "root" || r.Body["role"] != "admin" {
		t.Fatalf("me: %d %v", r.Status, r.Body)
	}
	if q := r.Body["quota"].(map[string]any); q["name"] != "default" {
		t.Errorf("quota: %v", q)
	}
	tpl := call(t, http.MethodGet, "/api/v1/templates", root, nil)
	if list := tpl.Body["templates"].([]any); len(list) < 2 || list[0].(map[string]any)["displayName"] != "Light desktop" {
		t.Errorf("templates: %v", tpl.Body)
	}
}

func TestLogin_rateLimited_perUserAndAddress(t *testing.T) {
	limited := httptest.NewServer(portal.NewRouter(newHandlers(func(c *portal.Components) { c.LoginLimiter = auth.NewLoginLimiter(time.Minute, 3) })))
	defer limited.Close()
	post := func(password string) *http.Response {
		body, _ := json.Marshal(map[string]string{"username": "alice", "password": password})
		resp, err := http.Post(limited.URL+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := 0; i < 3; i++ {
		if r := post("guess"); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, r.StatusCode)
		}
	}
	r := post("password-of-alice") // even the right password waits now
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Errorf("4th attempt: %d, Retry-After %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
}

func TestCSRF_cookieMutationsNeedTheHeader(t *testing.T) {
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	body, _ := json.Marshal(map[string]string{"username": "root", "password": "password-of-root"})
	resp, err := browser.Post(srv.URL+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %v %v", resp, err)
	}
	resp.Body.Close()
	u, _ := url.Parse(srv.URL)
	csrf := ""
	for _, c := range jar.Cookies(u) {
		if c.Name == auth.CSRFCookie {
			csrf = c.Value
		}
	}
	if csrf == "" {
		t.Fatal("no CSRF cookie after login")
	}
	launch := func(header string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/sessions", bytes.NewReader([]byte(`{"template":"firefox"}`)))
		req.Header.Set("Content-Type", "application/json")
		if header != "" {
			req.Header.Set(auth.CSRFHeader, header)
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := launch(""); got != http.StatusForbidden {
		t.Errorf("cookie POST without the header: %d", got)
	}
	if got := launch("forged"); got != http.StatusForbidden {
		t.Errorf("cookie POST with a wrong header: %d", got)
	}
	if got := launch(csrf); got != http.StatusCreated {
		t.Errorf("cookie POST with the header: %d", got)
	}
	// Reads need no header.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/sessions", nil)
	if resp, err := browser.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("cookie GET: %v %v", resp.StatusCode, err)
	}
}

func TestMetrics_countRequestsByRoutePattern(t *testing.T) {
	alice, _ := login(t, "alice")
	call(t, http.MethodGet, "/api/v1/sessions/no-such-session", alice, nil)
	call(t, http.MethodGet, "/api/v1/sessions", "", nil)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	text := b.String()
	for _, want := range []string{
		`streamspace_portal_requests_total{code="404",method="GET",route="/api/v1/sessions/:id"}`,
		`streamspace_portal_auth_failures_total{code="401"}`,
		`streamspace_portal_request_duration_seconds_bucket{method="POST",route="/api/v1/auth/login"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, "no-such-session") {
		t.Error("raw paths leak into metric labels")
	}
}

func TestMetrics_anyMethodTokenIsOneSeries(t *testing.T) {
	for _, m := range []string{"BREW", "X-SPAM-1", "X-SPAM-2"} {
		req, _ := http.NewRequest(m, srv.URL+"/api/v1/templates", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	if text := b.String(); strings.Contains(text, "X-SPAM") || strings.Contains(text, "BREW") || !strings.Contains(text, `method="OTHER"`) {
		t.Errorf("a client's own method tokens became label values (or OTHER is missing)")
	}
}

func TestReadyz_namesTheDependency_notItsError(t *testing.T) {
	h := newHandlers()
	h.Ready = func(*gin.Context) error {
		return &portal.NotReadyError{Dependency: "database", Err: errors.New("dial tcp 10.0.0.5:5432: password authentication failed for user streamspace")}
	}
	rec := httptest.NewRecorder()
	portal.NewRouter(h).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != "not ready: database" {
		t.Errorf("readyz: %d %q, want 503 naming only the dependency", rec.Code, rec.Body.String())
	}
}
