package portal_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/api"
	"github.com/streamspace/streamspace/portal/store"
)

func TestAPITokens_actAsTheirUser_revokedAtOnce_cannotMintTokens(t *testing.T) {
	alice, _ := login(t, "alice")
	r := call(t, http.MethodPost, "/api/v1/tokens", alice, map[string]any{"name": "ci", "expiresInDays": 30})
	if r.Status != http.StatusCreated {
		t.Fatalf("create token: %d %v", r.Status, r.Body)
	}
	tok, id := r.Body["token"].(string), r.Body["id"].(string)
	if !strings.HasPrefix(tok, "ssp_") || r.Body["expiresAt"] == nil {
		t.Errorf("token response %v", r.Body)
	}
	me := call(t, http.MethodGet, "/api/v1/users/me", tok, nil)
	if me.Status != http.StatusOK || me.Body["username"] != "alice" {
		t.Errorf("me with the token: %d %v", me.Status, me.Body)
	}
	if r := call(t, http.MethodPost, "/api/v1/tokens", tok, map[string]any{"name": "child"}); r.Status != http.StatusForbidden {
		t.Errorf("a token minted a token: %d %v", r.Status, r.Body)
	}
	list := call(t, http.MethodGet, "/api/v1/tokens", alice, nil)
	toks := list.Body["tokens"].([]any)
	if len(toks) == 0 || toks[0].(map[string]any)["lastUsedAt"] == nil || toks[0].(map[string]any)["token"] != nil {
		t.Errorf("list: %v", list.Body)
	}
	bob, _ := login(t, "bob")
	if r := call(t, http.MethodDelete, "/api/v1/tokens/"+id, bob, nil); r.Status != http.StatusNotFound {
		t.Errorf("bob revoked alice's token: %d", r.Status)
	}
	if r := call(t, http.MethodDelete, "/api/v1/tokens/"+id, alice, nil); r.Status != http.StatusNoContent {
		t.Fatalf("revoke: %d %v", r.Status, r.Body)
	}
	if r := call(t, http.MethodGet, "/api/v1/users/me", tok, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("revoked token still works: %d", r.Status)
	}
	if r := call(t, http.MethodPost, "/api/v1/tokens", alice, map[string]any{"name": "", "expiresInDays": -1}); r.Status != http.StatusBadRequest ||
		r.Body["error"].(map[string]any)["fields"].(map[string]any)["expiresInDays"] == nil {
		t.Errorf("bad token request: %d %v", r.Status, r.Body)
	}
}

