package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/testenv"
)

// TestUI_inChromium drives the web UI in Debian's Chromium on the whole
// platform (portal/web/e2e/flow.mjs, playwright-core): sign in, the catalog,
// launch the terminal and watch its start, the streamed xterm's pixels,
// typing into it, hibernate and wake from the dashboard and from the viewer,
// terminate, every page (light, and dark once), and a non-admin kept out of
// the admin pages. Screenshots go to test-output/ui/.
//
// The portal serves the UI only when this test binary is built with -tags ui
// after `make ui` (make e2e-ui, make test); otherwise the test skips.
func TestUI_inChromium(t *testing.T) {
	e := needPlatform(t)
	root := testenv.RepoRoot()
	web := filepath.Join(root, "portal", "web")
	base := e.PublicURL // http://localhost:<port>: its sessions' apps hosts frame and stream only for it
	if why := whyNoUI(base, web); why != "" {
		t.Skip(why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	k := e.Platform.Client

	// a user who is not an admin, made by the admin through the portal
	api := &portalClient{t: t, base: base}
	api.login("admin", e.Password)
	user, password := "ui-user", randomPassword(t)
	if code, body := api.do(http.MethodPost, "/api/v1/admin/users", map[string]any{"username": user, "password": password, "role": "user"}); code != http.StatusCreated {
		t.Fatalf("create the user %s: %d %v", user, code, body)
	}

	out := filepath.Join(root, "test-output", "ui")
	cmd := exec.CommandContext(ctx, "node", "e2e/flow.mjs")
	cmd.Dir = web
	cmd.Env = append(os.Environ(), "PORTAL_URL="+base, "ADMIN_USER=admin", "ADMIN_PASSWORD="+e.Password,
		"USER_NAME="+user, "USER_PASSWORD="+password, "OUT_DIR="+out, "CHROMIUM="+chromium())
	// Chromium is node's child: a timeout ends the whole process group
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw

	// the script's output, line by line, as it comes; it asks for a
	// hibernation when the session card has no Hibernate button
	var (
		session, typed string
		failures       []string
		hibernations   int
		wg             sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			t.Log("ui: " + line)
			switch f := strings.Fields(line); {
			case len(f) == 2 && f[0] == "E2E-SESSION":
				session = f[1]
			case len(f) == 2 && f[0] == "E2E-TYPED":
				typed = f[1]
			case len(f) == 2 && f[0] == "E2E-HIBERNATE":
				hibernations++
				if err := hibernateSession(ctx, api, k, f[1]); err != nil {
					t.Errorf("hibernate %s for the UI test: %v", f[1], err)
				}
			case strings.HasPrefix(line, "FAILED"), strings.Contains(line, "BROWSER ERROR"), strings.Contains(line, "browser error(s)"):
				failures = append(failures, line)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	defer func() {
		// a flow that failed half way leaves its session: end it, so that
		// the tests after this one find the quota as it was
		if session != "" && t.Failed() {
			if code, body := api.do(http.MethodDelete, "/api/v1/sessions/"+session, nil); code != http.StatusOK {
				t.Logf("terminate %s after the UI flow: %d %v", session, code, body)
			}
		}
	}()
	started := time.Now()
	err := cmd.Run()
	_ = pw.Close()
	wg.Wait()
	took := time.Since(started).Round(100 * time.Millisecond)
	if err != nil {
		t.Fatalf("the UI flow failed after %s (%v); screenshots in %s:\n%s", took, err, out, strings.Join(failures, "\n"))
	}
	t.Logf("the UI flow passed in %s (%d hibernation(s) asked of the test); screenshots in %s", took, hibernations, out)

	// what the browser did reached the cluster
	if session == "" {
		t.Fatal("the script did not say which session it launched")
	}
	s := &streamv1.Session{}
	waitFor(t, time.Minute, "the session terminated in the UI is Terminated, its pod gone", func() (bool, string) {
		if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: session}, s); err != nil {
			return false, err.Error()
		}
		return s.Spec.State == streamv1.StateTerminated && s.Status.Phase == streamv1.PhaseTerminated && podsOf(t, k, session) == 0,
			fmt.Sprintf("%s/%s", s.Spec.State, s.Status.Phase)
	})
	if typed == "" {
		t.Fatal("the script did not type in the session")
	}
	// the keys typed in Chromium ran a command in the session's shell
	got, err := os.ReadFile(filepath.Join(e.Dir, "volumes", ns+"_home-admin", typed))
	if err != nil || strings.TrimSpace(string(got)) != "typed-in-chromium" {
		t.Errorf("the file the typed command wrote in the home: %q %v", got, err)
	}
}

// whyNoUI says why the UI cannot be driven here, or "".
func whyNoUI(base, web string) string {
	resp, err := http.Get(base + "/")
	if err != nil {
		return "skipped: the portal does not answer: " + err.Error()
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if strings.Contains(string(body), "not built into this binary") {
		return "skipped: this test binary's portal has no web UI; build it in: make ui, then go test -tags ui ./test/e2e/ (make e2e-ui)"
	}
	if _, err := os.Stat(chromium()); err != nil {
		return fmt.Sprintf("skipped: no Chromium at %s (apt-get install chromium, or set CHROMIUM)", chromium())
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "skipped: node is not installed"
	}
	if _, err := os.Stat(filepath.Join(web, "node_modules", "playwright-core")); err != nil {
		return "skipped: portal/web/node_modules has no playwright-core (make ui runs npm ci)"
	}
	return ""
}

func chromium() string {
	if c := os.Getenv("CHROMIUM"); c != "" {
		return c
	}
	return "/usr/bin/chromium"
}

// hibernateSession hibernates a session as its owner would: the portal's
// POST /sessions/{id}/hibernate, or, on a portal without it, spec.state.
func hibernateSession(ctx context.Context, api *portalClient, k client.Client, name string) error {
	code, body := api.do(http.MethodPost, "/api/v1/sessions/"+name+"/hibernate", nil)
	switch {
	case code == http.StatusOK || code == http.StatusAccepted:
		return nil
	case code != http.StatusNotFound && code != http.StatusMethodNotAllowed:
		return fmt.Errorf("POST /sessions/%s/hibernate: %d %v", name, code, body)
	}
	s := &streamv1.Session{}
	if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		return err
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}},"spec":{"state":%q}}`, streamv1.StateReasonAnnotation, streamv1.ReasonUserRequest, streamv1.StateHibernated)
	return k.Patch(ctx, s, client.RawPatch("application/merge-patch+json", []byte(patch)))
}

func randomPassword(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
