// Package measure is what the benchmarks share: percentiles, a process's
// memory and CPU from /proc, and CPU/block/mutex profiles pulled from a
// process's net/http/pprof while a phase runs.
package measure

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Percentile returns the p-th percentile (0–100) of ds, sorting ds.
func Percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := len(ds) * p / 100
	if i >= len(ds) {
		i = len(ds) - 1
	}
	return ds[i]
}

// Proc is a snapshot of a process's memory and CPU.
type Proc struct {
	RSS, PeakRSS string        // VmRSS, VmHWM as /proc says them ("85432 kB")
	CPU          time.Duration // user + system
}

// ReadProc reads /proc/<pid>/status and /proc/<pid>/stat.
func ReadProc(pid int) (Proc, error) {
	var p Proc
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "VmRSS":
			p.RSS = mib(v)
		case "VmHWM":
			p.PeakRSS = mib(v)
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, err
	}
	// Fields after the command name (which may hold spaces) in ")".
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(f) < 13 {
		return p, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	p.CPU = time.Duration(utime+stime) * time.Second / ticks
	return p, nil
}

func mib(kb string) string {
	n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")), 10, 64)
	if err != nil {
		return strings.TrimSpace(kb)
	}
	return fmt.Sprintf("%d MiB", n/1024)
}

// Profiler pulls profiles from a net/http/pprof base URL
// (http://127.0.0.1:port/debug/pprof) into Dir.
type Profiler struct {
	URL, Dir string
	cpu      []string
	stop     context.CancelFunc
	done     chan struct{}
}

// StartCPU profiles in back-to-back slices of one second until StopCPU, so
// a phase of unknown length is covered whole (pprof merges the slices).
func (p *Profiler) StartCPU() {
	ctx, cancel := context.WithCancel(context.Background())
	p.stop, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		for i := 0; ctx.Err() == nil; i++ {
			f := filepath.Join(p.Dir, fmt.Sprintf("cpu-%03d.pb.gz", i))
			if err := p.fetch(context.Background(), "profile?seconds=1", f); err == nil {
				p.cpu = append(p.cpu, f)
			}
		}
	}()
}

// StopCPU waits for the running slice and returns the profile files.
func (p *Profiler) StopCPU() []string {
	if p.stop == nil {
		return nil
	}
	p.stop()
	<-p.done
	return p.cpu
}

// Snapshot saves a cumulative profile (block, mutex, heap) as Dir/name.pb.gz.
func (p *Profiler) Snapshot(name string) (string, error) {
	f := filepath.Join(p.Dir, name+".pb.gz")
	return f, p.fetch(context.Background(), name, f)
}

func (p *Profiler) fetch(ctx context.Context, path, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/"+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Top prints `go tool pprof -top` of the files (merged), n entries, sorted
// by cumulative time when cum is true.
func Top(w io.Writer, title string, n int, cum bool, files ...string) {
	if len(files) == 0 {
		return
	}
	args := []string{"tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", n)}
	if cum {
		args = append(args, "-cum")
	}
	out, err := exec.Command("go", append(args, files...)...).CombinedOutput()
	fmt.Fprintf(w, "\n--- %s (%s) ---\n", title, strings.Join(files[:1], " ")+map[bool]string{true: fmt.Sprintf(" +%d more", len(files)-1), false: ""}[len(files) > 1])
	if err != nil {
		fmt.Fprintf(w, "pprof: %v\n", err)
	}
	w.Write(out)
}

// Metrics fetches a Prometheus text endpoint and returns the samples whose
// name starts with one of prefixes, one per line, as the endpoint says them.
func Metrics(url string, prefixes ...string) ([]string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				out = append(out, line)
				break
			}
		}
	}
	return out, nil
}

// Parallel runs f(0..n-1) on workers goroutines and returns the first error.
func Parallel(n, workers int, f func(int) error) error {
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case err = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}
