package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/local/platform"
	"github.com/streamspace/streamspace/test/testenv"
)

// TestWebClient_onARealNode_inChromium is the web-client path of issue 10
// as a person takes it, in Chromium (portal/web/e2e/webclient.mjs) on the
// whole platform: launch terminal-web-local (protocol NoVNC: the pod serves
// its own noVNC) from the catalog; its page loads in the viewer's frame
// from the session's own apps host, never the portal's origin; typed keys
// reach the shell (a file appears in the home volume); while the person
// types the session outlives its idle timeout; with the tab left open and
// no input it hibernates at its deadline (the web client's stream open to
// the end, its own reconnects waking nothing); Wake brings it back with the
// home as it was. Figures: time to first frame, hibernation after the
// deadline, wake.
func TestWebClient_onARealNode_inChromium(t *testing.T) {
	e := needPlatform(t)
	web := filepath.Join(testenv.RepoRoot(), "portal", "web")
	base := e.PublicURL
	if why := whyNoUI(base, web); why != "" {
		t.Skip(why)
	}
	const (
		template = "terminal-web-local"
		title    = "Terminal, own web client (local image)"
		typed    = "typed-by-test"
		idle     = time.Minute // the shortest a Session accepts
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel) // after the browser's own cleanup, which lets it quit first
	k := e.Platform.Client

	// the web-client image, beside the light one every e2e test uses
	if err := platform.SessionImages(filepath.Join(os.TempDir(), "streamspace-e2e"), "webvnc")(ctx, e.Cluster, io.Discard); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, template+" is synced with protocol NoVNC", func() (bool, string) {
		tpl := &streamv1.Template{}
		if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: template}, tpl); err != nil {
			return false, err.Error()
		}
		return tpl.Spec.Stream.Protocol == streamv1.StreamNoVNC, string(tpl.Spec.Stream.Protocol)
	})

	// a user of its own: its own quota and home volume
	api := &portalClient{t: t, base: base}
	api.login("admin", e.Password)
	user, password := "web-user", randomPassword(t)
	if code, body := api.do(http.MethodPost, "/api/v1/admin/users", map[string]any{"username": user, "password": password, "role": "user"}); code != http.StatusCreated {
		t.Fatalf("create the user %s: %d %v", user, code, body)
	}
	home := filepath.Join(e.Dir, "volumes", ns+"_home-"+user)

	b := startWebClientScript(t, ctx, web, base)
	b.do("signin", user, password)
	b.do("step", "launch")
	launched := b.do("launch", template, title)
	name, _ := launched["session"].(string)
	defer func() {
		if code, body := api.do(http.MethodDelete, "/api/v1/sessions/"+name, nil); code != http.StatusOK {
			t.Logf("terminate %s: %d %v", name, code, body)
		}
	}()
	firstFrame := time.Duration(launched["firstFrameMs"].(float64)) * time.Millisecond

	// the app's page is served by the session's apps host, the portal's
	// page only frames it
	appsOrigin := strings.Replace(base, "://localhost", "://"+name+".localhost", 1)
	if launched["pageOrigin"] != base || launched["frameOrigin"] != appsOrigin {
		t.Fatalf("the viewer on %v framed the web client from %v (%v), want %s", launched["pageOrigin"], launched["frameOrigin"], launched["frameURL"], appsOrigin)
	}
	t.Logf("launch: the web client painted its first frame %s after the click, from %s", firstFrame.Round(time.Millisecond), appsOrigin)

	// typed keys reach the shell in the session
	b.do("step", "typing")
	b.do("type", "touch", "~/"+typed)
	waitFor(t, 15*time.Second, "the typed command creates ~/"+typed+" in the home volume", func() (bool, string) {
		_, err := os.Stat(filepath.Join(home, typed))
		return err == nil, fmt.Sprint(err)
	})

	// a short idle timeout, then a person typing for longer than it
	s := &streamv1.Session{}
	if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	if err := k.Patch(ctx, s, client.RawPatch("application/merge-patch+json", []byte(fmt.Sprintf(`{"spec":{"idleTimeout":%q}}`, idle)))); err != nil {
		t.Fatal(err)
	}
	shortened := time.Now()
	typing := idle + 20*time.Second
	for time.Since(shortened) < typing {
		b.do("key")
		if err := k.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
			t.Fatal(err)
		}
		if s.Status.Phase != streamv1.PhaseRunning || s.DesiredState() != streamv1.StateRunning {
			t.Fatalf("the session stopped while its user typed, %s after the idle timeout was set to %s: %s/%s (%s)",
				time.Since(shortened).Round(time.Second), idle, s.Spec.State, s.Status.Phase, s.Annotations[streamv1.StateReasonAnnotation])
		}
		time.Sleep(8 * time.Second)
	}
	if s.Status.LastActivity == nil || !s.Status.LastActivity.After(shortened.Add(typing-idle)) {
		t.Fatalf("typing for %s was not recorded as activity: lastActivity %v", typing, s.Status.LastActivity)
	}
	t.Logf("typing: still running %s after the idle timeout was set to %s; last activity %s ago",
		time.Since(shortened).Round(time.Second), idle, time.Since(s.Status.LastActivity.Time).Round(time.Second))

	// no input, the tab open: it hibernates at its deadline
	b.do("step", "idle")
	var deadline time.Time
	openStreams := -1.0
	waitFor(t, idle+time.Minute, "the idle session hibernates with its tab open", func() (bool, string) {
		// The gauge first: read before the session, it cannot see a stream
		// the hibernation (decided after) has already closed.
		open := portalGauge(t, base, `streamspace_portal_stream_connections{kind="web"}`)
		if err := k.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
			return false, err.Error()
		}
		if s.Status.Phase == streamv1.PhaseRunning && s.DesiredState() == streamv1.StateRunning {
			if s.Status.IdleDeadline != nil {
				deadline = s.Status.IdleDeadline.Time
			}
			openStreams = open
		}
		return s.Status.Phase == streamv1.PhaseHibernated && podsOf(t, k, name) == 0,
			fmt.Sprintf("%s/%s, deadline in %s", s.Spec.State, s.Status.Phase, time.Until(deadline).Round(time.Second))
	})
	hibernated := time.Since(deadline)
	if why := s.Annotations[streamv1.StateReasonAnnotation]; why != streamv1.ReasonIdleTimeout {
		t.Errorf("hibernated for %q, want %s", why, streamv1.ReasonIdleTimeout)
	}
	if openStreams < 1 {
		t.Errorf("the web client's stream was not open when the session was last seen running (%v open): the tab was not open to the end", openStreams)
	}
	t.Logf("hibernate: pod gone %s after the idle deadline, the web client's stream open until then", hibernated.Round(time.Millisecond))
	b.do("hibernated", title)
	// the frame's noVNC reconnected by itself until the viewer showed the
	// sleep: that woke nothing
	if err := k.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil || s.Spec.State != streamv1.StateHibernated {
		t.Fatalf("the open tab woke the session: %v %s", err, s.Spec.State)
	}

	// Wake: back, with the home as it was (the shell sees the file)
	b.do("step", "wake")
	woke := b.do("wake")
	wake := time.Duration(woke["wakeMs"].(float64)) * time.Millisecond
	b.do("type", "test", "-f", "~/"+typed, "&&", "touch", "~/seen-after-wake")
	waitFor(t, 15*time.Second, "the woken session finds ~/"+typed+" (it touches ~/seen-after-wake)", func() (bool, string) {
		_, err := os.Stat(filepath.Join(home, "seen-after-wake"))
		return err == nil, fmt.Sprint(err)
	})
	t.Logf("wake: the web client painted again %s after Wake was pressed; the home kept %s", wake.Round(time.Millisecond), typed)

	// the portal's page logs no error; the session's own page may (noVNC
	// fails to fetch a package.json Debian does not ship, and, asleep, to
	// reconnect: 409 until the viewer takes it away)
	errs, _ := b.do("errors")["errors"].([]any)
	var portalErrors []string
	for _, e := range errs {
		if s, _ := e.(string); !strings.Contains(s, "://"+name+".localhost:") {
			portalErrors = append(portalErrors, s)
		}
	}
	if len(portalErrors) > 0 {
		t.Errorf("browser errors of the portal's page:\n%s", strings.Join(portalErrors, "\n"))
	}
	t.Logf("figures: first frame %s, hibernated %s after the deadline, wake %s",
		firstFrame.Round(time.Millisecond), hibernated.Round(time.Millisecond), wake.Round(time.Millisecond))
}

