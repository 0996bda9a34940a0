package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agentsessions "github.com/streamspace/streamspace/agent/sessions"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/test/freeport"
	"github.com/streamspace/streamspace/test/testenv"
	"github.com/streamspace/streamspace/test/vnctest"
)

// TestFault_portalRestartsDuringStream_viewerReconnectsByItself_sessionNotHibernated:
// the real web UI in Chromium streams a session (real Xvnc behind
// websockify) through the portal; the portal process is stopped and
// started again on the same address, database and signing key, as a
// rollout or a crash-restart does. The viewer notices the drop and
// streams again without anyone clicking; the person's input through the
// new stream is recorded as activity by the restarted portal, so the idle
// deadline the agent computes (lastActivity + idleTimeout) moves on
// instead of running out from before the gap, and the session stays
// running.
func TestFault_portalRestartsDuringStream_viewerReconnectsByItself_sessionNotHibernated(t *testing.T) {
	uiDir := filepath.Join(testenv.RepoRoot(), "portal", "web")
	if why := whyNoBrowser(uiDir); why != "" {
		t.Skip("skipped: " + why)
	}
	ctx := context.Background()
	vnc := vnctest.StartT(t, vnctest.Options{})
	u, _ := url.Parse(vnc.URL)
	wsPort, _ := strconv.Atoi(u.Port())
	ns, err := env.Namespace(ctx, "portalfault")
	if err != nil {
		t.Fatal(err)
	}
	const idleTimeout = 10 * time.Minute
	tpl := &streamv1.Template{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "light"}, Spec: streamv1.TemplateSpec{
		DisplayName: "Light desktop", Category: "Utilities", BaseImage: "localhost/streamspace/light:1.0.0",
		Ports:  []streamv1.TemplatePort{{Name: "vnc-ws", ContainerPort: int32(wsPort)}},
		Stream: streamv1.StreamSpec{Protocol: streamv1.StreamWebsockifyVNC, Port: int32(wsPort)}}}
	if err := env.Client.Create(ctx, tpl); err != nil {
		t.Fatal(err)
	}
	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice-light-fault"},
		Spec: streamv1.SessionSpec{User: "alice", Template: "light", State: streamv1.StateRunning, IdleTimeout: &metav1.Duration{Duration: idleTimeout}}}
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	// The last input before the test: 8 of its 10 idle minutes are gone,
	// so a gap that kept activity from being recorded would leave it
	// minutes from hibernation.
	stale := metav1.NewTime(time.Now().Add(-8 * time.Minute).Truncate(time.Second))
	runSessionOnLoopback(t, s, &stale)

	// The portal's state (SQLite) and signing key outlive its process.
	stateDir := t.TempDir()
	cfg := portal.Config{Namespace: ns, StateDir: stateDir, StreamViaPodIP: true, SigningKey: []byte("portal-fault-test-signing-key-portal-fault")}
	db, err := portal.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := auth.HashPassword("password-of-alice")
	if err := db.CreateUser(ctx, &store.User{Username: "alice", PasswordHash: hash, Role: "user", Source: "local"}); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	addr := "127.0.0.1:" + strconv.Itoa(freeport.For(t))
	p := startPortal(t, addr, cfg)
	if page := get(t, p.base+"/login"); strings.Contains(page, "not built into this binary") {
		t.Skip("skipped: this test binary's portal has no web UI: go test -tags ui ./test/faults (after make ui)")
	}

	run, cancel := context.WithTimeout(ctx, 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(run, "node", filepath.Join(testenv.RepoRoot(), "test", "faults", "reconnect.mjs"))
	cmd.Env = append(os.Environ(), "PORTAL_URL=http://"+addr, "SESSION="+s.Name, "USER_NAME=alice", "USER_PASSWORD=password-of-alice", "UI_DIR="+uiDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Chromium is node's child
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Stderr = cmd.Stdout
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	var result struct {
		States      []string `json:"states"`
		ReconnectMs int      `json:"reconnectMs"`
		FinalState  string   `json:"finalState"`
	}
	var restartedAt time.Time
	faults := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		log.WriteString(line + "\n")
		switch {
		case line == "CONNECTED":
			// The fault: the portal process goes away under the open
			// stream and comes back on the same address.
			restartedAt = time.Now()
			p.halt()
			p = startPortal(t, addr, cfg)
			faults++
			t.Logf("portal restarted in %v", time.Since(restartedAt).Round(time.Millisecond))
		case strings.HasPrefix(line, "RESULT "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "RESULT ")), &result); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Wait(); err != nil || faults != 1 || result.FinalState == "" {
		t.Fatalf("the viewer in Chromium (%v, %d restarts):\n%s", err, faults, log.String())
	}
	t.Logf("viewer states: %s; streamed again %v after it saw the drop", strings.Join(result.States, " → "), time.Duration(result.ReconnectMs)*time.Millisecond)
	if result.FinalState != "connected" {
		t.Errorf("the viewer ended %q, want connected", result.FinalState)
	}

	// The restarted portal recorded the input through the new stream: the
	// idle deadline moves on from there.
	got := &streamv1.Session{}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(s), got); err != nil {
			t.Fatal(err)
		}
		if la := got.Status.LastActivity; la != nil && !la.Time.Before(restartedAt.Truncate(time.Second)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lastActivity %v: the input after the restart (at %v) was not recorded, the session would hibernate at %v; portal log:\n%s",
				got.Status.LastActivity, restartedAt.UTC().Format(time.RFC3339), stale.Add(idleTimeout).UTC().Format(time.RFC3339), lastLines(p.out.String(), 30))
		}
	}
	hibernated := 0
	if got.Spec.State != streamv1.StateRunning || got.Status.Phase != streamv1.PhaseRunning {
		hibernated++
		t.Errorf("session after the portal restart: state %s, phase %s", got.Spec.State, got.Status.Phase)
	}
	idleAt := got.Status.LastActivity.Add(idleTimeout)
	t.Logf("faults injected: %d (portal restarted under a stream); sessions checked: 1; viewer reconnected by itself: %v; lastActivity %s (was %s), idle deadline %s; sessions hibernated by the gap: %d",
		faults, result.FinalState == "connected", got.Status.LastActivity.UTC().Format(time.RFC3339), stale.UTC().Format(time.RFC3339), idleAt.UTC().Format(time.RFC3339), hibernated)
}

