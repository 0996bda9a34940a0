// Command gitsync benchmarks the Git sync: it generates a catalog of N
// templates in a Git repository, syncs it into a real API server with the
// agent's GitSync and drift controllers, and prints the full sync time, the
// no-op resync time (unchanged revision: no fetch), a one-template change,
// and the time from a kubectl-style edit to the drift being reported.
//
// Its baseline, in the same run against the same API server and before the
// controllers start: a bare server-side apply (one Patch with client.Apply
// per object, forced, under a field manager of the same shape, -parallel
// workers) of the same built objects into a namespace of their own. The
// ratio full sync / bare is what issue 14 targets (≤ 1.5×).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/streamspace/streamspace/agent/gitsync"
	"github.com/streamspace/streamspace/agent/manager"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/bench/measure"
	"github.com/streamspace/streamspace/test/testenv"
)

const ns, bareNS = "bench", "bare"

func main() {
	n := flag.Int("templates", 1000, "Templates in the generated catalog.")
	workers := flag.Int("parallel", 16, "The bare server-side apply's workers.")
	cpuprofile := flag.String("cpuprofile", "", "Write a CPU profile of the GitSync phases (full sync to drift) to this file.")
	flag.Parse()
	if *n < 1 || *workers < 1 {
		fmt.Fprintln(os.Stderr, "bench: -templates and -parallel must be at least 1")
		os.Exit(2)
	}
	if err := run(*n, *workers, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(n, workers int, cpuprofile string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	repo, err := os.MkdirTemp("", "bench-repo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(repo)
	loadStart := loadavg()
	fmt.Printf("Generating a catalog of %d templates … ", n)
	if err := generate(repo, n); err != nil {
		return err
	}
	fmt.Println("ok")

	env, err := testenv.Start(false)
	if err != nil {
		return err
	}
	mgrDone := make(chan struct{})
	defer func() {
		cancel() // stop the controllers before the API server they talk to
		<-mgrDone
		_ = env.Stop()
	}()
	c := env.Client
	for _, name := range []string{ns, bareNS} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			return err
		}
	}
	fmt.Printf("bare server-side apply (%d workers) … ", workers)
	bare, err := bareApply(ctx, c, repo, workers)
	if err != nil {
		return fmt.Errorf("bare apply: %w", err)
	}
	fmt.Println(bare.Round(time.Millisecond))

	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: manager.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		return err
	}
	metrics, err := gitsync.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		return err
	}
	desired := gitsync.NewDesiredStore()
	if err := (&gitsync.GitSyncReconciler{Client: mgr.GetClient(), Metrics: metrics, Desired: desired}).SetupWithManager(mgr); err != nil {
		return err
	}
	if err := (&gitsync.DriftReconciler{Client: mgr.GetClient(), Metrics: metrics, Desired: desired}).SetupWithManager(mgr); err != nil {
		return err
	}
	go func() { _ = mgr.Start(ctx); close(mgrDone) }()

	gs := &streamv1.GitSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "catalog"},
		Spec:       streamv1.GitSyncSpec{URL: repo, Path: "catalog", Prune: true, Interval: metav1.Duration{Duration: time.Hour}},
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	if err := c.Create(ctx, gs); err != nil {
		return err
	}
	head := "main@sha1:" + git(repo, "rev-parse", "HEAD")
	if err := wait(ctx, c, gs, func(g *streamv1.GitSync) bool { return g.Status.LastAppliedRevision == head }); err != nil {
		return err
	}
	full := time.Since(start)

	start = time.Now()
	if err := requestSync(ctx, c, gs); err != nil {
		return err
	}
	noop := time.Since(start)

	if err := os.WriteFile(filepath.Join(repo, "app-0007.yaml"), []byte(template(7, "App 7, renamed")), 0o644); err != nil {
		return err
	}
	git(repo, "commit", "-qam", "rename one")
	head = "main@sha1:" + git(repo, "rev-parse", "HEAD")
	start = time.Now()
	if err := requestSync(ctx, c, gs); err != nil {
		return err
	}
	if err := wait(ctx, c, gs, func(g *streamv1.GitSync) bool { return g.Status.LastAppliedRevision == head }); err != nil {
		return err
	}
	oneChange := time.Since(start)

	tpl := &streamv1.Template{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-0500"}}
	start = time.Now()
	if err := c.Patch(ctx, tpl, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"displayName":"edited"}}`)), client.FieldOwner("kubectl-edit")); err != nil {
		return err
	}
	if err := wait(ctx, c, gs, func(g *streamv1.GitSync) bool { return len(g.Status.Drift) > 0 }); err != nil {
		return err
	}
	drift := time.Since(start)

	fmt.Printf("\nload average (1, 5, 15 min):       %s (at the start: %s)\n", loadavg(), loadStart)
	fmt.Printf("templates:                         %d\n", n)
	fmt.Printf("bare server-side apply, %2d workers: %v\n", workers, bare.Round(time.Millisecond))
	fmt.Printf("full sync (fetch, build, apply):   %v\n", full.Round(time.Millisecond))
	fmt.Printf("ratio full sync / bare:            %.2f×   (target ≤ 1.5×)\n", full.Seconds()/bare.Seconds())
	fmt.Printf("no-op resync (revision unchanged): %v\n", noop.Round(time.Millisecond))
	fmt.Printf("resync with one template changed:  %v\n", oneChange.Round(time.Millisecond))
	fmt.Printf("kubectl edit → drift reported:     %v\n", drift.Round(time.Millisecond))
	fmt.Printf("ratio full / no-op:                %.0fx\n", full.Seconds()/noop.Seconds())
	return nil
}

// bareApply builds the same overlay the GitSync will, puts the objects in
// bareNS with two labels of the owner labels' shape (not the owner labels
// themselves: the drift controller would take them for a GitSync's), and
// server-side applies each once, forced, with workers in parallel. The build
// is not timed: the baseline is the API server's apply.
func bareApply(ctx context.Context, c client.Client, repo string, workers int) (time.Duration, error) {
	objs, err := gitsync.Build(repo, "catalog")
	if err != nil {
		return 0, err
	}
	for _, o := range objs {
		o.SetNamespace(bareNS)
		labels := o.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels["bench.stream.space/name"], labels["bench.stream.space/namespace"] = "catalog", bareNS
		o.SetLabels(labels)
	}
	start := time.Now()
	err = measure.Parallel(len(objs), workers, func(i int) error {
		return c.Patch(ctx, objs[i], client.Apply, client.ForceOwnership, client.FieldOwner(gitsync.FieldManager+"-bare"))
	})
	return time.Since(start), err
}

func requestSync(ctx context.Context, c client.Client, gs *streamv1.GitSync) error {
	token := time.Now().Format(time.RFC3339Nano)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, streamv1.ReconcileRequestAnnotation, token)
	if err := c.Patch(ctx, gs, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		return err
	}
	return wait(ctx, c, gs, func(g *streamv1.GitSync) bool { return g.Status.LastHandledReconcileAt == token })
}

func wait(ctx context.Context, c client.Client, gs *streamv1.GitSync, done func(*streamv1.GitSync) bool) error {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		got := &streamv1.GitSync{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(gs), got); err == nil && done(got) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("timed out waiting for %s", gs.Name)
}

func template(i int, name string) string {
	return fmt.Sprintf(`apiVersion: stream.space/v1alpha1
