package portal_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/streamspace/streamspace/portal/api"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/store"
)

// newAccount creates a local account through the admin API and signs it
// in.
func newAccount(t *testing.T, root, name, role string) string {
	t.Helper()
	if r := call(t, http.MethodPost, "/api/v1/admin/users", root, map[string]any{"username": name, "password": "password-of-" + name, "role": role}); r.Status != http.StatusCreated {
		t.Fatalf("create %s: %d %v", name, r.Status, r.Body)
	}
	access, _ := login(t, name)
	return access
}

func patchUser(t *testing.T, root, name string, body map[string]any) {
	t.Helper()
	if r := call(t, http.MethodPatch, "/api/v1/admin/users/"+name, root, body); r.Status != http.StatusOK {
		t.Fatalf("patch %s %v: %d %v", name, body, r.Status, r.Body)
	}
}

// TestAccount_roleAndDisable_applyToTheNextRequest: the access token an
// account holds says what it was; the account says what it is, and wins
// on the next request, not when the token expires an hour later.
func TestAccount_roleAndDisable_applyToTheNextRequest(t *testing.T) {
	root, _ := login(t, "root")
	carl := newAccount(t, root, "carl", "admin")
	if r := call(t, http.MethodGet, "/api/v1/admin/users", carl, nil); r.Status != http.StatusOK {
		t.Fatalf("carl as admin: %d", r.Status)
	}

	patchUser(t, root, "carl", map[string]any{"role": "user"})
	if r := call(t, http.MethodGet, "/api/v1/admin/users", carl, nil); r.Status != http.StatusForbidden {
		t.Errorf("demoted carl, same token: %d, want 403", r.Status)
	}
	if r := call(t, http.MethodGet, "/api/v1/users/me", carl, nil); r.Status != http.StatusOK || r.Body["role"] != "user" {
		t.Errorf("users/me after the demotion: %d %v", r.Status, r.Body)
	}

	patchUser(t, root, "carl", map[string]any{"disabled": true})
	r := call(t, http.MethodGet, "/api/v1/users/me", carl, nil)
	if r.Status != http.StatusUnauthorized || errorCode(r) != api.CodeUnauthenticated || !strings.Contains(r.Body["error"].(map[string]any)["message"].(string), "disabled") {
		t.Errorf("disabled carl, same token: %d %v", r.Status, r.Body)
	}

	patchUser(t, root, "carl", map[string]any{"disabled": false})
	carl, _ = login(t, "carl")
	if r := call(t, http.MethodDelete, "/api/v1/admin/users/carl", root, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete carl: %d %v", r.Status, r.Body)
	}
	if r := call(t, http.MethodGet, "/api/v1/users/me", carl, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("deleted carl, same token: %d", r.Status)
	}
}

