package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Every component runs as a child process in its own session (setsid), so
// it outlives the command that started it; `down` finds it again by the PID
// in Dir/pids/<name>.pid. A PID counts as ours only while the process behind
// it runs the expected program with Dir in its arguments, so a recycled PID
// is never signalled.

func (c *Cluster) pidFile(name string) string { return filepath.Join(c.Dir, "pids", name+".pid") }
func (c *Cluster) logFile(name string) string { return filepath.Join(c.Dir, "logs", name+".log") }

// start runs bin with args, logs appended to Dir/logs/<name>.log, and
// records the PID.
func (c *Cluster) start(name, bin string, args []string, env []string) (int, error) {
	for _, d := range []string{"logs", "pids"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, d), 0o755); err != nil {
			return 0, err
		}
	}
	logf, err := os.OpenFile(c.logFile(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n=== %s starting %s %s\n", time.Now().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Dir = c.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	pid := cmd.Process.Pid
	// Reap it if it ends while this process still runs (tests, a long `up`);
	// once this process exits, init adopts it.
	go func() { _ = cmd.Wait() }()
	if err := writeFile(c.pidFile(name), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return pid, err
	}
	return pid, nil
}

// pid is the recorded PID of name if that process is alive and ours, else 0.
func (c *Cluster) pid(name string) int {
	data, err := os.ReadFile(c.pidFile(name))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0
	}
	if !c.owned(pid, binaryOf(name)) {
		return 0
	}
	return pid
}

// binaryOf maps a component to the program it runs.
func binaryOf(name string) string { return name }

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the ")" that closes the command name.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	state := stat[i+2]
	return state != 'Z' && state != 'X'
}

func cmdline(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(data) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
}

// owned: pid is alive, runs program prog (by base name) and mentions Dir in
// its arguments.
func (c *Cluster) owned(pid int, prog string) bool {
	if !alive(pid) {
		return false
	}
	args := cmdline(pid)
	if len(args) == 0 || filepath.Base(args[0]) != prog {
		return false
	}
	return strings.Contains(strings.Join(args[1:], " "), c.Dir)
}

// stop ends a process group: SIGTERM, wait up to grace, then SIGKILL.
func stopPID(ctx context.Context, pid int, grace time.Duration) {
	if pid <= 0 || !alive(pid) {
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if waitGone(ctx, []int{pid}, grace) {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	waitGone(ctx, []int{pid}, 5*time.Second)
}

// waitGone waits until none of pids is alive; false on timeout.
func waitGone(ctx context.Context, pids []int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		any := false
		for _, p := range pids {
			if alive(p) {
				any = true
				break
			}
		}
		if !any {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// procInfo is what /proc tells about one process.
type procInfo struct {
	pid, sid int
	args     []string
	cgroups  string
}

func processes() []procInfo {
	entries, _ := os.ReadDir("/proc")
	var out []procInfo
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || !alive(pid) {
			continue
		}
		p := procInfo{pid: pid, args: cmdline(pid)}
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i > 0 {
				// state ppid pgrp session ...
				f := strings.Fields(string(stat[i+1:]))
				if len(f) > 3 {
					p.sid, _ = strconv.Atoi(f[3])
				}
			}
		}
		if cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid)); err == nil {
			p.cgroups = string(cg)
		}
		out = append(out, p)
	}
	return out
}

// ourPrograms are the programs a cluster runs; a leftover process counts as
// ours only if it runs one of them and names Dir, or sits in a session we
// started, or in the cluster's cgroups.
var ourPrograms = map[string]bool{
	"etcd": true, "kube-apiserver": true, "kube-controller-manager": true, "kube-scheduler": true,
	"kubelet": true, "kwok": true, "containerd": true, "containerd-shim-runc-v2": true, "runc": true,
}

// leftovers lists the processes this cluster left: its programs naming
// Dir, members of the sessions it started (sessions holds their leaders'
// PIDs) and processes inside the pods' cgroups.
func (c *Cluster) leftovers(sessions map[int]bool) []procInfo {
	var out []procInfo
	cgMark := ":/" + c.Name + "/"
	for _, p := range processes() {
		switch {
		case len(p.args) > 0 && ourPrograms[filepath.Base(p.args[0])] && strings.Contains(strings.Join(p.args, " "), c.Dir):
		case sessions[p.sid]:
		case strings.Contains(p.cgroups, cgMark):
		default:
			continue
		}
		out = append(out, p)
	}
	return out
}

func killAll(ctx context.Context, procs []procInfo) error {
	if len(procs) == 0 {
		return nil
	}
	var pids []int
	for _, p := range procs {
		_ = syscall.Kill(p.pid, syscall.SIGTERM)
		pids = append(pids, p.pid)
	}
	if waitGone(ctx, pids, 5*time.Second) {
		return nil
	}
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	if !waitGone(ctx, pids, 5*time.Second) {
		return errors.New("processes still alive after SIGKILL")
	}
	return nil
}

// lastLines is the end of a log, for error messages.
func lastLines(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
