// Command controller benchmarks the session controller: it starts a real
// kube-apiserver + etcd, runs the agent binary as its own process (so its
// memory is measured alone), creates N Sessions and prints the latency from
// each create to its Deployment, Service and first status, the total time,
// and the agent's peak RSS.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/streamspace/streamspace/agent/manager"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/testenv"
)

func main() {
	agent := flag.String("agent", "bin/streamspace-agent", "Agent binary.")
	n := flag.Int("sessions", 1000, "Sessions to create.")
	perUser := flag.Int("sessions-per-user", 5, "Sessions per user (the webhook lists a user's sessions on each create).")
	parallel := flag.Int("parallel", 16, "Concurrent creates.")
	workers := flag.Int("workers", 4, "Agent --session-workers.")
	flag.Parse()
	if err := run(*agent, *n, *perUser, *parallel, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type times struct{ created, deploy, svc, status time.Time }

func (t times) done() (time.Time, bool) {
	if t.deploy.IsZero() || t.svc.IsZero() || t.status.IsZero() {
		return time.Time{}, false
	}
	last := t.deploy
	for _, x := range []time.Time{t.svc, t.status} {
		if x.After(last) {
			last = x
		}
	}
	return last, true
}

func run(agentBin string, n, perUser, parallel, workers int) error {
	ctx := context.Background()
	fmt.Printf("Starting kube-apiserver + etcd … ")
	env, err := testenv.Start(true)
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	fmt.Println("ok")

	admin, err := env.AddUser(envtest.User{Name: "bench", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "streamspace-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return err
	}

	c, err := client.NewWithWatch(env.Config, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		return err
	}
	const ns = "bench"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	mem, cpu := resource.MustParse("1Gi"), resource.MustParse("500m")
	if err := c.Create(ctx, &streamv1.Template{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "light"},
		Spec: streamv1.TemplateSpec{
			DisplayName: "Light", Category: "Utilities", BaseImage: "localhost/streamspace/light:1.0.0",
			DefaultResources: streamv1.Resources{Memory: &mem, CPU: &cpu},
			Ports:            []streamv1.TemplatePort{{Name: "vnc-ws", ContainerPort: 6080}},
			Stream:           streamv1.StreamSpec{Protocol: streamv1.StreamWebsockifyVNC, Port: 6080},
			VolumeMounts:     []streamv1.VolumeMount{{Name: streamv1.HomeVolumeName, MountPath: "/home/user"}},
		},
	}); err != nil {
		return err
	}

	wh := env.WebhookInstallOptions
	cmd := exec.Command(agentBin, "--namespace", ns, "--metrics-addr", "0", "--health-addr", "0",
		"--webhook-host", wh.LocalServingHost, "--webhook-port", fmt.Sprint(wh.LocalServingPort), "--webhook-cert-dir", wh.LocalServingCertDir,
		"--session-workers", fmt.Sprint(workers), "--zap-log-level", "error")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start agent: %w", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if err := waitForAgent(ctx, c, ns); err != nil {
		return err
	}

	var mu sync.Mutex
	rec := map[string]*times{}
	at := func(name string) *times {
		if rec[name] == nil {
			rec[name] = &times{}
		}
		return rec[name]
	}
	allDone := make(chan struct{})
	completed := 0
	mark := func(name string, set func(*times)) {
		mu.Lock()
		defer mu.Unlock()
		t := at(name)
		_, before := t.done()
		set(t)
		if _, now := t.done(); now && !before && !t.created.IsZero() {
			completed++
			if completed == n {
				close(allDone)
			}
		}
	}
	watchCtx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	for _, w := range []struct {
		list client.ObjectList
		on   func(obj any)
	}{
		{&appsv1.DeploymentList{}, func(o any) {
			name := strings.TrimPrefix(o.(*appsv1.Deployment).Name, "ss-")
			mark(name, func(t *times) { first(&t.deploy) })
		}},
		{&corev1.ServiceList{}, func(o any) {
			name := strings.TrimPrefix(o.(*corev1.Service).Name, "ss-")
			mark(name, func(t *times) { first(&t.svc) })
		}},
		{&streamv1.SessionList{}, func(o any) {
			s := o.(*streamv1.Session)
			if s.Status.Phase != "" && s.Status.LastStart != nil {
				mark(s.Name, func(t *times) { first(&t.status) })
			}
		}},
	} {
		wi, err := c.Watch(watchCtx, w.list, client.InNamespace(ns))
		if err != nil {
			return err
		}
		go func(wi watch.Interface, on func(any)) {
			for ev := range wi.ResultChan() {
				if ev.Type == watch.Added || ev.Type == watch.Modified {
					on(ev.Object)
				}
			}
		}(wi, w.on)
	}

	fmt.Printf("Creating %d sessions (%d per user, %d in parallel, agent with %d workers) …\n", n, perUser, parallel, workers)
	start := time.Now()
	sem := make(chan struct{}, parallel)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem }()
			name := fmt.Sprintf("s-%04d", i)
			s := &streamv1.Session{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec:       streamv1.SessionSpec{User: fmt.Sprintf("user-%03d", i/perUser), Template: "light"},
			}
			mark(name, func(t *times) { t.created = time.Now() })
			if err := c.Create(ctx, s); err != nil {
				errs <- err
			}
		}(i)
	}
	select {
	case <-allDone:
	case err := <-errs:
		return fmt.Errorf("create session: %w", err)
	case <-time.After(15 * time.Minute):
		return fmt.Errorf("timed out: %d of %d sessions reconciled", completed, n)
	}
	total := time.Since(start)

	var lat []time.Duration
	mu.Lock()
	for _, t := range rec {
		if d, ok := t.done(); ok {
			lat = append(lat, d.Sub(t.created))
		}
	}
	mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	rss, _ := peakRSS(cmd.Process.Pid)
	fmt.Printf("\nsessions:                        %d\n", len(lat))
	fmt.Printf("create → Deployment+Service+status  p50 %v   p99 %v   max %v\n",
		lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	fmt.Printf("total, first create → all reconciled: %v (%.0f sessions/s)\n", total.Round(time.Millisecond), float64(n)/total.Seconds())
	fmt.Printf("agent peak RSS (VmHWM):          %s\n", rss)
	return nil
}

func first(t *time.Time) {
	if t.IsZero() {
		*t = time.Now()
	}
}

// waitForAgent waits until the agent's webhook admits sessions.
func waitForAgent(ctx context.Context, c client.Client, ns string) error {
	deadline := time.Now().Add(60 * time.Second)
	probe := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"},
		Spec: streamv1.SessionSpec{User: "probe", Template: "light", State: streamv1.StateTerminated}}
	for time.Now().Before(deadline) {
		if err := c.Create(ctx, probe, client.DryRunAll); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("agent webhook not ready after 60s")
}

func peakRSS(pid int) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), nil
		}
	}
	return "", fmt.Errorf("VmHWM not in /proc/%d/status", pid)
}
