package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/bench/measure"
	"github.com/streamspace/streamspace/test/vnctest"
)

// TestBench_launchAndWake is `make bench-e2e`: launches and wakes of the
// light terminal on the real node, each timed from the request to the
// first frame through the portal, with the phases the agent records
// (scheduled, image ready, stream ready), each round followed by the same
// cycle of the same template with the readiness probe the agent used
// before (the same-run baseline). It prints figures and asserts none: skipped unless STREAMSPACE_BENCH_E2E is set (to the number of
// rounds; 10 by default).
func TestBench_launchAndWake(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("STREAMSPACE_BENCH_E2E"))
	if os.Getenv("STREAMSPACE_BENCH_E2E") == "" {
		t.Skip("a benchmark: make bench-e2e runs it")
	}
	if rounds <= 0 {
		rounds = 10
	}
	e := needPlatform(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rounds)*6*time.Minute)
	defer cancel()
	k := e.Platform.Client
	api := &portalClient{t: t, base: "http://" + e.PortalAddr}
	api.login("admin", e.Password)

	// firstFrame dials through the portal until the session streams and
	// returns when its first full frame arrived (polling every 100 ms: the
	// figures carry that much granularity)
	firstFrame := func(name string, bound time.Duration) {
		t.Helper()
		var v *vnctest.Viewer
		waitFor(t, bound, "session "+name+" streams", func() (bool, string) {
			var err error
			if v, err = vnctest.Dial(ctx, "ws://"+e.PortalAddr+"/api/v1/sessions/"+name+"/connect", api.auth()); err != nil {
				return false, err.Error()
			}
			return true, ""
		})
		defer v.Close()
		if _, err := v.FullFrame(); err != nil {
			t.Fatalf("first frame of %s: %v", name, err)
		}
	}
	get := func(name string) *streamv1.Session {
		t.Helper()
		s := &streamv1.Session{}
		if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	// frame: from the pod's readiness (stream ready) to the first frame
	// through the portal, i.e. what the agent, the portal and this
	// client's 100 ms polling add
	type phases struct{ scheduled, image, stream, frame []time.Duration }
	record := func(p *phases, s *streamv1.Session, frameAt time.Time) {
		if ls := s.Status.LastStart; ls != nil {
			at := func(x *metav1.Time) time.Duration {
				if x == nil {
					return 0
				}
				return x.Sub(ls.RequestedAt.Time)
			}
			p.scheduled = append(p.scheduled, at(ls.ScheduledAt))
			p.image = append(p.image, at(ls.ImageReadyAt))
			p.stream = append(p.stream, at(ls.StreamReadyAt))
			if ls.StreamReadyAt != nil {
				p.frame = append(p.frame, frameAt.Sub(ls.StreamReadyAt.Time))
			}
		}
	}
	type results struct {
		launches, wakes          []time.Duration
		launchPhases, wakePhases phases
	}
	// cycle launches a session of template, waits for its first frame,
	// hibernates it, wakes it, waits for its first frame again and deletes
	// it: one session at a time, so the next launch is a launch, not a
	// second session competing with this one
	cycle := func(template string, r *results) {
		began := time.Now()
		code, body := api.do(http.MethodPost, "/api/v1/sessions", map[string]any{"template": template})
		if code != http.StatusCreated {
			t.Fatalf("launch %s: %d %v", template, code, body)
		}
		name := body["name"].(string)
		firstFrame(name, 2*launchTarget)
		framed := time.Now()
		r.launches = append(r.launches, framed.Sub(began))
		record(&r.launchPhases, get(name), framed)

		if code, body := api.do(http.MethodPost, "/api/v1/sessions/"+name+"/hibernate", nil); code >= 300 {
			t.Fatalf("hibernate %s: %d %v", name, code, body)
		}
		waitFor(t, 2*time.Minute, name+" hibernated, its pod gone", func() (bool, string) {
			s := get(name)
			return s.Status.Phase == streamv1.PhaseHibernated && podsOf(t, k, name) == 0, string(s.Status.Phase)
		})

		began = time.Now()
		if code, body := api.do(http.MethodPost, "/api/v1/sessions/"+name+"/wake", nil); code >= 300 {
			t.Fatalf("wake %s: %d %v", name, code, body)
		}
		firstFrame(name, 2*wakeTarget)
		framed = time.Now()
		r.wakes = append(r.wakes, framed.Sub(began))
		record(&r.wakePhases, get(name), framed)

		if code, body := api.do(http.MethodDelete, "/api/v1/sessions/"+name, nil); code >= 300 {
			t.Fatalf("delete %s: %d %v", name, code, body)
		}
		waitFor(t, 2*time.Minute, name+" gone", func() (bool, string) {
			return podsOf(t, k, name) == 0, "pods remain"
		})
	}

	// The same-run baseline: the same template with the readiness probe
	// the agent used by default before (TCP every 2 s), launched in turn
	// with the default one under the same load.
	base := &streamv1.Template{}
	if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: "terminal-local"}, base); err != nil {
		t.Fatal(err)
	}
	base = &streamv1.Template{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "terminal-local-probe2s"}, Spec: *base.Spec.DeepCopy()}
	base.Spec.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(base.Spec.Stream.Port)}},
		PeriodSeconds: 2, FailureThreshold: 3,
	}
	if err := k.Create(ctx, base); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = k.Delete(context.Background(), base) }()

	var now, before results
	for range rounds {
		cycle("terminal-local", &now) // the first: the first launch after the image import
		cycle(base.Name, &before)
	}

	first := func(ds []time.Duration) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		return ds[0].Round(time.Millisecond)
	}
	row := func(what string, ds []time.Duration, target time.Duration) {
		ds = append([]time.Duration(nil), ds...)
		fmt.Printf("  %-48s p50 %8v  p95 %8v  max %8v", what, measure.Percentile(ds, 50).Round(time.Millisecond),
			measure.Percentile(ds, 95).Round(time.Millisecond), measure.Percentile(ds, 100).Round(time.Millisecond))
		if target > 0 {
			fmt.Printf("  [target p50 ≤ %v]", target)
		}
		fmt.Println()
	}
	report := func(what string, r *results) {
		row("launch → first frame, "+what, r.launches, 3*time.Second)
		row("  scheduled", r.launchPhases.scheduled, 0)
		row("  image ready", r.launchPhases.image, 0)
		row("  stream ready", r.launchPhases.stream, 0)
		row("  stream ready → first frame", r.launchPhases.frame, 0)
		row("wake → first frame, "+what, r.wakes, 0)
		row("  scheduled", r.wakePhases.scheduled, 0)
		row("  image ready", r.wakePhases.image, 0)
		row("  stream ready", r.wakePhases.stream, 0)
		row("  stream ready → first frame", r.wakePhases.frame, 0)
	}
	fmt.Printf("\nbench-e2e: %d launches and %d wakes of terminal-local on the real node (request → first frame through the portal), each followed by one of the same template with the earlier default probe (every 2 s)\n", rounds, rounds)
	fmt.Printf("  first launch after the image import: %v (scheduled %v, image ready %v, stream ready %v)\n", now.launches[0].Round(time.Millisecond),
		first(now.launchPhases.scheduled), first(now.launchPhases.image), first(now.launchPhases.stream))
	report("probe every 1 s (default)", &now)
	report("probe every 2 s (same run)", &before)
}
