package images

import (
	"archive/tar"
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/streamspace/streamspace/test/freeport"
	"github.com/streamspace/streamspace/test/syncbuf"
)

// These tests build real images (a cached root file system makes that a
// matter of seconds; a cold one takes a few minutes) and run them the way a
// container runtime would, without one: the image's layer unpacked into a
// folder, its entrypoint started as uid 1000 in new mount and PID
// namespaces with /proc, a private /dev, /dev/shm and the home volume
// mounted. Then a real VNC client reads the stream through websockify.

func requireBuildTools(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short mode: builds a Debian root file system")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: building and running images needs root (debootstrap, chroot, unshare, mount)")
	}
	for _, tool := range []string{"debootstrap", "unshare", "chroot"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipped: %s is not installed (apt-get install debootstrap util-linux coreutils)", tool)
		}
	}
}

func testBuilder(t *testing.T, out string) *builder {
	t.Helper()
	b, err := newBuilder(Options{Out: out, Cache: DefaultCacheDir(), Version: DefaultVersion, Epoch: defaultEpoch}, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestLightImage_isReproducible_andStreamsAnXterm(t *testing.T) {
	requireBuildTools(t)
	first := buildTwice(t, "light")

	img := loadImage(t, first)
	root := unpack(t, img)

	t.Run("streams the xterm and stops on SIGTERM", func(t *testing.T) {
		s := startSession(t, img, root)
		fb := s.waitFrame(t, 20*time.Second, "more than one colour (xterm drew)", func(f *frame) bool {
			return f.colours() > 1
		})
		t.Logf("first frame %dx%d, %d colours, %s after start", fb.w, fb.h, fb.colours(), time.Since(s.started).Round(time.Millisecond))
		if fb.w != 1280 || fb.h != 800 {
			t.Errorf("screen %dx%d, want 1280x800", fb.w, fb.h)
		}
		if n := len(s.procs("xterm")); n != 1 {
			t.Errorf("%d xterm processes", n)
		}
		if uid := s.uid(t, "Xvnc"); uid != userID {
			t.Errorf("Xvnc runs as uid %d", uid)
		}
		s.terminate(t, 0)
	})

	t.Run("restarts the app, ends with Xvnc", func(t *testing.T) {
		s := startSession(t, img, root)
		s.waitFrame(t, 20*time.Second, "xterm", func(f *frame) bool { return f.colours() > 1 })
		old := s.procs("xterm")
		if len(old) != 1 {
			t.Fatalf("xterm processes %v", old)
		}
		_ = syscall.Kill(old[0], syscall.SIGKILL)
		deadline := time.Now().Add(10 * time.Second)
		for {
			if now := s.procs("xterm"); len(now) == 1 && now[0] != old[0] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("xterm was not started again after it exited")
			}
			time.Sleep(100 * time.Millisecond)
		}
		for _, pid := range s.procs("Xvnc") {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case <-s.done:
			var ee *exec.ExitError
			if !errors.As(s.err, &ee) {
				t.Errorf("entrypoint ended with %v after Xvnc died, want a failure exit", s.err)
			}
		case <-time.After(10 * time.Second):
			t.Error("entrypoint still runs 10s after Xvnc died")
		}
	})
}

func TestFirefoxImage_paintsItsStartPage(t *testing.T) {
	requireBuildTools(t)
	b := testBuilder(t, t.TempDir())
	if _, err := readCached(filepath.Join(b.o.Cache, "firefox-"+b.key(recipes["firefox"]))); err != nil && os.Getenv("STREAMSPACE_TEST_FIREFOX") == "" {
		t.Skip("skipped: the Firefox root file system is not cached (~1 GB, minutes to build); run `make images` first or set STREAMSPACE_TEST_FIREFOX=1")
	}
	res, err := b.Build(context.Background(), recipes["firefox"])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s %s, %s compressed, %s unpacked", res.Ref, res.Digest, mib(res.TarballSize), mib(res.LayerSize))
	img := loadImage(t, res)
	s := startSession(t, img, unpack(t, img))
	// start.html's background, #1565c0, over most of the screen.
	blue := uint32(0x15<<16 | 0x65<<8 | 0xc0)
	fb := s.waitFrame(t, 60*time.Second, "the start page", func(f *frame) bool {
		return f.share(blue) > 0.5
	})
	t.Logf("start page painted %s after start (%.0f%% of the screen)", time.Since(s.started).Round(time.Millisecond), 100*fb.share(blue))
	if n := len(s.procs("firefox-esr")); n != 1 {
		t.Errorf("%d firefox-esr main processes", n)
	}
	s.terminate(t, 0)
}

// buildTwice builds the named image twice, into two folders, and expects
// the same bytes and the same digest.
func buildTwice(t *testing.T, name string) *Result {
	t.Helper()
	first, err := testBuilder(t, t.TempDir()).Build(context.Background(), recipes[name])
	if err != nil {
		t.Fatal(err)
	}
	second, err := testBuilder(t, t.TempDir()).Build(context.Background(), recipes[name])
	if err != nil {
		t.Fatal(err)
	}
	if first.Digest != second.Digest || fileSHA256(t, first.Tarball) != fileSHA256(t, second.Tarball) {
		t.Errorf("two builds differ: %s and %s", first.Digest, second.Digest)
	}
	t.Logf("%s %s, %s compressed, %s unpacked; packed in %s", first.Ref, first.Digest, mib(first.TarballSize), mib(first.LayerSize), first.packTook.Round(time.Millisecond))
	return first
}

// loadImage reads back a built tarball and checks what the controller and
// the container runtime rely on.
func loadImage(t *testing.T, res *Result) v1.Image {
	t.Helper()
	img, err := tarball.ImageFromPath(res.Tarball, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); d.String() != res.Digest {
		t.Errorf("tarball holds %s, build said %s", d, res.Digest)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "1000:1000" || c.WorkingDir != homeDir || !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/streamspace-session"}) {
		t.Errorf("config user %q, workdir %q, entrypoint %v", c.User, c.WorkingDir, c.Entrypoint)
	}
	if _, ok := c.ExposedPorts["6080/tcp"]; !ok || !slices.Contains(c.Env, "LANG=C.UTF-8") {
		t.Errorf("config ports %v, env %v", c.ExposedPorts, c.Env)
	}
	if ls, _ := img.Layers(); len(ls) != 1 {
		t.Errorf("%d layers, want 1", len(ls))
	}
	return img
}

// unpack extracts the image's layer into a new folder as a runtime would,
// checking on the way that it is what writeLayer promises: sorted, one
// timestamp, no hard links, the home owned by the user.
func unpack(t *testing.T, img v1.Image) string {
	t.Helper()
	root := t.TempDir()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := ls[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var dirs []*tar.Header
	prev := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if name <= prev || strings.HasPrefix(name, "/") || slices.Contains(strings.Split(name, "/"), "..") {
			t.Fatalf("entry %q after %q: not sorted or not relative", h.Name, prev)
		}
		prev = name
		if h.ModTime.Unix() != defaultEpoch {
			t.Fatalf("%s: mtime %v", h.Name, h.ModTime)
		}
		if strings.HasPrefix(name, "usr/share/man/") || (strings.HasPrefix(name, "usr/share/doc/") && strings.Count(name, "/") > 3 && filepath.Base(name) != "copyright") {
			t.Fatalf("%s was to be pruned", name)
		}
		p := filepath.Join(root, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o700); err != nil {
				t.Fatal(err)
			}
			dirs = append(dirs, h)
			continue
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("%s: tar entry type %q (hard links and devices do not belong in the layer)", h.Name, h.Typeflag)
		}
		if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if err := os.Chmod(p, h.FileInfo().Mode()); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, h := range dirs {
		p := filepath.Join(root, h.Name)
		if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, h.FileInfo().Mode()); err != nil {
			t.Fatal(err)
		}
		if h.Name == "home/user/" && (h.Uid != userID || h.Gid != userID) {
			t.Errorf("home owned by %d:%d", h.Uid, h.Gid)
		}
	}
	return root
}