// get is the body of a GET.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: answerBound}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// whyNoBrowser says why Chromium cannot be driven, or "".
func whyNoBrowser(uiDir string) string {
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		return "no Chromium at " + chromium
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "node is not installed"
	}
	if _, err := os.Stat(filepath.Join(uiDir, "node_modules", "playwright-core")); err != nil {
		return "portal/web/node_modules has no playwright-core (make ui)"
	}
	return ""
}

// runSessionOnLoopback does for a launched session what the agent and
// Kubernetes would: its Deployment, ReplicaSet and pod — the pod's IP
// loopback, where the test's Xvnc listens — and status Running with the
// given lastActivity.
func runSessionOnLoopback(t *testing.T, s *streamv1.Session, lastActivity *metav1.Time) {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{agentsessions.LabelSession: s.Name}
	owned := func(o client.Object, apiVersion, kind string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: o.GetName(), UID: o.GetUID(), Controller: ptr.To(true)}}
	}
	spec := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "workspace", Image: "localhost/streamspace/light:1.0.0"}}}}
	meta := func(name string, owner []metav1.OwnerReference) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: s.Namespace, Name: name, Labels: labels, OwnerReferences: owner}
	}
	d := &appsv1.Deployment{ObjectMeta: meta(agentsessions.ChildName(s), owned(s, streamv1.GroupVersion.String(), "Session")),
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: spec}}
	if err := env.Client.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	rs := &appsv1.ReplicaSet{ObjectMeta: meta(d.Name+"-1", owned(d, "apps/v1", "Deployment")),
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: spec}}
	if err := env.Client.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: meta(rs.Name+"-x", owned(rs, "apps/v1", "ReplicaSet")), Spec: spec.Spec}
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status.PodIP = "127.0.0.1"
	if err := env.Client.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	s.Status.Phase, s.Status.PodName, s.Status.LastActivity = streamv1.PhaseRunning, pod.Name, lastActivity
	if err := env.Client.Status().Update(ctx, s); err != nil {
		t.Fatal(err)
	}
}