// webClientScript is portal/web/e2e/webclient.mjs running, one command at
// a time.
type webClientScript struct {
	t     *testing.T
	in    io.Writer
	lines *bufio.Scanner
}

func startWebClientScript(t *testing.T, ctx context.Context, web, base string) *webClientScript {
	out := filepath.Join(testenv.RepoRoot(), "test-output", "webclient")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "node", "e2e/webclient.mjs")
	cmd.Dir = web
	cmd.Env = append(os.Environ(), "PORTAL_URL="+base, "OUT_DIR="+out, "CHROMIUM="+chromium())
	// Chromium is node's child: an end or a timeout stops the whole group
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = in.Close() // the script quits at the end of its input
		if err := cmd.Wait(); err != nil {
			t.Logf("webclient.mjs: %v", err)
		}
	})
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	return &webClientScript{t: t, in: in, lines: sc}
}

// do runs one command and returns its answer; an ERR fails the test.
func (b *webClientScript) do(args ...string) map[string]any {
	b.t.Helper()
	started := time.Now()
	if _, err := fmt.Fprintln(b.in, strings.Join(args, " ")); err != nil {
		b.t.Fatalf("%s: %v", args[0], err)
	}
	for b.lines.Scan() {
		line := b.lines.Text()
		switch {
		case strings.HasPrefix(line, "OK "):
			var answer map[string]any
			if err := json.Unmarshal([]byte(line[3:]), &answer); err != nil {
				b.t.Fatalf("%s: %q: %v", args[0], line, err)
			}
			b.t.Logf("browser: %s (%s)", args[0], time.Since(started).Round(100*time.Millisecond))
			return answer
		case strings.HasPrefix(line, "ERR "):
			b.t.Fatalf("browser: %s failed after %s: %s (screenshots in test-output/webclient)", args[0], time.Since(started).Round(100*time.Millisecond), line[4:])
		default:
			b.t.Log("browser: " + line)
		}
	}
	b.t.Fatalf("browser: the script ended during %s: %v", args[0], b.lines.Err())
	return nil
}

// portalGauge reads one series of the portal's /metrics (-1: absent).
func portalGauge(t *testing.T, base, series string) float64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Logf("metrics: %v", err)
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}
