package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamspace/streamspace/local/platform"
	"github.com/streamspace/streamspace/test/vnctest"
)

// TestSessionPods_startHardenedOnARealNode launches the local light and
// Firefox templates on the real node and reads what the kernel says of
// every process of each session (/proc/<pid>/status): no capability beyond
// the template's in any set (none for these non-root apps), no_new_privs,
// a seccomp filter, the template's uid; the app paints its first frame
// through the portal all the same.
func TestSessionPods_startHardenedOnARealNode(t *testing.T) {
	e := needPlatform(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	k := e.Platform.Client

	// the Firefox image, from the image cache (built once, ~3 min cold)
	start := time.Now()
	var out bytes.Buffer
	if err := platform.SessionImages(filepath.Join(os.TempDir(), "streamspace-e2e"), "firefox")(ctx, e.Cluster, &out); err != nil {
		t.Fatalf("the firefox image: %v\n%s", err, out.String())
	}
	t.Logf("firefox image built (cached) and imported in %s", time.Since(start).Round(100*time.Millisecond))

	api := &portalClient{t: t, base: "http://" + e.PortalAddr}
	api.login("admin", e.Password)
	for _, c := range []struct {
		template string
		uid      int
	}{{"terminal-local", 1000}, {"firefox-local", 1000}} {
		t.Run(c.template, func(t *testing.T) {
			// a scratch home: the pod's emptyDirs are all bounded
			s, pod := startSession(ctx, t, k, c.template, "hard-")
			for _, v := range pod.Spec.Volumes {
				if v.EmptyDir != nil && v.EmptyDir.SizeLimit == nil {
					t.Errorf("emptyDir %s has no sizeLimit", v.Name)
				}
			}

			viewer, err := vnctest.Dial(ctx, "ws://"+e.PortalAddr+"/api/v1/sessions/"+s.Name+"/connect", api.auth())
			if err != nil {
				t.Fatalf("connect through the portal: %v", err)
			}
			defer viewer.Close()
			frame, err := viewer.FullFrame()
			if err != nil || frame.Colors < 2 {
				t.Fatalf("first frame: %v (%d colours): the app did not paint", err, frame.Colors)
			}

			procs := sessionProcesses(t, s.Name)
			if len(procs) == 0 {
				t.Fatalf("no process on this host has STREAMSPACE_SESSION=%s", s.Name)
			}
			for pid, st := range procs {
				for _, set := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
					v, err := strconv.ParseUint(st[set], 16, 64)
					if err != nil || v != 0 {
						t.Errorf("pid %d (%s, uid %s): %s = %s, want none", pid, st["Name"], st["Uid"], set, st[set])
					}
				}
				if st["NoNewPrivs"] != "1" || st["Seccomp"] != "2" {
					t.Errorf("pid %d (%s): NoNewPrivs %s, Seccomp %s; want 1 and 2 (a filter)", pid, st["Name"], st["NoNewPrivs"], st["Seccomp"])
				}
				if uid := strings.Fields(st["Uid"]); len(uid) == 0 || uid[0] != strconv.Itoa(c.uid) {
					t.Errorf("pid %d (%s): uid %v, want %d", pid, st["Name"], uid, c.uid)
				}
			}
			t.Logf("%d processes as uid %d, every capability set empty, no_new_privs, seccomp filter; first frame %dx%d, %d colours",
				len(procs), c.uid, viewer.Width, viewer.Height, frame.Colors)
		})
	}
}

// sessionProcesses reads /proc/<pid>/status of every process on this host
// whose environment names the session (the agent sets STREAMSPACE_SESSION
// in the app's container).
func sessionProcesses(t *testing.T, session string) map[int]map[string]string {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	mark := []byte("\x00STREAMSPACE_SESSION=" + session + "\x00")
	out := map[int]map[string]string{}
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil || !bytes.Contains(append([]byte{0}, env...), mark) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d, "status"))
		if err != nil {
			continue // it ended meanwhile
		}
		st := map[string]string{}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				st[k] = strings.TrimSpace(v)
			}
		}
		out[pid] = st
	}
	return out
}
