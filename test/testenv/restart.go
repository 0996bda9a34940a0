package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
)

// KillAPIServer kills the running kube-apiserver with SIGKILL (no graceful
// shutdown: in-flight requests and watches are cut) and waits until it has
// exited. etcd keeps running, so nothing stored is lost.
//
// envtest's own Stop and Start cannot do this: Stop deletes the certificate
// folder it generated, so a restarted server would present a new serving
// certificate that no client made before the restart trusts.
func (e *Env) KillAPIServer() error {
	pid, argv, err := e.apiServerProcess()
	if err != nil {
		return err
	}
	e.apiServerArgv = argv
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill kube-apiserver (pid %d): %w", pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("kube-apiserver (pid %d) still running 10s after SIGKILL", pid)
}

// StartAPIServer starts kube-apiserver again after KillAPIServer, with the
// same binary, flags, certificates, port and etcd, and waits until it
// answers /readyz. Every client made before the kill works again.
func (e *Env) StartAPIServer(ctx context.Context) error {
	if e.apiServerArgv == nil {
		return fmt.Errorf("start kube-apiserver: not killed by KillAPIServer")
	}
	cmd := exec.Command(e.apiServerArgv[0], e.apiServerArgv[1:]...)
	// Dies with the test process, like the first one envtest started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start kube-apiserver: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	e.restarted = append(e.restarted, restartedProcess{cmd, exited})

	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && bytes.Equal(body, []byte("ok")) {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("restarted kube-apiserver exited: %v", cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("restarted kube-apiserver not ready: %w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop stops what StartAPIServer started, then the control plane.
func (e *Env) Stop() error {
	for _, p := range e.restarted {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	return e.Environment.Stop()
}

type restartedProcess struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// apiServerProcess finds this Env's kube-apiserver among the machine's
// processes by its certificate folder, which is unique to it, and returns
// its pid and command line.
func (e *Env) apiServerProcess() (int, []string, error) {
	certDir := e.ControlPlane.APIServer.CertDir
	if certDir == "" {
		return 0, nil, fmt.Errorf("kube-apiserver has no certificate folder: not started")
	}
	want := []byte("--cert-dir=" + certDir)
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		return 0, nil, err
	}
	for _, p := range procs {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		args := bytes.Split(bytes.TrimSuffix(raw, []byte{0}), []byte{0})
		if len(args) < 2 || filepath.Base(string(args[0])) != "kube-apiserver" || !containsArg(args, want) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		argv := make([]string, len(args))
		for i, a := range args {
			argv[i] = string(a)
		}
		return pid, argv, nil
	}
	return 0, nil, fmt.Errorf("no kube-apiserver process with %s", want)
}

func containsArg(args [][]byte, want []byte) bool {
	for _, a := range args {
		if bytes.Equal(a, want) {
			return true
		}
	}
	return false
}

// alive reports whether pid still runs (a zombie counts as gone: killed,
// waiting only for its parent to reap it).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
