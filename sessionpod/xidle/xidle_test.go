package xidle

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/streamspace/streamspace/test/vnctest"
)

func startXvnc(t *testing.T, o vnctest.Options) (*vnctest.Server, Display) {
	t.Helper()
	vnc := vnctest.StartT(t, o)
	d, err := ParseDisplay(vnc.Display)
	if err != nil {
		t.Fatal(err)
	}
	// The RFB port listens a little before the X socket may; wait for X.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial(d.Network, d.Address)
		if err == nil {
			c.Close()
			return vnc, d
		}
		if time.Now().After(deadline) {
			t.Fatalf("X display %s not reachable: %v", d.Name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func idleOf(t *testing.T, d Display, auth *Auth) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	idle, err := Idle(ctx, d, auth)
	if err != nil {
		t.Fatal(err)
	}
	return idle
}

// waitInput polls until the X server's idle time drops below before: the
// input of a VNC client reaches the X server asynchronously.
func waitInput(t *testing.T, d Display, before time.Duration, what string) time.Duration {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		idle := idleOf(t, d, nil)
		if idle < before {
			return idle
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the X server's idle time is still %s (was %s before)", what, idle, before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestIdle_realXvnc_growsWithoutInput_dropsAfterVNCInput(t *testing.T) {
	vnc, d := startXvnc(t, vnctest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	viewer, err := vnctest.Dial(ctx, vnc.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()

	first := idleOf(t, d, nil)
	time.Sleep(1500 * time.Millisecond)
	second := idleOf(t, d, nil)
	t.Logf("idle %s, then %s with a viewer connected and no input", first, second)
	if second < first+time.Second {
		t.Errorf("idle did not grow without input: %s then %s", first, second)
	}

	if err := viewer.Key(0x61); err != nil { // 'a'
		t.Fatal(err)
	}
	afterKey := waitInput(t, d, second, "a key press")
	t.Logf("idle %s after a key press", afterKey)

	time.Sleep(1200 * time.Millisecond)
	before := idleOf(t, d, nil)
	if err := viewer.Pointer(100, 80, 0); err != nil {
		t.Fatal(err)
	}
	afterPointer := waitInput(t, d, before, "a pointer move")
	t.Logf("idle %s, then %s after a pointer move", before, afterPointer)
}

func TestFindDisplays_realXvnc_foundOnItsAbstractSocket(t *testing.T) {
	vnc, _ := startXvnc(t, vnctest.Options{})
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	found, err := FindDisplays(f)
	if err != nil {
		t.Fatal(err)
	}
	var d *Display
	for i := range found {
		if found[i].Name == vnc.Display {
			d = &found[i]
		}
	}
	if d == nil {
		t.Fatalf("display %s not among the X servers found: %v", vnc.Display, found)
	}
	if d.Address != "@/tmp/.X11-unix/X"+strings.TrimPrefix(vnc.Display, ":") {
		t.Errorf("address %s", d.Address)
	}
	// What was found is what is read: the abstract socket answers.
	t.Logf("found %s at %s; idle %s", d.Name, d.Address, idleOf(t, *d, nil))
}

func TestFindDisplays_onlyListeningAbstractXSockets(t *testing.T) {
	const in = `Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 1001 @/tmp/.X11-unix/X7
0000000000000000: 00000002 00000000 00010000 0001 01 1002 /tmp/.X11-unix/X7
0000000000000000: 00000003 00000000 00000000 0001 03 1003 @/tmp/.X11-unix/X7
0000000000000000: 00000002 00000000 00010000 0001 01 1004 @/tmp/.X11-unix/X1
0000000000000000: 00000002 00000000 00000000 0001 01 1005 @/tmp/.X11-unix/X9
0000000000000000: 00000002 00000000 00010000 0001 01 1006 @/tmp/.X11-unix/Xevil
0000000000000000: 00000002 00000000 00010000 0001 01 1007 @/tmp/.X11-unix/X99999999
0000000000000000: 00000002 00000000 00010000 0001 01 1008 @/tmp/.X11-unix/X1
0000000000000000: 00000002 00000000 00010000 0001 01 1009 @/run/other.sock
0000000000000000: 00000002 00000000 00010000 0001 01 1010
garbage line
`
	found, err := FindDisplays(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range found {
		names = append(names, d.Name+"="+d.Address)
	}
	if got, want := strings.Join(names, " "), ":1=@/tmp/.X11-unix/X1 :7=@/tmp/.X11-unix/X7"; got != want {
		t.Errorf("found %q, want %q", got, want)
	}

	long := strings.Repeat("x", 70<<10) + "\n"
	if _, err := FindDisplays(strings.NewReader(long)); err == nil {
		t.Error("a 70 KiB line was accepted")
	}
}

func TestParseDisplay(t *testing.T) {
	for in, want := range map[string]string{
		":1":         "unix @/tmp/.X11-unix/X1 0",
		":1.2":       "unix @/tmp/.X11-unix/X1 2",
		"unix:3":     "unix /tmp/.X11-unix/X3 0",
		"10.0.0.1:2": "tcp 10.0.0.1:6002 0",
		"1":          "error",
		":x":         "error",
		":1.y":       "error",
		"::1":        "error",
		":70000":     "error",
	} {
		d, err := ParseDisplay(in)
		got := fmt.Sprintf("%s %s %d", d.Network, d.Address, d.Screen)
		if err != nil {
			got = "error"
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", in)) {
				t.Errorf("%q: error %q does not name the value", in, err)
			}
		}
		if got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}

// xauthority writes a cookie file in xauth's format.
func xauthority(t *testing.T, entries ...[5]string) string {
	t.Helper()
	var b bytes.Buffer
	for _, e := range entries {
		fam := uint16(256) // FamilyLocal
		if e[0] == "wild" {
			fam = 65535
		}
		_ = binary.Write(&b, binary.BigEndian, fam)
		for _, f := range e[1:] {
			_ = binary.Write(&b, binary.BigEndian, uint16(len(f)))
			b.WriteString(f)
		}
	}
	p := filepath.Join(t.TempDir(), "Xauthority")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIdle_realXvncWithCookie_readOnlyWithTheCookie(t *testing.T) {
	cookie := make([]byte, 16)
	_, _ = rand.Read(cookie)
	host, _ := os.Hostname()
	// Xvnc reads the file at start: it must hold the cookie of its own
	// display. The display is not known before it starts, so the file
	// holds the cookie for every display number (an empty number).
	file := xauthority(t, [5]string{"local", host, "", cookieName, string(cookie)})
	_, d := startXvnc(t, vnctest.Options{Xauthority: file})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Idle(ctx, d, nil)
	if err == nil || !strings.Contains(err.Error(), "refused the connection") {
		t.Fatalf("without the cookie: %v, want a refusal", err)
	}
	t.Logf("without the cookie: %v", err)
	if _, err := Idle(ctx, d, &Auth{Name: cookieName, Data: []byte("0123456789abcdef")}); err == nil {
		t.Fatal("a wrong cookie was admitted")
	}

	auth, err := CookieFor(file, d)
	if err != nil || auth == nil {
		t.Fatalf("cookie of %s: %v %v", d.Name, auth, err)
	}
	t.Logf("with the cookie from %s: idle %s", filepath.Base(file), idleOf(t, d, auth))
}

func TestCookieFor_picksTheDisplaysCookie(t *testing.T) {
	file := xauthority(t,
		[5]string{"local", "pod", "2", cookieName, "two"},
		[5]string{"local", "pod", "1", "XDM-AUTHORIZATION-1", "other"},
		[5]string{"wild", "", "1", cookieName, "one"},
	)
	for name, want := range map[string]string{":1": "one", ":2.0": "two", ":3": ""} {
		auth, err := CookieFor(file, Display{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if auth != nil {
			got = string(auth.Data)
		}
		if got != want {
			t.Errorf("%s: cookie %q, want %q", name, got, want)
		}
	}
	if auth, err := CookieFor(filepath.Join(t.TempDir(), "none"), Display{Name: ":1"}); auth != nil || err != nil {
		t.Errorf("missing file: %v %v, want no auth", auth, err)
	}
	truncated := filepath.Join(t.TempDir(), "truncated")
	_ = os.WriteFile(truncated, []byte{1, 0, 0, 4, 'p'}, 0o600)
	if _, err := CookieFor(truncated, Display{Name: ":1"}); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated file: %v", err)
	}
}

// hostileX is an X server stand-in on an abstract socket that answers
// with what answer writes.
func hostileX(t *testing.T, answer func(c net.Conn)) Display {
	t.Helper()
	addr := fmt.Sprintf("@streamspace-xidle-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	l, err := net.Listen("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 12)
				if _, err := c.Read(buf); err != nil {
					return
				}
				answer(c)
				_, _ = io.Copy(io.Discard, c) // until the client hangs up
			}()
		}
	}()
	return Display{Name: ":hostile", Network: "unix", Address: addr}
}

// goodSetup is a minimal successful connection setup: no vendor, no
// formats, one screen with root window 0x42 and no depths.
func goodSetup() []byte {
	body := make([]byte, 32+40)
	body[20] = 1                                   // screens
	binary.LittleEndian.PutUint32(body[32:], 0x42) // root
	head := []byte{1, 0, 11, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint16(head[6:], uint16(len(body)/4))
	return append(head, body...)
}

// endless writes zeros until the client goes away.
func endless(c net.Conn) {
	zeros := make([]byte, 64<<10)
	for {
		if _, err := c.Write(zeros); err != nil {
			return
		}
	}
}

func TestIdle_hostileServer_hugeLengthsRefusedBeforeBuffering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(c net.Conn)
		want   string
		screen int
	}{
		{"setup of 256 KiB", func(c net.Conn) {
			_, _ = c.Write([]byte{1, 0, 11, 0, 0, 0, 0xff, 0xff})
			endless(c)
		}, "declares a 262140-byte connection setup", 0},
		{"reply of 16 GiB", func(c net.Conn) {
			_, _ = c.Write(goodSetup())
			rep := make([]byte, 32)
			rep[0], rep[2] = 1, 1
			binary.LittleEndian.PutUint32(rep[4:], 0xffffffff)
			_, _ = c.Write(rep)
			endless(c)
		}, "declares a reply of 17179869180 more bytes", 0},
		{"generic event of 16 GiB", func(c net.Conn) {
			_, _ = c.Write(goodSetup())
			ev := make([]byte, 32)
			ev[0] = 35
			binary.LittleEndian.PutUint32(ev[4:], 0xffffffff)
			_, _ = c.Write(ev)
			endless(c)
		}, "event of 17179869180 more bytes", 0},
		{"events instead of a reply", func(c net.Conn) {
			_, _ = c.Write(goodSetup())
			ev := make([]byte, 32)
			ev[0] = 2 // KeyPress
			for {
				if _, err := c.Write(ev); err != nil {
					return
				}
			}
		}, "events and no reply", 0},
		{"screen list cut short", func(c net.Conn) {
			s := goodSetup()
			s[8+20] = 2 // two screens, only one sent
			_, _ = c.Write(s)
		}, "ends inside screen 1", 1},
		{"no screen saver", func(c net.Conn) {
			_, _ = c.Write(goodSetup())
			rep := make([]byte, 32)
			rep[0], rep[2] = 1, 1 // present = 0
			_, _ = c.Write(rep)
		}, "no MIT-SCREEN-SAVER extension", 0},
		{"refusal", func(c net.Conn) {
			reason := "No protocol specified\n\x00\x00\x00"
			head := []byte{0, 22, 11, 0, 0, 0, byte(len(reason) / 4), 0}
			_, _ = c.Write(append(head, reason...))
		}, `refused the connection: "No protocol specified\n"`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := hostileX(t, tc.answer)
			d.Screen = tc.screen
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := Idle(ctx, d, nil)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			// The stand-in's own 64 KiB buffer and the test's garbage are
			// in the figure; what was declared is gigabytes.
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Errorf("allocated %d bytes refusing it", grew)
			}
			t.Logf("refused: %v", err)
		})
	}
	// The 256 KiB setup is also within what the protocol allows a real
	// server: prove the bound is what refused it, not a failed read.
	if maxSetupBytes >= 0xffff*4 {
		t.Fatal("maxSetupBytes does not bound the setup")
	}
}

func TestReporter_servesIdleOnly(t *testing.T) {
	_, d := startXvnc(t, vnctest.Options{})
	srv := httptest.NewServer(&Reporter{Display: d.Name})
	defer srv.Close()

	res, err := http.Get(srv.URL + Path)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	err = json.NewDecoder(res.Body).Decode(&rep)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || rep.Display != d.Name || rep.IdleSeconds < 0 {
		t.Fatalf("GET /idle: %d %+v %v", res.StatusCode, rep, err)
	}
	t.Logf("GET /idle: %+v", rep)

	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"POST", Path, 405}, {"DELETE", Path, 405}, {"GET", "/", 404}, {"GET", "/idle/x", 404}, {"GET", "/metrics", 404},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, res.StatusCode, tc.want)
		}
	}

	gone := httptest.NewServer(&Reporter{Display: ":4095"})
	defer gone.Close()
	res, err = http.Get(gone.URL + Path)
	if err != nil {
		t.Fatal(err)
	}
	var f Failure
	_ = json.NewDecoder(res.Body).Decode(&f)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(f.Error, "connect to X display :4095") {
		t.Errorf("no X server: %d %q, want 503 naming the display", res.StatusCode, f.Error)
	}
}

// In a pod, the reporter's container shares only the network namespace
// with the app's: this test runs itself again in a network namespace of
// its own (as root, with unshare), starts one Xvnc there, and finds it
// with no configuration, as the sidecar does.
func TestLocate_inANetworkNamespaceOfItsOwn_findsTheOnlyXServer(t *testing.T) {
	if os.Getenv("XIDLE_IN_NETNS") == "1" {
		vnc, _ := startXvnc(t, vnctest.Options{})
		d, err := Locate("")
		if err != nil {
			t.Fatal(err)
		}
		if d.Name != vnc.Display {
			t.Fatalf("located %s, the X server is %s", d.Name, vnc.Display)
		}
		t.Logf("located %s at %s with no configuration; idle %s", d.Name, d.Address, idleOf(t, d, nil))
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace of its own (unshare -n)")
	}
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	cmd := exec.Command("unshare", "-n", "sh", "-c", `ip link set lo up && exec "$0" -test.run='^TestLocate_inANetworkNamespaceOfItsOwn_findsTheOnlyXServer$' -test.v -test.count=1`, os.Args[0])
	cmd.Env = append(os.Environ(), "XIDLE_IN_NETNS=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in its own network namespace:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "located :") {
		t.Fatal("the inner test did not run")
	}
}
