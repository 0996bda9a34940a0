package portal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/test/firstadmin"
	"github.com/streamspace/streamspace/test/syncbuf"
)

// TestRun_wholePortal: the portal as its binary runs it — bootstrap admin
// printed once, the API answered from the cache, what the platform does to
// sessions recorded in history and audit — stops cleanly.
func TestRun_wholePortal(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	out := &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- portal.Run(ctx, portal.Config{Addr: addr, Namespace: ns, StateDir: t.TempDir(), Out: out, ShutdownGrace: 2 * time.Second,
			Log: zap.New(zap.UseDevMode(true))}, env.Config)
	}()
	base := "http://" + addr
	user, password := "", ""
	deadline := time.Now().Add(30 * time.Second)
	for password == "" && time.Now().Before(deadline) {
		var err error
		if user, password, _, err = firstadmin.OneTime(out.String()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if password == "" {
		t.Fatalf("no bootstrap password file named: %q", out.String())
	}
	if strings.Contains(out.String(), password) {
		t.Fatal("the one-time password reached the output")
	}
	do := func(method, path, token string, body any) (int, map[string]any) {
		t.Helper()
		var buf bytes.Buffer
		if body != nil {
			_ = json.NewEncoder(&buf).Encode(body)
		}
		for {
			req, _ := http.NewRequest(method, base+path, &buf)
			req.Header.Set("Content-Type", "application/json")
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				if time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var m map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&m)
			return resp.StatusCode, m
		}
	}
	code, body := do(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"username": user, "password": password})
	if code != http.StatusOK {
		t.Fatalf("login: %d %v", code, body)
	}
	// the one-time password must be changed before anything else
	if code, body = do(http.MethodGet, "/api/v1/sessions", body["accessToken"].(string), nil); code != http.StatusForbidden {
		t.Fatalf("listing sessions with the one-time password: %d %v", code, body)
	}
	admin, err := firstadmin.Claim(ctx, base, user, password, "a-password-the-admin-chose")
	if err != nil {
		t.Fatal(err)
	}
	code, body = do(http.MethodPost, "/api/v1/sessions", admin, map[string]any{"template": "light"})
	if code != http.StatusCreated {
		t.Fatalf("launch: %d %v", code, body)
	}
	name := body["name"].(string)

	// The agent's part, played here: running, then hibernated for idleness,
	// woken, and ended at its maximum duration.
	s := &streamv1.Session{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	status := func(phase streamv1.SessionPhase, reason string, edit func(*streamv1.SessionStatus)) {
		t.Helper()
		if reason != "" {
			patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, streamv1.StateReasonAnnotation, reason)
			if err := env.Client.Patch(ctx, s, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
				t.Fatal(err)
			}
		}
		s.Status.Phase = phase
		if edit != nil {
			edit(&s.Status)
		}
		if err := env.Client.Status().Update(ctx, s); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // each transition is its own event
	}
	status(streamv1.PhaseRunning, "", nil)
	status(streamv1.PhaseHibernated, streamv1.ReasonIdleTimeout, func(st *streamv1.SessionStatus) {
		at := metav1.NewTime(time.Now().Add(-2 * time.Hour))
		st.HibernatedAt = &at
	})
	status(streamv1.PhaseRunning, "", nil)
	status(streamv1.PhaseTerminated, streamv1.ReasonMaxDuration, func(st *streamv1.SessionStatus) {
		at := metav1.Now()
		st.TerminatedAt = &at
	})

	// The list comes from the cache: it shows the session as it is now.
	var analytics map[string]any
	for time.Now().Before(deadline.Add(30 * time.Second)) {
		_, analytics = do(http.MethodGet, "/api/v1/admin/analytics?days=1", admin, nil)
		if h, _ := analytics["hibernation"].(map[string]any); h != nil && h["hibernations"].(float64) == 1 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	hib := analytics["hibernation"].(map[string]any)
	if hib["hibernations"].(float64) != 1 || hib["hibernatedHours"].(float64) < 1.9 {
		t.Errorf("history: %v", analytics)
	}
	_, audit := do(http.MethodGet, "/api/v1/admin/audit?actor=system", admin, nil)
	actions := map[string]string{}
	for _, e := range audit["events"].([]any) {
		ev := e.(map[string]any)
		if ev["Target"] == name {
			actions[ev["Action"].(string)] = ev["Detail"].(string)
		}
	}
	if actions["session.hibernate"] == "" || actions["session.end"] == "" {
		t.Errorf("system audit rows: %v", audit)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the portal did not stop")
	}
}