// streamOf opens a real VNC stream (Xvnc through the proxy) as token and
// keeps reading it; the channel gets the error that ended it.
func streamOf(t *testing.T, session, token string) <-chan error {
	t.Helper()
	conn, _, err := dial(t, session, token)
	if err != nil {
		t.Fatalf("dial %s: %v", session, err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	conn.SetReadLimit(-1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	vncHandshake(t, ctx, conn)
	ended := make(chan error, 1)
	go func() {
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				ended <- err
				return
			}
		}
	}()
	return ended
}

func wantClosed(t *testing.T, who string, ended <-chan error, reason string) {
	t.Helper()
	select {
	case err := <-ended:
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || !strings.Contains(ce.Reason, reason) {
			t.Errorf("%s's stream ended with %v, want 1008 %q", who, err, reason)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("%s's stream is still open", who)
	}
}

func wantOpen(t *testing.T, who string, ended <-chan error) {
	t.Helper()
	select {
	case err := <-ended:
		t.Errorf("%s's stream ended: %v", who, err)
	default:
	}
}

// TestAccount_openStreams_closeWhenAccessGoes: streams opened before an
// account lost access do not outlive it: a demoted admin loses the
// stream of someone else's session (not their own), a disabled or deleted
// account loses all of them, each with the reason as the close text.
func TestAccount_openStreams_closeWhenAccessGoes(t *testing.T) {
	root, _ := login(t, "root")
	dana := newAccount(t, root, "dana", "user")
	erin := newAccount(t, root, "erin", "admin")
	old := time.Now().Add(-time.Minute)
	danas := runningSession(t, "dana-vnc", "dana", old)
	erins := runningSession(t, "erin-vnc", "erin", old)

	danaOwn := streamOf(t, danas.Name, dana)
	erinOnDanas := streamOf(t, danas.Name, erin) // an admin looking in
	erinOwn := streamOf(t, erins.Name, erin)

	patchUser(t, root, "erin", map[string]any{"role": "user"})
	wantClosed(t, "erin (demoted) on dana's session", erinOnDanas, "an admin changed the account: role=user")
	// and she cannot come back in
	if _, resp, err := dial(t, danas.Name, erin); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("demoted erin dialing dana's session again: %v %v", err, resp)
	}
	wantOpen(t, "erin on her own session", erinOwn)
	wantOpen(t, "dana", danaOwn)

	patchUser(t, root, "dana", map[string]any{"disabled": true})
	wantClosed(t, "dana (disabled)", danaOwn, "disabled=true")
	wantOpen(t, "erin on her own session", erinOwn)

	if r := call(t, http.MethodDelete, "/api/v1/admin/users/erin", root, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete erin: %d %v", r.Status, r.Body)
	}
	wantClosed(t, "erin (deleted)", erinOwn, "an admin deleted the account")
}

// TestAccount_deletedName_staysTakenUntilReleased: a deleted account's
// name (and so its home volume) is not handed to the next account of
// that name until an admin says so.
func TestAccount_deletedName_staysTakenUntilReleased(t *testing.T) {
	root, _ := login(t, "root")
	fay := newAccount(t, root, "fay", "user")
	if r := call(t, http.MethodDelete, "/api/v1/admin/users/root", root, nil); r.Status != http.StatusConflict {
		t.Errorf("root deleting itself: %d", r.Status)
	}
	if r := call(t, http.MethodDelete, "/api/v1/admin/users/fay", fay, nil); r.Status != http.StatusForbidden {
		t.Errorf("a user deleting an account: %d", r.Status)
	}
	if r := call(t, http.MethodDelete, "/api/v1/admin/users/fay", root, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete fay: %d %v", r.Status, r.Body)
	}
	if r := call(t, http.MethodDelete, "/api/v1/admin/users/fay", root, nil); r.Status != http.StatusNotFound {
		t.Errorf("delete fay again: %d", r.Status)
	}
	if r := call(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"username": "fay", "password": "password-of-fay"}); r.Status != http.StatusUnauthorized {
		t.Errorf("a deleted account signs in: %d", r.Status)
	}
	r := call(t, http.MethodPost, "/api/v1/admin/users", root, map[string]any{"username": "fay", "password": "another-password"})
	if r.Status != http.StatusConflict || !strings.Contains(r.Body["error"].(map[string]any)["message"].(string), "release the name first") {
		t.Errorf("re-creating fay: %d %v", r.Status, r.Body)
	}
	list := call(t, http.MethodGet, "/api/v1/admin/deleted-users", root, nil)
	if names, _ := list.Body["deletedUsers"].([]any); list.Status != http.StatusOK || !containsUser(names, "fay", "root") {
		t.Errorf("deleted users: %d %v", list.Status, list.Body)
	}
	if r := call(t, http.MethodDelete, "/api/v1/admin/deleted-users/fay", fay, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("fay releasing her own name with her old token: %d", r.Status)
	}
	if r := call(t, http.MethodDelete, "/api/v1/admin/deleted-users/fay", root, nil); r.Status != http.StatusNoContent {
		t.Fatalf("release fay: %d %v", r.Status, r.Body)
	}
	if r := call(t, http.MethodDelete, "/api/v1/admin/deleted-users/fay", root, nil); r.Status != http.StatusNotFound {
		t.Errorf("release again: %d", r.Status)
	}
	if r := call(t, http.MethodPost, "/api/v1/admin/users", root, map[string]any{"username": "fay", "password": "another-password"}); r.Status != http.StatusCreated {
		t.Errorf("re-creating fay after the release: %d %v", r.Status, r.Body)
	}
	events, _ := db.AuditLog(context.Background(), store.AuditFilter{Actor: "root"})
	var deleted, released bool
	for _, e := range events {
		deleted = deleted || (e.Action == "admin.user.delete" && e.Target == "fay")
		released = released || (e.Action == "admin.user.release_name" && e.Target == "fay")
	}
	if !deleted || !released {
		t.Errorf("audit: delete %t, release %t", deleted, released)
	}
}