// session is a running image.
type session struct {
	cmd     *exec.Cmd
	url     string
	started time.Time
	done    chan struct{} // closed when the entrypoint has exited
	err     error         // how it exited
	log     *syncbuf.Buffer
	initPID int // host PID of the entrypoint, PID 1 of the session
	pidNS   string
	last    *frame // the last frame read
}

// saveArtifacts writes the session's output and last frame into dir
// (STREAMSPACE_TEST_ARTIFACTS), to look at what a test saw.
func (s *session) saveArtifacts(t *testing.T, dir string) {
	base := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Log(err)
		return
	}
	if err := os.WriteFile(base+".log", []byte(s.log.String()), 0o644); err != nil {
		t.Log(err)
	}
	if s.last == nil {
		return
	}
	img := image.NewRGBA(image.Rect(0, 0, s.last.w, s.last.h))
	for i, p := range s.last.px {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = byte(p>>16), byte(p>>8), byte(p), 255
	}
	f, err := os.Create(base + ".png")
	if err != nil {
		t.Log(err)
		return
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Log(err)
	}
}

// startSession runs the image's entrypoint and command in root as its
// config says (user, environment, working folder), plus the environment a
// pod gets, on a free display and stream port. The home is an empty folder
// owned by root and group-writable, as the pod's fsGroup leaves a fresh
// volume.
func startSession(t *testing.T, img v1.Image, root string) *session {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	uid, gid, _ := strings.Cut(c.User, ":")
	port := freeport.For(t)
	display := 100 + rand.IntN(400)
	env := append(slices.Clone(c.Env),
		"STREAMSPACE_SESSION=test", "STREAMSPACE_USER=tester",
		"STREAMSPACE_DISPLAY="+strconv.Itoa(display),
		"STREAMSPACE_STREAM_PORT="+strconv.Itoa(port),
		"STREAMSPACE_STREAM_ADDRESS=127.0.0.1")
	home := t.TempDir()
	if err := os.Chown(home, 0, userID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o775|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	argv := []string{"/usr/bin/setpriv", "--reuid=" + uid, "--regid=" + gid, "--groups=" + gid,
		"--no-new-privs", "--inh-caps=-all", "--bounding-set=-all",
		"/usr/bin/env", "-C", c.WorkingDir}
	argv = append(argv, c.Entrypoint...)
	argv = append(argv, c.Cmd...)
	s := &session{url: fmt.Sprintf("ws://127.0.0.1:%d/", port), done: make(chan struct{}), log: &syncbuf.Buffer{}}
	s.cmd = rootCommand(context.Background(), root, chrootOptions{
		Env:   env,
		Setup: fmt.Sprintf("mount --bind %q \"$R%s\"", home, homeDir),
	}, argv...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.started = time.Now()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		// Killing PID 1 of a PID namespace ends every process in it.
		// (unshare --kill-child cannot be relied on: the kernel forgets a
		// parent-death signal when setpriv changes the user.)
		if s.initPID > 0 {
			_ = syscall.Kill(s.initPID, syscall.SIGKILL)
		}
		_ = s.cmd.Process.Kill()
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Error("session did not end")
		}
		if t.Failed() {
			t.Logf("session output:\n%s", s.log.String())
		}
		if dir := os.Getenv("STREAMSPACE_TEST_ARTIFACTS"); dir != "" {
			s.saveArtifacts(t, dir)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for s.initPID == 0 && time.Now().Before(deadline) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", s.cmd.Process.Pid, s.cmd.Process.Pid))
		s.initPID, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		time.Sleep(5 * time.Millisecond)
	}
	if s.initPID == 0 {
		t.Fatal("unshare did not start the session")
	}
	s.pidNS, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", s.initPID))
	for {
		if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			conn.Close()
			break
		}
		select {
		case <-s.done:
			t.Fatalf("entrypoint exited (%v) before websockify listened:\n%s", s.err, s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("websockify does not listen on %d after 20s:\n%s", port, s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("websockify listens %s after start", time.Since(s.started).Round(time.Millisecond))
	return s
}

// procs lists the session's processes named comm.
func (s *session) procs(comm string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); ns != s.pidNS || s.pidNS == "" {
			continue
		}
		if c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(c)) == comm {
			out = append(out, pid)
		}
	}
	return out
}

func (s *session) uid(t *testing.T, comm string) int {
	t.Helper()
	ps := s.procs(comm)
	if len(ps) == 0 {
		t.Fatalf("no %s process", comm)
	}
	fi, err := os.Stat(fmt.Sprintf("/proc/%d", ps[0]))
	if err != nil {
		t.Fatal(err)
	}
	return int(fi.Sys().(*syscall.Stat_t).Uid)
}

// terminate sends SIGTERM to the entrypoint, as the kubelet does, and
// expects it to end within the pod's grace period with code.
func (s *session) terminate(t *testing.T, code int) {
	t.Helper()
	start := time.Now()
	if err := syscall.Kill(s.initPID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
		got := 0
		var ee *exec.ExitError
		if errors.As(s.err, &ee) {
			got = ee.ExitCode()
		} else if s.err != nil {
			t.Fatal(s.err)
		}
		if got != code {
			t.Errorf("entrypoint exited with %d on SIGTERM, want %d", got, code)
		}
		t.Logf("stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Errorf("entrypoint still runs 15s after SIGTERM (the pod's grace period)")
	}
}

// waitFrame connects a VNC client through websockify and reads full
// frames until ok says yes.
func (s *session) waitFrame(t *testing.T, timeout time.Duration, what string, ok func(*frame) bool) *frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := dialVNC(ctx, s.url)
	if err != nil {
		t.Fatalf("VNC through websockify: %v\n%s", err, s.log.String())
	}
	defer c.close()
	for {
		f, err := c.frame()
		if err != nil {
			t.Fatalf("read a frame: %v\n%s", err, s.log.String())
		}
		s.last = f
		if ok(f) {
			return f
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no frame with %s after %s (last: %d colours)\n%s", what, timeout, f.colours(), s.log.String())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// vncClient is a minimal RFB 3.8 viewer: security None, shared, 32-bit
// true colour, Raw encoding.
type vncClient struct {
	ws   *websocket.Conn
	conn net.Conn
	w, h int
}

func dialVNC(ctx context.Context, url string) (*vncClient, error) {
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"binary"}})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(64 << 20)
	// websockify cuts the RFB stream anywhere: read it as a stream.
	c := &vncClient{ws: ws, conn: websocket.NetConn(ctx, ws, websocket.MessageBinary)}
	if err := c.handshake(); err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("RFB handshake: %w", err)
	}
	return c, nil
}

func (c *vncClient) close() { _ = c.ws.Close(websocket.StatusNormalClosure, "") }

func (c *vncClient) read(n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := io.ReadFull(c.conn, b)
	return b, err
}

func (c *vncClient) handshake() error {
	v, err := c.read(12)
	if err != nil {
		return err
	}
	if string(v) != "RFB 003.008\n" {
		return fmt.Errorf("server version %q", v)
	}
	if _, err := c.conn.Write([]byte("RFB 003.008\n")); err != nil {
		return err
	}
	n, err := c.read(1)
	if err != nil {
		return err
	}
	types, err := c.read(int(n[0]))
	if err != nil {
		return err
	}
	if !slices.Contains(types, 1) {
		return fmt.Errorf("security types %v lack None", types)
	}
	if _, err := c.conn.Write([]byte{1}); err != nil {
		return err
	}
	res, err := c.read(4)
	if err != nil {
		return err
	}
	if r := binary.BigEndian.Uint32(res); r != 0 {
		return fmt.Errorf("security result %d", r)
	}
	if _, err := c.conn.Write([]byte{1}); err != nil { // shared
		return err
	}
	init, err := c.read(24)
	if err != nil {
		return err
	}
	c.w, c.h = int(binary.BigEndian.Uint16(init[0:])), int(binary.BigEndian.Uint16(init[2:]))
	if _, err := c.read(int(binary.BigEndian.Uint32(init[20:]))); err != nil { // desktop name
		return err
	}
	// SetPixelFormat: 32 bpp, depth 24, little endian, true colour,
	// 255/255/255, shifts 16/8/0; then SetEncodings: Raw.
	pf := []byte{0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0}
	enc := []byte{2, 0, 0, 1, 0, 0, 0, 0}
	_, err = c.conn.Write(append(pf, enc...))
	return err
}

// frame is the screen as 0xRRGGBB pixels.
type frame struct {
	w, h int
	px   []uint32
}

func (f *frame) colours() int {
	seen := map[uint32]bool{}
	for _, p := range f.px {
		seen[p] = true
	}
	return len(seen)
}

func (f *frame) share(colour uint32) float64 {
	n := 0
	for _, p := range f.px {
		if p == colour {
			n++
		}
	}
	return float64(n) / float64(len(f.px))
}

// frame asks for the whole screen and reads the update.
func (c *vncClient) frame() (*frame, error) {
	req := []byte{3, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(req[6:], uint16(c.w))
	binary.BigEndian.PutUint16(req[8:], uint16(c.h))
	if _, err := c.conn.Write(req); err != nil {
		return nil, err
	}
	f := &frame{w: c.w, h: c.h, px: make([]uint32, c.w*c.h)}
	for {
		typ, err := c.read(1)
		if err != nil {
			return nil, err
		}
		switch typ[0] {
		case 0: // FramebufferUpdate
		case 2: // Bell
			continue
		case 3: // ServerCutText
			h, err := c.read(7)
			if err != nil {
				return nil, err
			}
			if _, err := c.read(int(binary.BigEndian.Uint32(h[3:]))); err != nil {
				return nil, err
			}
			continue
		default:
			return nil, fmt.Errorf("server message type %d", typ[0])
		}
		h, err := c.read(3)
		if err != nil {
			return nil, err
		}
		for n := binary.BigEndian.Uint16(h[1:]); n > 0; n-- {
			r, err := c.read(12)
			if err != nil {
				return nil, err
			}
			x, y := int(binary.BigEndian.Uint16(r[0:])), int(binary.BigEndian.Uint16(r[2:]))
			w, hh := int(binary.BigEndian.Uint16(r[4:])), int(binary.BigEndian.Uint16(r[6:]))
			if enc := int32(binary.BigEndian.Uint32(r[8:])); enc != 0 {
				return nil, fmt.Errorf("rectangle encoding %d, asked for Raw", enc)
			}
			if x+w > c.w || y+hh > c.h {
				return nil, fmt.Errorf("rectangle %dx%d+%d+%d outside the screen", w, hh, x, y)
			}
			pix, err := c.read(w * hh * 4)
			if err != nil {
				return nil, err
			}
			for row := 0; row < hh; row++ {
				for col := 0; col < w; col++ {
					f.px[(y+row)*c.w+x+col] = binary.LittleEndian.Uint32(pix[(row*w+col)*4:]) & 0xffffff
				}
			}
		}
		return f, nil
	}
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestWebVNCImage_servesNoVNC_beside_itsStream(t *testing.T) {
	requireBuildTools(t)
	first := buildTwice(t, "webvnc")

	img := loadImage(t, first)
	root := unpack(t, img)
	// The light image's app, shared, not copied.
	light, err := files.ReadFile("files/light/usr/local/bin/streamspace-app")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(root, "usr/local/bin/streamspace-app")); err != nil || string(got) != string(light) {
		t.Errorf("streamspace-app is not the light image's: %v", err)
	}
	s := startSession(t, img, root)
	web := "http" + strings.TrimPrefix(s.url, "ws")

	t.Run("serves the noVNC page and every module it loads", func(t *testing.T) {
		// The folder's index opens vnc.html with the WebSocket path
		// next to the page.
		if body, _ := get(t, web, "text/html"); !strings.Contains(body, "'vnc.html?autoconnect=true&reconnect=true&resize=remote&path='") {
			t.Errorf("GET / is not the page that opens vnc.html:\n%s", body)
		}
		page, _ := get(t, web+"vnc.html", "text/html")
		if !strings.Contains(page, "<title>noVNC</title>") || !strings.Contains(page, `<script type="module" crossorigin="anonymous" src="app/ui.js">`) {
			t.Fatalf("GET /vnc.html is not noVNC's page:\n%.400s", page)
		}
		// A browser refuses a module script served as anything but
		// JavaScript, and one missing module stops the whole client:
		// follow the imports from ui.js as the browser would.
		importRE := regexp.MustCompile(`(?m)^\s*(?:import|export)\b[^'";]*?['"]([^'"]+\.js)['"]`)
		seen := map[string]bool{}
		queue := []string{"app/ui.js", "app/error-handler.js"}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			if seen[p] {
				continue
			}
			seen[p] = true
			src, _ := get(t, web+p, "javascript")
			for _, m := range importRE.FindAllStringSubmatch(src, -1) {
				queue = append(queue, path.Join(path.Dir(p), m[1]))
			}
		}
		if !seen["core/rfb.js"] || !seen["core/websock.js"] || len(seen) < 30 {
			t.Errorf("%d modules reached from app/ui.js, want noVNC's whole client (core/rfb.js, core/websock.js…)", len(seen))
		}
		t.Logf("%d modules, all served as JavaScript", len(seen))
	})

	t.Run("serves nothing outside the client's folder", func(t *testing.T) {
		for _, p := range []string{"/../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2f..%2fetc%2fpasswd", "//etc/passwd", "/utils/novnc_proxy"} {
			code, body := rawGet(t, strings.Trim(strings.TrimPrefix(web, "http://"), "/"), p)
			if code != 404 || strings.Contains(body, "root:x:0:0") {
				t.Errorf("GET %s: %d, want 404\n%.200s", p, code, body)
			}
		}
		// Nor can the session's own user change what it serves.
		for _, p := range []string{"usr/share/novnc", "usr/share/novnc/index.html", "usr/share/novnc/app/ui.js"} {
			fi, err := os.Stat(filepath.Join(root, p))
			if err != nil {
				t.Fatal(err)
			}
			if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 {
				t.Errorf("%s: owner %d, mode %v: writable by the session's user", p, st.Uid, fi.Mode())
			}
		}
	})

	t.Run("streams the xterm on the page's WebSocket", func(t *testing.T) {
		// index.html asks noVNC for <its folder>websockify: /websockify
		// here, /api/v1/sessions/{id}/web/websockify behind the portal.
		s.url += "websockify"
		fb := s.waitFrame(t, 20*time.Second, "more than one colour (xterm drew)", func(f *frame) bool { return f.colours() > 1 })
		t.Logf("first frame %dx%d, %d colours, %s after start", fb.w, fb.h, fb.colours(), time.Since(s.started).Round(time.Millisecond))
		if n := len(s.procs("xterm")); n != 1 {
			t.Errorf("%d xterm processes", n)
		}
	})

	t.Run("in Chromium, noVNC connects behind a path prefix as the portal's /web/", func(t *testing.T) {
		chromium := cmp.Or(os.Getenv("CHROMIUM"), "/usr/bin/chromium")
		if _, err := os.Stat(chromium); err != nil {
			t.Skipf("skipped: no Chromium at %s (apt-get install chromium, or set CHROMIUM)", chromium)
		}
		// The portal's /api/v1/sessions/{id}/web/ in miniature: the
		// prefix cut off, the WebSocket passed through.
		const prefix = "/api/v1/sessions/test/web"
		upstream, err := url.Parse(web)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var sockets []string
		proxy := &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(upstream)
				r.Out.URL.Path, r.Out.URL.RawPath = strings.TrimPrefix(r.In.URL.Path, prefix), ""
			},
			ModifyResponse: func(res *http.Response) error {
				if res.StatusCode == http.StatusSwitchingProtocols {
					mu.Lock()
					sockets = append(sockets, res.Request.URL.Path)
					mu.Unlock()
				}
				return nil
			},
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.URL.Path, prefix+"/") {
				http.NotFound(w, r) // what the page asks outside its prefix reaches nothing
				return
			}
			proxy.ServeHTTP(w, r)
		}))
		defer srv.Close()

		// What the page shows: noVNC's status line, and how many colours
		// its canvas holds (the xterm drew, through the browser).
		const probe = `(() => {
			const c = document.querySelector('#noVNC_container canvas');
			const seen = new Set();
			if (c && c.width) {
				const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
				for (let i = 0; i < d.length; i += 4) seen.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]);
			}
			return document.getElementById('noVNC_status').textContent + ' | ' + seen.size + ' colours';
		})()`
		got := evalInChromium(t, chromium, srv.URL+prefix+"/", probe, 90*time.Second, func(v string) bool {
			status, colours, _ := strings.Cut(v, " | ")
			return status == "Connected (unencrypted) to StreamSpace" && colours != "0 colours" && colours != "1 colours"
		})
		t.Logf("in Chromium: %s", got)
		mu.Lock()
		defer mu.Unlock()
		if len(sockets) == 0 || sockets[0] != "/websockify" {
			t.Errorf("WebSockets opened through the prefix: %q, want /websockify (the page's own folder)", sockets)
		}
	})

	s.terminate(t, 0)
}

