package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/streamspace/streamspace/test/freeport"
)

// nginxConf is nginx as the usual WebSocket reverse proxy (the recipe in
// nginx's own documentation, defaults otherwise), everything it writes
// kept in a temporary prefix. One process, no master: it serves a single
// connection at a time here, which one worker does anyway, and a lone
// process is what we started and what we stop — nothing is left behind.
const nginxConf = `daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[1]s/client_body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen 127.0.0.1:%[2]d;
		location / {
			proxy_pass http://%[3]s;
			proxy_http_version 1.1;
			proxy_set_header Upgrade $http_upgrade;
			proxy_set_header Connection "upgrade";
			proxy_read_timeout 1h;
		}
	}
}
`

type nginx struct {
	URL    string
	cmd    *exec.Cmd
	dir    string
	exited chan struct{} // closed once the process is reaped
}

// startNginx runs nginx on a free loopback port in front of upstream (a
// ws:// URL).
func startNginx(upstream string) (*nginx, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		// /usr/sbin is not on every user's PATH
		if _, statErr := os.Stat("/usr/sbin/nginx"); statErr != nil {
			return nil, fmt.Errorf("nginx is not installed: `make bench-portal` installs it")
		}
		bin = "/usr/sbin/nginx"
	}
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	port, err := freeport.Loopback()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bench-nginx-")
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, port, u.Host), 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	// -e: the error log before the configuration is read, else nginx opens
	// its compiled-in /var/log/nginx/error.log first
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	n := &nginx{URL: fmt.Sprintf("ws://127.0.0.1:%d%s", port, u.Path), cmd: cmd, dir: dir, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(n.exited) }()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond); err == nil {
			_ = c.Close()
			return n, nil
		}
		select {
		case <-n.exited:
			msg, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("nginx exited (%v): %s", cmd.ProcessState, msg)
		case <-time.After(50 * time.Millisecond):
		}
	}
	n.Stop()
	return nil, fmt.Errorf("nginx does not listen on 127.0.0.1:%d after 10s", port)
}

// CPU is the CPU time nginx has used: its one thread's time on a CPU, from
// the scheduler's statistics (nanoseconds, where /proc/PID/stat counts
// clock ticks).
func (n *nginx) CPU() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", n.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	var ns int64
	_, _ = fmt.Sscan(string(b), &ns)
	return time.Duration(ns)
}

// Stop ends nginx: SIGQUIT, its graceful stop, then SIGKILL if it lingers.
func (n *nginx) Stop() {
	_ = n.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-n.exited:
	case <-time.After(5 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
	_ = os.RemoveAll(n.dir)
}
