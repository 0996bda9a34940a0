package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/bench/measure"
	"github.com/streamspace/streamspace/test/vnctest"
)

// TestBench_launchAndWake is `make bench-e2e`: launches and wakes of the
// light terminal on the real node, each timed from the request to the
// first frame through the portal, with the phases the agent records
// (scheduled, image ready, stream ready). It prints figures and asserts
// none: skipped unless STREAMSPACE_BENCH_E2E is set (to the number of
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rounds)*3*time.Minute)
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
	type phases struct{ scheduled, image, stream []time.Duration }
	record := func(p *phases, s *streamv1.Session) {
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
		}
	}
	var launches, wakes []time.Duration
	var launchPhases, wakePhases phases
	for i := range rounds {
		began := time.Now()
		code, body := api.do(http.MethodPost, "/api/v1/sessions", map[string]any{"template": "terminal-local"})
		if code != http.StatusCreated {
			t.Fatalf("launch %d: %d %v", i, code, body)
		}
		name := body["name"].(string)
		firstFrame(name, 2*launchTarget)
		launches = append(launches, time.Since(began))
		record(&launchPhases, get(name))

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
		wakes = append(wakes, time.Since(began))
		record(&wakePhases, get(name))

		// one session at a time: the next launch is a launch, not a
		// second session competing with this one
		if code, body := api.do(http.MethodDelete, "/api/v1/sessions/"+name, nil); code >= 300 {
			t.Fatalf("delete %s: %d %v", name, code, body)
		}
		waitFor(t, 2*time.Minute, name+" gone", func() (bool, string) {
			return podsOf(t, k, name) == 0, "pods remain"
		})
	}

	row := func(what string, ds []time.Duration, target time.Duration) {
		ds = append([]time.Duration(nil), ds...)
		fmt.Printf("  %-32s p50 %8v  p95 %8v  max %8v", what, measure.Percentile(ds, 50).Round(time.Millisecond),
			measure.Percentile(ds, 95).Round(time.Millisecond), measure.Percentile(ds, 100).Round(time.Millisecond))
		if target > 0 {
			fmt.Printf("  [target p50 ≤ %v]", target)
		}
		fmt.Println()
	}
	fmt.Printf("\nbench-e2e: %d launches and %d wakes of terminal-local on the real node (request → first frame through the portal)\n", rounds, rounds)
	fmt.Printf("  first launch after the image import: %v\n", launches[0].Round(time.Millisecond))
	row("launch → first frame", launches, 3*time.Second)
	row("  scheduled", launchPhases.scheduled, 0)
	row("  image ready", launchPhases.image, 0)
	row("  stream ready", launchPhases.stream, 0)
	row("wake → first frame", wakes, 0)
	row("  scheduled", wakePhases.scheduled, 0)
	row("  image ready", wakePhases.image, 0)
	row("  stream ready", wakePhases.stream, 0)
}