// evalInChromium opens pageURL in headless Chromium and evaluates expr in
// the page (Chrome DevTools Protocol, Runtime.evaluate) every 250 ms until
// ok accepts the value, which it returns; it fails the test after timeout.
func evalInChromium(t *testing.T, chromium, pageURL, expr string, timeout time.Duration, ok func(string) bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	port := freeport.For(t)
	var stderr syncbuf.Buffer
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+t.TempDir(), fmt.Sprintf("--remote-debugging-port=%d", port), pageURL)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var debugger string
	for debugger == "" {
		if res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/json/list", port)); err == nil {
			var targets []struct {
				Type     string `json:"type"`
				Debugger string `json:"webSocketDebuggerUrl"`
			}
			_ = json.NewDecoder(res.Body).Decode(&targets)
			res.Body.Close()
			for _, tg := range targets {
				if tg.Type == "page" {
					debugger = tg.Debugger
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Chromium's DevTools did not answer:\n%s", stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	ws, _, err := websocket.Dial(ctx, debugger, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	last := ""
	for id := 1; ; id++ {
		if err := wsjson.Write(ctx, ws, map[string]any{"id": id, "method": "Runtime.evaluate",
			"params": map[string]any{"expression": expr, "returnByValue": true}}); err != nil {
			t.Fatalf("evaluate in Chromium (last value %q): %v", last, err)
		}
		for { // events until our answer
			var msg struct {
				ID     int `json:"id"`
				Result struct {
					Result struct {
						Value any `json:"value"`
					} `json:"result"`
				} `json:"result"`
			}
			if err := wsjson.Read(ctx, ws, &msg); err != nil {
				t.Fatalf("evaluate in Chromium (last value %q): %v", last, err)
			}
			if msg.ID == id {
				last = fmt.Sprint(msg.Result.Result.Value)
				break
			}
		}
		if ok(last) {
			return last
		}
		select {
		case <-ctx.Done():
			t.Fatalf("after %s the page still says %q", timeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// get fetches url and expects a 200 whose Content-Type contains ctype.
func get(t *testing.T, url, ctype string) (string, http.Header) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Type"), ctype) {
		t.Errorf("GET %s: %s, Content-Type %q, want 200 and %s", url, res.Status, res.Header.Get("Content-Type"), ctype)
	}
	return string(body), res.Header
}

// rawGet sends path as it is written: Go's client would clean it.
func rawGet(t *testing.T, host, path string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}