func containsUser(list []any, name, by string) bool {
	for _, v := range list {
		if m, _ := v.(map[string]any); m["username"] == name && m["deletedBy"] == by {
			return true
		}
	}
	return false
}

// TestAccount_oneTimePassword_allowsNothingButItsChange: an account with
// a one-time password (the bootstrap admin's) signs in, but every call
// other than reading who it is, changing the password and signing out is
// refused with password_change_required, its streams included.
func TestAccount_oneTimePassword_allowsNothingButItsChange(t *testing.T) {
	ctx := context.Background()
	hash, err := auth.HashPassword("one-time-password")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, &store.User{Username: "gus", PasswordHash: hash, Role: "admin", Source: "local", MustChangePassword: true}); err != nil {
		t.Fatal(err)
	}
	r := call(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"username": "gus", "password": "one-time-password"})
	if r.Status != http.StatusOK {
		t.Fatalf("login: %d %v", r.Status, r.Body)
	}
	gus := r.Body["accessToken"].(string)
	if r := call(t, http.MethodGet, "/api/v1/users/me", gus, nil); r.Status != http.StatusOK || r.Body["mustChangePassword"] != true {
		t.Errorf("users/me: %d %v, want mustChangePassword", r.Status, r.Body)
	}
	s := runningSession(t, "gus-vnc", "gus", time.Now())
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/sessions"},
		{http.MethodGet, "/api/v1/admin/users"},
		{http.MethodPost, "/api/v1/tokens"},
		{http.MethodGet, "/api/v1/sessions/" + s.Name + "/connect"},
		{http.MethodGet, "/api/v1/auth/forward"},
	} {
		if r := call(t, c.method, c.path, gus, map[string]any{"name": "x"}); r.Status != http.StatusForbidden || errorCode(r) != api.CodePasswordChangeRequired {
			t.Errorf("%s %s before the change: %d %v", c.method, c.path, r.Status, r.Body)
		}
	}
	if _, resp, err := dial(t, s.Name, gus); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("stream before the change: %v %v", err, resp)
	}

	change := func(current, next string) response {
		return call(t, http.MethodPost, "/api/v1/users/me/password", gus, map[string]string{"currentPassword": current, "newPassword": next})
	}
	if r := change("not-the-password", "a-chosen-password"); r.Status != http.StatusBadRequest || r.Body["error"].(map[string]any)["fields"].(map[string]any)["currentPassword"] == nil {
		t.Errorf("wrong current password: %d %v", r.Status, r.Body)
	}
	if r := change("one-time-password", "one-time-password"); r.Status != http.StatusBadRequest {
		t.Errorf("the one-time password kept: %d %v", r.Status, r.Body)
	}
	if r := change("one-time-password", "short"); r.Status != http.StatusBadRequest {
		t.Errorf("a short password: %d %v", r.Status, r.Body)
	}
	r = change("one-time-password", "a-chosen-password")
	if r.Status != http.StatusOK || r.Body["accessToken"] == nil {
		t.Fatalf("change: %d %v", r.Status, r.Body)
	}
	gus = r.Body["accessToken"].(string)
	if r := call(t, http.MethodGet, "/api/v1/sessions", gus, nil); r.Status != http.StatusOK {
		t.Errorf("after the change: %d %v", r.Status, r.Body)
	}
	if r := call(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"username": "gus", "password": "a-chosen-password"}); r.Status != http.StatusOK {
		t.Errorf("login with the chosen password: %d", r.Status)
	}
}
