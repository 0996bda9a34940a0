// Package vnctest runs a real VNC server behind websockify on loopback
// (Debian's tigervnc-standalone-server and websockify), as a session's
// stream would be served.
package vnctest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/streamspace/streamspace/test/freeport"
)

// Server is Xvnc plus websockify.
type Server struct {
	// URL is the WebSocket URL of the stream.
	URL string
	// Display is Xvnc's X display (":<n>"), for X clients in a test (e.g.
	// one that owns the clipboard).
	Display string
	procs   []*exec.Cmd
}

// Options change what Start starts.
type Options struct {
	// WebDir: websockify also serves these files over HTTP on the same
	// port, as a template's own web client is served beside its stream.
	WebDir string
	// Geometry is the framebuffer size, "WxH"; 640x480 when empty. A
	// benchmark wants a full-size desktop (1920x1080) to move real volumes.
	Geometry string
	// Xauthority, when set, makes Xvnc admit only X clients that present
	// the MIT-MAGIC-COOKIE-1 of this file (Xvnc's -auth).
	Xauthority string
}

// Start starts Xvnc on a free display and websockify in front of it.
func Start() (*Server, error) { return StartWith(Options{}) }

// StartWeb is Start with websockify also serving the files of webDir.
func StartWeb(webDir string) (*Server, error) { return StartWith(Options{WebDir: webDir}) }

// StartWith is Start with options.
func StartWith(o Options) (*Server, error) {
	webDir, geometry := o.WebDir, o.Geometry
	if geometry == "" {
		geometry = "640x480"
	}
	for _, bin := range []string{"Xvnc", "websockify"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%s is not installed: run `make system-deps` (tigervnc-standalone-server, websockify)", bin)
		}
	}
	display := 0
	for i := 0; i < 50; i++ {
		d := 50 + rand.IntN(400)
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", d)); os.IsNotExist(err) {
			display = d
			break
		}
	}
	if display == 0 {
		return nil, fmt.Errorf("no free X display")
	}
	rfb, err := freeport.Loopback()
	if err != nil {
		return nil, err
	}
	ws, err := freeport.Loopback()
	if err != nil {
		return nil, err
	}
	s := &Server{URL: fmt.Sprintf("ws://127.0.0.1:%d/", ws), Display: fmt.Sprintf(":%d", display)}
	xvnc := exec.Command("Xvnc", fmt.Sprintf(":%d", display), "-geometry", geometry, "-depth", "24", "-SecurityTypes", "None",
		"-interface", "127.0.0.1", "-rfbport", fmt.Sprint(rfb), "-AlwaysShared", "-nolisten", "tcp")
	if o.Xauthority != "" {
		xvnc.Args = append(xvnc.Args, "-auth", o.Xauthority)
	}
	if err := xvnc.Start(); err != nil {
		return nil, fmt.Errorf("start Xvnc: %w", err)
	}
	s.procs = append(s.procs, xvnc)
	args := []string{fmt.Sprintf("127.0.0.1:%d", ws), fmt.Sprintf("127.0.0.1:%d", rfb)}
	if webDir != "" {
		args = append([]string{"--web", webDir}, args...)
	}
	proxy := exec.Command("websockify", args...)
	if err := proxy.Start(); err != nil {
		s.Stop()
		return nil, fmt.Errorf("start websockify: %w", err)
	}
	s.procs = append(s.procs, proxy)
	for _, port := range []int{rfb, ws} {
		if err := waitListening(port, 10*time.Second); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// Stop ends both processes.
func (s *Server) Stop() {
	for _, p := range s.procs {
		// SIGTERM lets Xvnc remove its /tmp/.X<n>-lock; killed, it leaves
		// the lock and the display number is lost to later runs
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
}

func waitListening(port int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond); err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on 127.0.0.1:%d after %v", port, d)
}

// StartT starts a server for a test with o, stopped when the test ends;
// the test is skipped (saying why) where Xvnc or websockify is missing.
func StartT(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := StartWith(o)
	if err != nil {
		t.Skipf("no real VNC server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}
