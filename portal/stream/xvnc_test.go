package stream

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/vnctest"
)

// relayTo serves a browser's WebSocket the way the proxy's join does once
// the caller is authorized: the session dialed without redirects, both
// directions pumped through the filters of the template's protocol, and
// the filters' reason in the close.
func relayTo(t *testing.T, upstream string, tpl *streamv1.Template, r *refusals) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		up, err := dialSession(req.Context(), (&Proxy{}).streamHTTPClient(), upstream, subprotocols(req))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer up.CloseNow()
		up.SetReadLimit(-1)
		down, err := websocket.Accept(w, req, &websocket.AcceptOptions{Subprotocols: []string{up.Subprotocol()}})
		if err != nil {
			return
		}
		defer down.CloseNow()
		down.SetReadLimit(-1)
		ctx, cancel := context.WithCancel(req.Context())
		defer cancel()
		toSession, toBrowser := filtersFor(tpl, PolicyOf(tpl, 0), r)
		errc := make(chan error, 2)
		go func() { errc <- pump(ctx, up, down, func(int64) {}, toSession, nil) }()
		go func() { errc <- pump(ctx, down, up, func(int64) {}, toBrowser, nil) }()
		err = <-errc
		status, reason, ok := closeOf(err)
		if !ok {
			status = websocket.StatusGoingAway
		}
		_ = down.Close(status, reason)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
}

func startXvnc(t *testing.T) *vnctest.Server {
	t.Helper()
	vnc, err := vnctest.Start()
	if err != nil {
		t.Skipf("no real VNC server: %v", err)
	}
	t.Cleanup(vnc.Stop)
	return vnc
}

func vncTemplate(p streamv1.DataPolicy) *streamv1.Template {
	return &streamv1.Template{Spec: streamv1.TemplateSpec{Stream: streamv1.StreamSpec{Protocol: streamv1.StreamWebsockifyVNC, Port: 6080},
		DataPolicy: p}}
}

func TestRFB_realXvnc_clipboardOutRefused_appsClipboardNeverReachesTheViewer(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 (with tkinter) owns the X clipboard in this test")
	}
	vnc := startXvnc(t)
	no := false
	var mu sync.Mutex
	var counted []Refusal
	restrictedURL := relayTo(t, vnc.URL, vncTemplate(streamv1.DataPolicy{ClipboardOut: &no}),
		&refusals{count: func(r Refusal) { mu.Lock(); counted = append(counted, r); mu.Unlock() }})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	restricted, err := vnctest.Dial(ctx, restrictedURL, nil)
	if err != nil {
		t.Fatalf("restricted viewer: %v", err)
	}
	defer restricted.Close()
	// the control: a viewer of the same desktop with no policy in between,
	// which shows the app's copy does go out to viewers
	control, err := vnctest.Dial(ctx, vnc.URL, nil)
	if err != nil {
		t.Fatalf("control viewer: %v", err)
	}
	defer control.Close()

	// an app in the session copies text: Tk owns the X clipboard, and Xvnc
	// sends it to its viewers as ServerCutText
	const secret = "copied-in-the-app-7c1f"
	app := exec.CommandContext(ctx, "python3", "-c", `import tkinter, time
r = tkinter.Tk(); r.withdraw(); r.clipboard_clear(); r.clipboard_append("`+secret+`"); r.update()
end = time.time() + 25
while time.time() < end:
    r.update(); time.sleep(0.05)`)
	app.Env = append(os.Environ(), "DISPLAY="+vnc.Display)
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = app.Process.Kill(); _ = app.Wait() }()

	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(strings.Join(control.CutText, ""), secret) {
		if time.Now().After(deadline) {
			t.Fatalf("the control viewer never got the app's clipboard (got %q)", control.CutText)
		}
		if _, err := control.FullFrame(); err != nil {
			t.Fatalf("control viewer: %v", err)
		}
		if _, err := restricted.FullFrame(); err != nil {
			t.Fatalf("restricted viewer: %v (the stream must go on around a refused clipboard)", err)
		}
	}
	// what Xvnc sent the restricted viewer at the same time is through too
	for i := 0; i < 3; i++ {
		if _, err := restricted.FullFrame(); err != nil {
			t.Fatalf("restricted viewer after the copy: %v", err)
		}
	}
	if len(restricted.CutText) != 0 {
		t.Errorf("the restricted viewer got the session's clipboard: %q", restricted.CutText)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(counted) == 0 || counted[0] != (Refusal{Direction: DirectionOut, Kind: KindClipboard}) {
		t.Errorf("refusals counted: %v", counted)
	}
}

func TestRFB_realXvnc_declared4GiBPaste_closesTheStream_memoryDoesNotGrow(t *testing.T) {
	vnc := startXvnc(t)
	url := relayTo(t, vnc.URL, vncTemplate(streamv1.DataPolicy{}), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := vnctest.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.WS.CloseNow()
	if _, err := v.FullFrame(); err != nil {
		t.Fatal(err)
	}
	before := rss(t)
	// ClientCutText declaring 0x7FFFFFFF bytes (the largest a length can
	// say without turning into an extended-clipboard one), then as much of
	// it as the proxy will take, 64 KiB at a time from one buffer
	w, err := v.WS.Writer(ctx, websocket.MessageBinary)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Write(binary.BigEndian.AppendUint32([]byte{6, 0, 0, 0}, 0x7FFFFFFF))
	junk := make([]byte, 64<<10)
	for sent := 0; err == nil && sent < 256<<20; sent += len(junk) {
		_, err = w.Write(junk)
	}
	_ = w.Close()
	// the viewer is told why
	var closeErr websocket.CloseError
	for {
		if _, _, err = v.WS.Read(ctx); err != nil {
			break
		}
	}
	if !errors.As(err, &closeErr) || closeErr.Code != websocket.StatusMessageTooBig || !strings.Contains(closeErr.Reason, "1048576-byte limit") {
		t.Fatalf("close: %v, want 1009 naming the clipboard limit", err)
	}
	if grew := rss(t) - before; grew > 8<<20 {
		t.Errorf("the portal's memory grew by %d KiB for a refused 2 GiB paste", grew>>10)
	} else {
		t.Logf("RSS before %d KiB, grew %d KiB", before>>10, grew>>10)
	}
}

// rss is this process's resident memory (VmRSS), in bytes.
func rss(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
