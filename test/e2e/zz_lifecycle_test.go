package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/vnctest"
)

// TestSessionLifecycle_onARealNode is the story of issue 6: up → synced →
// sign in through the portal → launch the light template → pod Running on
// the kubelet → first frame through the portal's proxy → a file written in
// the home → idle → hibernated (pod gone, volume kept) → wake → the file
// is there → terminate (volume kept) → down leaves nothing behind.
//
// It ends with down, so it runs last: go test runs a package's tests in
// the order of their files and, within a file, of their source; this file
// sorts after the others (zz_).
func TestSessionLifecycle_onARealNode(t *testing.T) {
	e := needPlatform(t)
	p, portalAddr, bins := e.Platform, e.PortalAddr, e.Bins
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	k := p.Client
	api := &portalClient{t: t, base: "http://" + portalAddr}
	api.login("admin", e.Password)

	// launch
	launched := time.Now()
	var created map[string]any
	waitFor(t, time.Minute, "the portal accepts the launch", func() (bool, string) {
		code, body := api.do(http.MethodPost, "/api/v1/sessions", map[string]any{"template": "terminal-local"})
		created = body
		return code == http.StatusCreated, fmt.Sprint(code, body)
	})
	name := created["name"].(string)
	s := &streamv1.Session{}
	waitFor(t, 2*launchTarget, "the session is Running", func() (bool, string) {
		if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			return false, err.Error()
		}
		return s.Status.Phase == streamv1.PhaseRunning, string(s.Status.Phase) + " " + conditionMessage(s)
	})
	pod := &corev1.Pod{}
	if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: s.Status.PodName}, pod); err != nil || pod.Status.Phase != corev1.PodRunning || pod.Spec.NodeName != "localhost" {
		t.Fatalf("pod %s: %v %s on %q", s.Status.PodName, err, pod.Status.Phase, pod.Spec.NodeName)
	}

	// the first frame, through the portal's authenticated proxy
	viewer, err := vnctest.Dial(ctx, "ws://"+portalAddr+"/api/v1/sessions/"+name+"/connect", api.auth())
	if err != nil {
		t.Fatalf("connect through the portal: %v", err)
	}
	frame, err := viewer.FullFrame()
	firstFrame := time.Since(launched)
	if err != nil {
		t.Fatalf("first frame: %v", err)
	}
	if frame.Colors < 2 {
		t.Errorf("the first frame is blank (%d colour): the app did not paint", frame.Colors)
	}
	ls := s.Status.LastStart
	t.Logf("launch: scheduled +%s, image ready +%s, stream ready +%s, first frame (%dx%d, %d colours) +%s [target %s]",
		since(ls.RequestedAt, ls.ScheduledAt), since(ls.RequestedAt, ls.ImageReadyAt), since(ls.RequestedAt, ls.StreamReadyAt),
		viewer.Width, viewer.Height, frame.Colors, firstFrame.Round(time.Millisecond), launchTarget)
	if firstFrame > launchTarget {
		t.Logf("MISSED: launch to first frame %s, target %s (a figure, not a test: the bound is the wait above)", firstFrame, launchTarget)
	}
	if err := viewer.Key(0x61); err != nil { // the user types: activity
		t.Fatal(err)
	}
	viewer.Close()

	// a file in the home, written inside the session
	kubectl := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, filepath.Join(bins, "kubectl"), append([]string{"--kubeconfig", p.Status.Kubeconfig, "-n", ns}, args...)...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, b)
		}
		return string(b)
	}
	kubectl("exec", s.Status.PodName, "--", "sh", "-c", `echo "written in session $HOSTNAME" > "$HOME/e2e.txt"`)

	// idle: no input for the idle timeout (the shortest a Session accepts,
	// 1m; the test moves lastActivity back rather than wait the minute).
	// The clock moves first: the controller reads it when the spec change
	// wakes it, as it would read the portal's at its own deadline.
	idleSince := time.Now().Add(-50 * time.Second).Truncate(time.Second)
	act := client.RawPatch("application/merge-patch+json", []byte(fmt.Sprintf(`{"status":{"lastActivity":%q}}`, idleSince.UTC().Format(time.RFC3339))))
	if err := k.Status().Patch(ctx, s, act, client.FieldOwner("e2e-idle-clock")); err != nil {
		t.Fatal(err)
	}
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"idleTimeout":"1m"}}`))
	if err := k.Patch(ctx, s, patch); err != nil {
		t.Fatal(err)
	}
	// the deadline the controller set: a minute after the last input, or
	// after the start if that is later (a start is activity too)
	var deadline time.Time
	waitFor(t, 30*time.Second, "the controller sets the idle deadline", func() (bool, string) {
		if err := k.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
			return false, err.Error()
		}
		if s.Status.ObservedGeneration != s.Generation || s.Status.IdleDeadline == nil {
			return false, "not yet"
		}
		deadline = s.Status.IdleDeadline.Time
		return true, ""
	})
	t.Logf("idle deadline in %s", time.Until(deadline).Round(time.Second))
	waitFor(t, 2*time.Minute, "the idle session hibernates and its pod goes", func() (bool, string) {
		if err := k.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
			return false, err.Error()
		}
		return s.Status.Phase == streamv1.PhaseHibernated && podsOf(t, k, name) == 0, string(s.Status.Phase)
	})
	hibernated := time.Since(deadline)
	t.Logf("hibernate: pod gone %s after the idle deadline [target %s]", hibernated.Round(time.Millisecond), hibernateTarget)
	if hibernated > hibernateTarget {
		t.Logf("MISSED: hibernation took %s after the deadline, target %s (a figure, not a test: the bound is the wait above)", hibernated, hibernateTarget)
	}
	home := &corev1.PersistentVolumeClaim{}
	if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: "home-admin"}, home); err != nil || home.Status.Phase != corev1.ClaimBound {
		t.Fatalf("home volume after hibernation: %v %s", err, home.Status.Phase)
	}

	// wake, through the portal, as opening the session does
	woken := time.Now()
	if code, body := api.do(http.MethodGet, "/api/v1/sessions/"+name+"/connect", nil); code != http.StatusAccepted {
		t.Fatalf("connect to a hibernated session: %d %v", code, body)
	}
	var again *vnctest.Viewer
	waitFor(t, 2*wakeTarget, "the woken session streams again", func() (bool, string) {
		v, err := vnctest.Dial(ctx, "ws://"+portalAddr+"/api/v1/sessions/"+name+"/connect", api.auth())
		if err != nil {
			return false, err.Error()
		}
		again = v
		return true, ""
	})
	if _, err := again.FullFrame(); err != nil {
		t.Fatalf("frame after wake: %v", err)
	}
	again.Close()
	wake := time.Since(woken)
	t.Logf("wake: streaming again after %s [target %s]", wake.Round(time.Millisecond), wakeTarget)
	if wake > wakeTarget {
		t.Logf("MISSED: wake took %s, target %s (a figure, not a test: the bound is the wait above)", wake, wakeTarget)
	}
	if err := k.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
		t.Fatal(err)
	}
	if got := kubectl("exec", s.Status.PodName, "--", "sh", "-c", `cat "$HOME/e2e.txt"`); !strings.Contains(got, "written in session") {
		t.Errorf("the file written before hibernation: %q", got)
	}

	// terminate: the session stops, the home stays
	if code, body := api.do(http.MethodDelete, "/api/v1/sessions/"+name, nil); code != http.StatusOK {
		t.Fatalf("terminate: %d %v", code, body)
	}
	waitFor(t, time.Minute, "the terminated session's pod goes", func() (bool, string) {
		_ = k.Get(ctx, client.ObjectKeyFromObject(s), s)
		return s.Status.Phase == streamv1.PhaseTerminated && podsOf(t, k, name) == 0, string(s.Status.Phase)
	})
	if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: "home-admin"}, home); err != nil || home.DeletionTimestamp != nil {
		t.Errorf("the home volume after termination: %v %v", err, home.DeletionTimestamp)
	}

	// down: nothing is left
	cluster := e.Cluster
	pids := clusterPIDs(t, cluster.Dir)
	if err := e.teardown(); err != nil {
		t.Errorf("down: %v", err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d of the cluster still runs after down", pid)
		}
	}
	if b, _ := exec.Command("ip", "link", "show", cluster.Bridge).CombinedOutput(); !strings.Contains(string(b), "does not exist") {
		t.Errorf("bridge %s after down: %s", cluster.Bridge, b)
	}
	if mounts, _ := os.ReadFile("/proc/self/mounts"); strings.Contains(string(mounts), cluster.Dir) {
		t.Errorf("mounts under %s remain after down", cluster.Dir)
	}
	// the home's files outlive everything
	if _, err := os.Stat(filepath.Join(e.Dir, "volumes", ns+"_home-admin", "e2e.txt")); err != nil {
		t.Errorf("the home folder on the machine: %v", err)
	}
}