func TestAdminUsers_serviceAccount_roleChange_disable(t *testing.T) {
	root, _ := login(t, "root")
	bad := call(t, http.MethodPost, "/api/v1/admin/users", root, map[string]any{"username": "Not Valid", "password": "short", "role": "god"})
	fields, _ := bad.Body["error"].(map[string]any)["fields"].(map[string]any)
	if bad.Status != http.StatusBadRequest || fields["username"] == nil || fields["password"] == nil || fields["role"] == nil {
		t.Errorf("bad user: %d %v", bad.Status, bad.Body)
	}
	if r := call(t, http.MethodPost, "/api/v1/admin/users", root, map[string]any{"username": "alice", "password": "long enough password"}); r.Status != http.StatusConflict {
		t.Errorf("duplicate: %d %v", r.Status, r.Body)
	}
	// A service account: no password, an API token made by the admin.
	if r := call(t, http.MethodPost, "/api/v1/admin/users", root, map[string]any{"username": "robot", "serviceAccount": true, "groups": []string{"ci"}}); r.Status != http.StatusCreated || r.Body["source"] != "service" {
		t.Fatalf("service account: %d %v", r.Status, r.Body)
	}
	if r := call(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"username": "robot", "password": "anything at all"}); r.Status != http.StatusUnauthorized {
		t.Errorf("service account signed in with a password: %d", r.Status)
	}
	tr := call(t, http.MethodPost, "/api/v1/admin/users/robot/tokens", root, map[string]any{"name": "pipeline"})
	if tr.Status != http.StatusCreated {
		t.Fatalf("service account token: %d %v", tr.Status, tr.Body)
	}
	robot := tr.Body["token"].(string)
	launched := call(t, http.MethodPost, "/api/v1/sessions", robot, map[string]any{"template": "light"})
	if launched.Status != http.StatusCreated || launched.Body["user"] != "robot" {
		t.Errorf("robot launch: %d %v", launched.Status, launched.Body)
	}
	if r := call(t, http.MethodPost, "/api/v1/admin/users/alice/tokens", root, map[string]any{"name": "x"}); r.Status != http.StatusConflict {
		t.Errorf("admin minted a token for a person: %d", r.Status)
	}
	// The User object carries the groups, where quotas read them.
	u := &streamv1.User{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "robot"}, u); err != nil || len(u.Spec.Groups) != 1 || u.Spec.Groups[0] != "ci" {
		t.Errorf("User object: %v %+v", err, u.Spec)
	}
	// Disabling stops its token at once, and the User object says so.
	if r := call(t, http.MethodPatch, "/api/v1/admin/users/robot", root, map[string]any{"disabled": true}); r.Status != http.StatusOK || r.Body["disabled"] != true {
		t.Fatalf("disable: %d %v", r.Status, r.Body)
	}
	if r := call(t, http.MethodGet, "/api/v1/sessions", robot, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("disabled account's token works: %d", r.Status)
	}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "robot"}, u); err != nil || !u.Spec.Disabled {
		t.Errorf("User object not disabled: %v %+v", err, u.Spec)
	}
	if r := call(t, http.MethodPatch, "/api/v1/admin/users/root", root, map[string]any{"role": "user"}); r.Status != http.StatusBadRequest {
		t.Errorf("admin demoted themself: %d", r.Status)
	}
	list := call(t, http.MethodGet, "/api/v1/admin/users", root, nil)
	var sawRobot bool
	for _, x := range list.Body["users"].([]any) {
		if m := x.(map[string]any); m["username"] == "robot" {
			sawRobot = m["activeSessions"].(float64) == 1 && m["quota"] == "default"
		}
	}
	if !sawRobot {
		t.Errorf("users list: %v", list.Body)
	}
	events, _ := db.AuditLog(context.Background(), store.AuditFilter{Actor: "root"})
	actions := map[string]bool{}
	for _, e := range events {
		actions[e.Action] = true
	}
	for _, want := range []string{"admin.user.create", "admin.user.update", "token.create"} {
		if !actions[want] {
			t.Errorf("no audit row for %s", want)
		}
	}
	audit := call(t, http.MethodGet, "/api/v1/admin/audit?actor=root&limit=2", root, nil)
	if audit.Status != http.StatusOK || len(audit.Body["events"].([]any)) != 2 {
		t.Errorf("audit endpoint: %d %v", audit.Status, audit.Body)
	}
}

func TestAdminSync_showsRevisionInventoryDrift_syncNow(t *testing.T) {
	ctx := context.Background()
	gs := &streamv1.GitSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "platform"},
		Spec: streamv1.GitSyncSpec{URL: "https://git.example.com/platform.git", Path: "environments/prod", Prune: true, DriftMode: streamv1.DriftWarn}}
	if err := env.Client.Create(ctx, gs); err != nil {
		t.Fatal(err)
	}
	gs.Status = streamv1.GitSyncStatus{LastAppliedRevision: "main@sha1:0123abcd",
		Conditions: []metav1.Condition{{Type: streamv1.ConditionReady, Status: metav1.ConditionFalse, Reason: "DriftDetected", Message: "1 object drifted", LastTransitionTime: metav1.Now()}},
		Inventory:  []streamv1.InventoryEntry{{ID: "streamspace_firefox_stream.space_Template", Version: "v1alpha1"}},
		Drift:      []streamv1.DriftedObject{{ID: "streamspace_firefox_stream.space_Template", Fields: []string{".spec.displayName"}, Manager: "kubectl-edit", DetectedAt: metav1.Now()}}}
	if err := env.Client.Status().Update(ctx, gs); err != nil {
		t.Fatal(err)
	}
	root, _ := login(t, "root")
	r := call(t, http.MethodGet, "/api/v1/admin/sync", root, nil)
	syncs := r.Body["syncs"].([]any)
	if r.Status != http.StatusOK || len(syncs) != 1 {
		t.Fatalf("sync: %d %v", r.Status, r.Body)
	}
	got := syncs[0].(map[string]any)
	inv := got["inventory"].([]any)[0].(map[string]any)
	drift := got["drift"].([]any)[0].(map[string]any)
	if got["lastAppliedRevision"] != "main@sha1:0123abcd" || got["ready"] != "False" || inv["kind"] != "Template" || inv["name"] != "firefox" || drift["manager"] != "kubectl-edit" {
		t.Errorf("sync view: %v", got)
	}
	if r := call(t, http.MethodPost, "/api/v1/admin/sync/platform/reconcile", root, nil); r.Status != http.StatusAccepted {
		t.Fatalf("sync now: %d %v", r.Status, r.Body)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(gs), gs); err != nil || gs.Annotations[streamv1.ReconcileRequestAnnotation] == "" {
		t.Errorf("no reconcile request annotation: %v %v", err, gs.Annotations)
	}
	if r := call(t, http.MethodPost, "/api/v1/admin/sync/nope/reconcile", root, nil); r.Status != http.StatusNotFound {
		t.Errorf("unknown sync: %d", r.Status)
	}
	if q := call(t, http.MethodGet, "/api/v1/admin/quotas", root, nil); q.Status != http.StatusOK || len(q.Body["quotas"].([]any)) == 0 {
		t.Errorf("quotas: %d %v", q.Status, q.Body)
	}
}