kind: Template
metadata:
  name: app-%04d
spec:
  displayName: %q
  category: Utilities
  baseImage: lscr.io/linuxserver/app-%04d:1.0.%d
  defaultResources: {memory: 1Gi, cpu: 500m}
  ports: [{name: http, containerPort: 3000}]
  stream: {protocol: Selkies, port: 3000}
  volumeMounts: [{name: user-home, mountPath: /config}]
  tags: [generated, bench]
`, i, name, i, i)
}

func generate(dir string, n int) error {
	var k strings.Builder
	k.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("app-%04d.yaml", i)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(template(i, fmt.Sprintf("App %d", i))), 0o644); err != nil {
			return err
		}
		k.WriteString("  - " + name + "\n")
	}
	if err := os.MkdirAll(filepath.Join(dir, "catalog"), 0o755); err != nil {
		return err
	}
	// The overlay lives in catalog/ and reaches the files at the root.
	if err := os.WriteFile(filepath.Join(dir, "catalog", "kustomization.yaml"), []byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: "+ns+"\nresources: [../base]\n"), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "base"), 0o755); err != nil {
		return err
	}
	var kb strings.Builder
	kb.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
	for i := 0; i < n; i++ {
		kb.WriteString(fmt.Sprintf("  - ../app-%04d.yaml\n", i))
	}
	if err := os.WriteFile(filepath.Join(dir, "base", "kustomization.yaml"), []byte(kb.String()), 0o644); err != nil {
		return err
	}
	git(dir, "init", "-q", "--initial-branch=main")
	git(dir, "add", "-A")
	git(dir, "-c", "user.name=Bench", "-c", "user.email=bench@example.com", "commit", "-qm", "generated catalog")
	return nil
}

func git(dir string, args ...string) string {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@example.com", "GIT_COMMITTER_NAME=Bench", "GIT_COMMITTER_EMAIL=bench@example.com")
	out, err := cmd.Output()
	if err != nil {
		panic(fmt.Sprintf("git %v: %v", args, err))
	}
	return strings.TrimSpace(string(out))
}

// loadavg is the machine's load average: on a shared machine it says how
// far the absolute figures can be trusted (the ratio less so).
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}