func TestAdminAnalytics_fromSessionHistory(t *testing.T) {
	ctx := context.Background()
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
	for _, r := range []store.SessionRecord{
		{Session: "h-1", Username: "carol", Template: "firefox", StartedAt: day.Add(9 * time.Hour)},
		{Session: "h-2", Username: "carol", Template: "firefox", StartedAt: day.Add(10 * time.Hour)},
	} {
		if err := db.StartSession(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RecordHibernation(ctx, "h-1", 3600); err != nil {
		t.Fatal(err)
	}
	if err := db.EndSession(ctx, "h-1", day.Add(13*time.Hour), "UserRequest"); err != nil {
		t.Fatal(err)
	}
	if err := db.EndSession(ctx, "h-2", day.Add(11*time.Hour), "UserRequest"); err != nil {
		t.Fatal(err)
	}
	root, _ := login(t, "root")
	r := call(t, http.MethodGet, "/api/v1/admin/analytics?days=7", root, nil)
	if r.Status != http.StatusOK || len(r.Body["days"].([]any)) != 7 {
		t.Fatalf("analytics: %d %v", r.Status, r.Body)
	}
	var carol map[string]any
	for _, u := range r.Body["users"].([]any) {
		if m := u.(map[string]any); m["name"] == "carol" {
			carol = m
		}
	}
	// h-1 ran 4 h and slept 1 h of them, h-2 ran 1 h: 4 active hours
	if carol == nil || carol["sessions"].(float64) != 2 || carol["activeHours"].(float64) != 4 {
		t.Errorf("carol: %v", carol)
	}
	// firefox reserves 2Gi: an hour asleep saved 2 GiB-hours
	hib := r.Body["hibernation"].(map[string]any)
	if hib["hibernations"].(float64) < 1 || hib["memoryGiBHours"].(float64) < 2 {
		t.Errorf("hibernation savings: %v", hib)
	}
	if r := call(t, http.MethodGet, "/api/v1/admin/analytics?days=0", root, nil); r.Status != http.StatusBadRequest {
		t.Errorf("days=0: %d", r.Status)
	}
}

// TestAuthorization_matrix: every signed-in route refuses the anonymous,
// expired, forged and revoked; a user reaches no one else's session (404,
// so names do not leak) and no admin route (403); an admin reaches all.
func TestAuthorization_matrix(t *testing.T) {
	ctx := context.Background()
	owner, ownerRefresh := login(t, "alice")
	other, _ := login(t, "bob")
	admin, _ := login(t, "root")
	created := call(t, http.MethodPost, "/api/v1/sessions", owner, map[string]any{"template": "light"})
	if created.Status != http.StatusCreated {
		t.Fatalf("create: %v", created.Body)
	}
	name := created.Body["name"].(string)

	now = now.Add(-2 * time.Hour)
	expiredPair, _ := tokens.Issue(ctx, &store.User{Username: "alice", Role: "user"})
	now = now.Add(2 * time.Hour)
	tr := call(t, http.MethodPost, "/api/v1/tokens", owner, map[string]any{"name": "soon revoked"})
	revokedAPIToken := tr.Body["token"].(string)
	call(t, http.MethodDelete, "/api/v1/tokens/"+tr.Body["id"].(string), owner, nil)
	_, loggedOutRefresh := login(t, "alice")
	if r := call(t, http.MethodPost, "/api/v1/auth/logout", owner, map[string]string{"refreshToken": loggedOutRefresh}); r.Status != http.StatusNoContent {
		t.Fatalf("logout: %d", r.Status)
	}

	sessionRoutes := []struct{ method, path string }{
		{http.MethodGet, "/api/v1/sessions/" + name},
		{http.MethodPost, "/api/v1/sessions/" + name + "/wake"},
		{http.MethodPost, "/api/v1/sessions/" + name + "/hibernate"},
		{http.MethodGet, "/api/v1/sessions/" + name + "/connect"},
		{http.MethodGet, "/api/v1/sessions/" + name + "/web/"},
		{http.MethodDelete, "/api/v1/sessions/" + name},
	}
	adminRoutes := []struct{ method, path string }{
		{http.MethodGet, "/api/v1/admin/users"},
		{http.MethodPost, "/api/v1/admin/users"},
		{http.MethodPatch, "/api/v1/admin/users/alice"},
		{http.MethodGet, "/api/v1/admin/users/alice/tokens"},
		{http.MethodPost, "/api/v1/admin/users/alice/tokens"},
		{http.MethodDelete, "/api/v1/admin/users/alice/tokens/x"},
		{http.MethodGet, "/api/v1/admin/audit"},
		{http.MethodGet, "/api/v1/admin/analytics"},
		{http.MethodGet, "/api/v1/admin/quotas"},
		{http.MethodPost, "/api/v1/admin/quotas"},
		{http.MethodPut, "/api/v1/admin/quotas/default"},
		{http.MethodDelete, "/api/v1/admin/quotas/default"},
		{http.MethodPost, "/api/v1/admin/templates"},
		{http.MethodPut, "/api/v1/admin/templates/firefox"},
		{http.MethodDelete, "/api/v1/admin/templates/firefox"},
		{http.MethodGet, "/api/v1/admin/sync"},
		{http.MethodPost, "/api/v1/admin/sync/platform/reconcile"},
		{http.MethodGet, "/api/v1/plugins/proposals"},
		{http.MethodPost, "/api/v1/plugins/install"},
		{http.MethodPost, "/api/v1/plugins/x/enable"},
		{http.MethodPost, "/api/v1/plugins/x/disable"},
		{http.MethodPut, "/api/v1/plugins/x/config"},
		{http.MethodPut, "/api/v1/plugins/x/permissions"},
		{http.MethodDelete, "/api/v1/plugins/x"},
	}
	ownRoutes := []struct{ method, path string }{
		{http.MethodGet, "/api/v1/sessions"}, {http.MethodPost, "/api/v1/sessions"},
		{http.MethodGet, "/api/v1/templates"}, {http.MethodGet, "/api/v1/users/me"},
		{http.MethodGet, "/api/v1/tokens"}, {http.MethodPost, "/api/v1/tokens"}, {http.MethodDelete, "/api/v1/tokens/x"},
		{http.MethodPost, "/api/v1/auth/logout"},
		{http.MethodGet, "/api/v1/plugins/catalog"}, {http.MethodGet, "/api/v1/plugins/installed"},
	}
	refused := []struct{ who, token string }{
		{"anonymous", ""},
		{"expired access token", expiredPair.AccessToken},
		{"forged token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."},
		{"revoked API token", revokedAPIToken},
		{"refresh token as a bearer", ownerRefresh},
	}
	all := append(append(append([]struct{ method, path string }{}, sessionRoutes...), adminRoutes...), ownRoutes...)
	for _, rt := range all {
		for _, c := range refused {
			if r := call(t, rt.method, rt.path, c.token, nil); r.Status != http.StatusUnauthorized || errorCode(r) != api.CodeUnauthenticated {
				t.Errorf("%s %s as %s: %d, want 401 (%v)", rt.method, rt.path, c.who, r.Status, r.Body)
			}
		}
	}
	for _, rt := range sessionRoutes {
		if r := call(t, rt.method, rt.path, other, nil); r.Status != http.StatusNotFound {
			t.Errorf("%s %s as another user: %d, want 404 (%v)", rt.method, rt.path, r.Status, r.Body)
		}
	}
	for _, rt := range adminRoutes {
		if r := call(t, rt.method, rt.path, other, map[string]any{}); r.Status != http.StatusForbidden || errorCode(r) != api.CodeForbidden {
			t.Errorf("%s %s as a user: %d, want 403 (%v)", rt.method, rt.path, r.Status, r.Body)
		}
	}
	// A logged-out refresh token refreshes nothing.
	if r := call(t, http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refreshToken": loggedOutRefresh}); r.Status != http.StatusUnauthorized {
		t.Errorf("revoked refresh token refreshed: %d", r.Status)
	}
	// The other user's list does not show it; the admin sees it and may act.
	for _, s := range call(t, http.MethodGet, "/api/v1/sessions", other, nil).Body["sessions"].([]any) {
		if s.(map[string]any)["user"] != "bob" {
			t.Errorf("bob sees %v", s)
		}
	}
	for _, rt := range adminRoutes {
		if rt.method != http.MethodGet {
			continue
		}
		if r := call(t, rt.method, rt.path, admin, nil); r.Status != http.StatusOK {
			t.Errorf("%s %s as admin: %d (%v)", rt.method, rt.path, r.Status, r.Body)
		}
	}
	if r := call(t, http.MethodGet, "/api/v1/sessions/"+name, admin, nil); r.Status != http.StatusOK {
		t.Errorf("admin get: %d", r.Status)
	}
	if r := call(t, http.MethodDelete, "/api/v1/sessions/"+name, admin, nil); r.Status != http.StatusOK {
		t.Errorf("admin delete: %d", r.Status)
	}
}

// TestWebClient_httpAndWebSocketUnderTheSessionPath: a template's own web
// client (files and stream on one port, like KasmVNC) is reached under
// /api/v1/sessions/{id}/web/, without the portal's cookies or token.
func TestWebClient_httpAndWebSocketUnderTheSessionPath(t *testing.T) {
	alice, _ := login(t, "alice")
	s := runningSession(t, "alice-web", "alice", time.Now().Add(-time.Hour))
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/sessions/"+s.Name+"/web/index.html", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "web client") {
		t.Fatalf("web client page: %d %s", resp.StatusCode, page)
	}
	// the web client's WebSocket carries the real stream
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/api/v1/sessions/"+s.Name+"/web/websockify",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + alice}}, Subprotocols: []string{"binary"}})
	if err != nil {
		t.Fatalf("web client WebSocket: %v", err)
	}
	conn.SetReadLimit(-1)
	vncHandshake(t, ctx, conn)
	_ = conn.Close(websocket.StatusNormalClosure, "")

	// what reaches the session: not the portal's cookies, nor the token
	var seen http.Header
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		http.SetCookie(w, &http.Cookie{Name: "ss_access", Value: "planted"})
		http.SetCookie(w, &http.Cookie{Name: "kasm_theme", Value: "dark"})
	}))
	defer echo.Close()
	webUpstream = echo.URL
	defer func() { webUpstream = "http://" + strings.TrimSuffix(strings.TrimPrefix(vnc.URL, "ws://"), "/") }()
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/api/v1/sessions/"+s.Name+"/web/app", nil)
	req.AddCookie(&http.Cookie{Name: "ss_access", Value: alice})
	req.AddCookie(&http.Cookie{Name: "ss_csrf", Value: "x"})
	req.AddCookie(&http.Cookie{Name: "kasm_theme", Value: "light"})
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || seen == nil {
		t.Fatalf("echo: %d", resp.StatusCode)
	}
	if c := seen.Get("Cookie"); strings.Contains(c, "ss_") || !strings.Contains(c, "kasm_theme=light") || seen.Get("Authorization") != "" {
		t.Errorf("the session saw Cookie %q Authorization %q", c, seen.Get("Authorization"))
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "ss_access" {
			t.Errorf("the session set the portal's cookie")
		}
	}
	if len(resp.Cookies()) != 1 {
		t.Errorf("the app's own cookie was dropped: %v", resp.Cookies())
	}
}

// TestStream_drain: a stopping portal refuses new streams, lets open ones
// run for the grace period, then closes them with "going away".
func TestStream_drain(t *testing.T) {
	alice, _ := login(t, "alice")
	s := runningSession(t, "alice-drain", "alice", time.Now())
	// a portal of its own, so that draining it leaves the others' alone
	h := newHandlers()
	p := h.Stream
	own := httptest.NewServer(portal.NewRouter(h))
	defer own.Close()
	dial := func() (*websocket.Conn, *http.Response, error) {
		return websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(own.URL, "http")+"/api/v1/sessions/"+s.Name+"/connect",
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + alice}}})
	}
	conn, _, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(-1)
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := conn.Read(context.Background()); err != nil {
				closed <- err
				return
			}
		}
	}()
	// wait until the stream is registered (the server side runs async)
	time.Sleep(200 * time.Millisecond)
	grace, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = p.Shutdown(grace)
	if err == nil || !strings.Contains(err.Error(), "closed 1 streams") {
		t.Errorf("shutdown: %v", err)
	}
	select {
	case err := <-closed:
		if websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Errorf("closed with %v, want going away", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream stayed open after the grace period")
	}
	_, resp, err := dial()
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("connect while draining: %v %v", err, resp)
	}
	var body struct{ Error api.Error }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if body.Error.Code != api.CodeShuttingDown || resp.Header.Get("Retry-After") != "5" {
		t.Errorf("connect while draining: code %q, Retry-After %q", body.Error.Code, resp.Header.Get("Retry-After"))
	}
}
