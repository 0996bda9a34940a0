package sessions_test

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/sessions"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/sessionpod/xidle"
	"github.com/streamspace/streamspace/test/freeport"
	"github.com/streamspace/streamspace/test/testenv"
	"github.com/streamspace/streamspace/test/vnctest"
)

// The suite's agent runs with an idle reporter image. envtest runs no
// pods, so a test creates the session's pod object itself and registers
// where its reporter answers: a real reporter (xidle.Reporter) on
// loopback, reading a real Xvnc that a real VNC client types into.
const testIdleImage = "localhost/streamspace/idle:test"

var idleReporters sync.Map // "<namespace>/<pod>" → host:port

func idleReporterAddress(pod *corev1.Pod) (string, error) {
	if a, ok := idleReporters.Load(pod.Namespace + "/" + pod.Name); ok {
		return a.(string), nil
	}
	return "", fmt.Errorf("pod %s has no IP (envtest runs no pods)", pod.Name)
}

// startReporter serves a real idle reporter for display on loopback.
func startReporter(t *testing.T, display string) string {
	t.Helper()
	srv := httptest.NewServer(&xidle.Reporter{Display: display})
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// launchWithPod launches a session with idleTimeout and creates its pod
// as the kubelet would (the Deployment's pod template), with its reporter
// answering at addr ("" for none yet); it returns the pod's name.
func launchWithPod(t *testing.T, ns, name string, idle time.Duration, addr string) string {
	t.Helper()
	s := session(ns, name, name, "light")
	s.Spec.IdleTimeout = &metav1.Duration{Duration: idle}
	mustCreate(t, s)
	var tpl corev1.PodTemplateSpec
	NewWithT(t).Eventually(func(g Gomega) {
		tpl = deploymentOf(g, s).Spec.Template
	}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sessions.ChildName(s) + "-pod", Labels: tpl.Labels}, Spec: tpl.Spec}
	if addr != "" {
		idleReporters.Store(ns+"/"+pod.Name, addr)
	}
	mustCreate(t, pod)
	return pod.Name
}

// runningWithPod is launchWithPod, then Running on that pod.
func runningWithPod(t *testing.T, ns, name string, idle time.Duration, addr string) *streamv1.Session {
	t.Helper()
	pod := launchWithPod(t, ns, name, idle, addr)
	markAvailable(t, ns, name)
	g := NewWithT(t)
	g.Eventually(func(g Gomega) {
		got := getSession(g, ns, name)
		g.Expect(got.Status.Phase).To(Equal(streamv1.PhaseRunning))
		g.Expect(got.Status.PodName).To(Equal(pod))
	}, 15*time.Second, 50*time.Millisecond).Should(Succeed())
	return getSession(g, ns, name)
}

// backdate moves the session's idle clock back, as if its last input (and
// its start, which also counts) were at: idleTimeout is at least 1m, and
// the tests do not wait for it.
func backdate(t *testing.T, s *streamv1.Session, at time.Time) {
	t.Helper()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: sessions.ChildName(s)}}
	patch := []byte(`{"metadata":{"annotations":{"` + sessions.StartedAtAnnotation + `":"` + at.UTC().Format(time.RFC3339Nano) + `"}}}`)
	if err := env.Client.Patch(context.Background(), d, client.RawPatch("application/merge-patch+json", patch)); err != nil {
		t.Fatalf("backdate the start: %v", err)
	}
	markAvailable(t, s.Namespace, s.Name) // an annotation is a new generation of a Deployment
	writeActivity(t, s.Namespace, s.Name, metav1.NewTime(at))
}

func eventsOf(g Gomega, ns, name, reason string) []eventsv1.Event {
	var list eventsv1.EventList
	g.ExpectWithOffset(1, env.Client.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

func TestSession_idleReporter_sidecarInjectedAndHardened(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := newNamespace(t)
	mustCreate(t, template(ns, "light"))
	s := session(ns, "erin-side", "erin", "light")
	mustCreate(t, s)

	var spec corev1.PodSpec
	g.Eventually(func(g Gomega) { spec = deploymentOf(g, s).Spec.Template.Spec }, 10*time.Second, 50*time.Millisecond).Should(Succeed())
	g.Expect(spec.Containers).To(HaveLen(2))
	g.Expect(spec.Containers[0].Name).To(Equal("workspace"), "the app stays the first container")
	c := spec.Containers[1]
	g.Expect(c.Name).To(Equal(sessions.IdleReporterContainer))
	g.Expect(c.Image).To(Equal(testIdleImage))
	g.Expect(c.Ports).To(ConsistOf(HaveField("ContainerPort", BeEquivalentTo(xidle.DefaultPort))))
	sc := c.SecurityContext
	g.Expect(sc).NotTo(BeNil())
	g.Expect(*sc.RunAsNonRoot).To(BeTrue())
	g.Expect(*sc.RunAsUser).NotTo(BeZero())
	g.Expect(*sc.ReadOnlyRootFilesystem).To(BeTrue())
	g.Expect(*sc.AllowPrivilegeEscalation).To(BeFalse())
	g.Expect(sc.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
	g.Expect(sc.Capabilities.Add).To(BeEmpty())
	g.Expect(sc.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
	g.Expect(c.Resources.Limits.Memory().Value()).To(BeNumerically("<=", 64<<20))
	g.Expect(c.Resources.Limits.Cpu().MilliValue()).To(BeNumerically("<=", 100))
	g.Expect(c.Resources.Requests).NotTo(BeEmpty())
	g.Expect(c.VolumeMounts).To(BeEmpty(), "the reporter sees nothing of the home")

	// A template already listening on the reporter's port keeps its pod
	// as it is: two listeners on one port would break the app.
	tpl := template(ns, "port-taken")
	tpl.Spec.Ports = append(tpl.Spec.Ports, streamv1.TemplatePort{Name: "taken", ContainerPort: xidle.DefaultPort})
	mustCreate(t, tpl)
	taken := session(ns, "erin-taken", "erin", "port-taken")
	mustCreate(t, taken)
	g.Eventually(func(g Gomega) {
		g.Expect(deploymentOf(g, taken).Spec.Template.Spec.Containers).To(HaveLen(1))
	}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
}

func TestSession_idleReporter_inputTheProxyCannotSee_keepsSessionRunning_thenHibernates(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := newNamespace(t)
	mustCreate(t, template(ns, "light"))
	vnc := vnctest.StartT(t, vnctest.Options{})
	const idle = time.Minute // the shortest the API accepts
	s := runningWithPod(t, ns, "erin-typing", idle, startReporter(t, vnc.Display))

	// A person types straight into the X server: a VNC client of its own,
	// no portal, so nothing writes lastActivity.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	viewer, err := vnctest.Dial(ctx, vnc.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	typing, stopTyping := context.WithCancel(ctx)
	typed := make(chan time.Time)
	go func() {
		var last time.Time
		defer func() { typed <- last }()
		for typing.Err() == nil {
			if viewer.Key(0x61) != nil {
				return
			}
			last = time.Now()
			time.Sleep(300 * time.Millisecond)
		}
	}()

	// The stream's last input was almost an idleTimeout ago: the deadline
	// comes in two seconds.
	old := time.Now().Truncate(time.Second).Add(-idle + 2*time.Second)
	backdate(t, s, old)
	g.Eventually(func(g Gomega) {
		got := getSession(g, ns, s.Name)
		g.Expect(got.Status.LastActivity.Time).To(BeTemporally(">", old.Add(10*time.Second)), "lastActivity moved to the X server's last input")
		g.Expect(got.Status.IdleDeadline.Time).To(BeTemporally(">", time.Now().Add(idle/2)), "requeued at the new deadline")
		g.Expect(eventsOf(g, ns, s.Name, streamv1.ReasonInputSeen)).NotTo(BeEmpty())
	}, 15*time.Second, 100*time.Millisecond).Should(Succeed())
	time.Sleep(3 * time.Second) // well past the old deadline
	got := getSession(g, ns, s.Name)
	g.Expect(got.Spec.State).To(Equal(streamv1.StateRunning), "hibernated while someone typed")
	g.Expect(got.Status.Phase).To(Equal(streamv1.PhaseRunning))

	// The typing stops: hibernated one idleTimeout after the last key, by
	// the controller's own requeue (nothing else happens meanwhile).
	stopTyping()
	lastKey := <-typed
	var hibernatedAt time.Time
	g.Eventually(func(g Gomega) {
		got := getSession(g, ns, s.Name)
		g.Expect(got.Spec.State).To(Equal(streamv1.StateHibernated))
		g.Expect(got.Annotations).To(HaveKeyWithValue(streamv1.StateReasonAnnotation, streamv1.ReasonIdleTimeout))
		hibernatedAt = time.Now()
	}, idle+15*time.Second, 100*time.Millisecond).Should(Succeed())
	g.Expect(hibernatedAt).To(BeTemporally(">=", lastKey.Add(idle-time.Second)))
	g.Expect(eventsOf(g, ns, s.Name, streamv1.ReasonIdleReporterUnavailable)).To(BeEmpty())
}

// The reporter is asked from when the viewer starts warning (a person
// typing where the proxy cannot see is never warned), not only at the
// deadline.
func TestSession_idleReporter_askedBeforeTheViewerWarns(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := newNamespace(t)
	mustCreate(t, template(ns, "light"))
	vnc := vnctest.StartT(t, vnctest.Options{})
	const idle = time.Minute // lead: min(IdleWarningLead, idle/2) = 30 s
	lead := min(sessions.IdleWarningLead, idle/2)
	s := runningWithPod(t, ns, "erin-early", idle, startReporter(t, vnc.Display))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	viewer, err := vnctest.Dial(ctx, vnc.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	// The warning window opens in 3 s, the deadline is lead later.
	old := time.Now().Truncate(time.Second).Add(-idle + lead + 3*time.Second)
	backdate(t, s, old)
	deadline := old.Add(idle)
	g.Eventually(func(g Gomega) {
		got := getSession(g, ns, s.Name)
		g.Expect(got.Status.LastActivity.Time).To(BeTemporally("==", old), "backdated")
		g.Expect(got.Status.IdleDeadline.Time).To(BeTemporally("==", deadline), "backdated")
	}, 3*time.Second, 20*time.Millisecond).Should(Succeed())
	// Input the proxy does not see, a second after the stream became
	// ready (status times are whole seconds; input in the second the
	// stream became ready is not counted).
	time.Sleep(1200 * time.Millisecond)
	if err := viewer.Key(0x61); err != nil {
		t.Fatal(err)
	}
	g.Eventually(func(g Gomega) {
		got := getSession(g, ns, s.Name)
		g.Expect(got.Status.LastActivity.Time).To(BeTemporally(">", old.Add(10*time.Second)), "lastActivity moved to the X server's input")
		g.Expect(got.Status.IdleDeadline.Time).To(BeTemporally(">", deadline), "the deadline moved")
	}, lead-5*time.Second, 100*time.Millisecond).Should(Succeed())
	g.Expect(time.Now()).To(BeTemporally("<", deadline), "moved before the deadline, while the viewer would warn")
}

// The lead is the web UI's warning time.
func TestIdleWarningLead_isTheViewersWarning(t *testing.T) {
	ts, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "portal", "web", "src", "features", "viewer", "useIdleWarning.ts"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`IDLE_WARNING_MS = (\d+) \* 60_000`).FindSubmatch(ts)
	if m == nil {
		t.Fatal("useIdleWarning.ts no longer declares IDLE_WARNING_MS = <n> * 60_000: update this test")
	}
	if want := string(m[1]) + "m0s"; sessions.IdleWarningLead.String() != want {
		t.Errorf("IdleWarningLead %s, the viewer warns %s before", sessions.IdleWarningLead, want)
	}
}

func TestSession_idleReporter_longIdle_hibernatesAtDeadline(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := newNamespace(t)
	mustCreate(t, template(ns, "light"))
	vnc := vnctest.StartT(t, vnctest.Options{})
	// An open viewer without input: frames, no keys.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	viewer, err := vnctest.Dial(ctx, vnc.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	time.Sleep(1100 * time.Millisecond) // the X server's last input is before the session's start
	const idle = time.Minute            // the shortest the API accepts: this test waits for it
	s := runningWithPod(t, ns, "erin-away", idle, startReporter(t, vnc.Display))
	deadline := s.Status.LastActivity.Add(idle)

	var hibernatedAt time.Time
	g.Eventually(func(g Gomega) {
		got := getSession(g, ns, s.Name)
		g.Expect(got.Spec.State).To(Equal(streamv1.StateHibernated))
		hibernatedAt = time.Now()
	}, idle+15*time.Second, 100*time.Millisecond).Should(Succeed())
	g.Expect(hibernatedAt).To(BeTemporally(">=", deadline))
	got := getSession(g, ns, s.Name)
	g.Expect(got.Status.LastActivity.Time).To(BeTemporally("==", s.Status.LastActivity.Time), "no input: lastActivity unchanged")
	g.Expect(eventsOf(g, ns, s.Name, streamv1.ReasonInputSeen)).To(BeEmpty())
	g.Expect(eventsOf(g, ns, s.Name, streamv1.ReasonIdleReporterUnavailable)).To(BeEmpty())
}

func TestSession_idleReporter_xServerStartIsNotInput(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := newNamespace(t)
	mustCreate(t, template(ns, "light"))
	const idle = time.Minute
	pod := launchWithPod(t, ns, "erin-start", idle, "")
	// The X server starts with the pod, after the session's start and
	// before its stream is ready: its idle timer begins there.
	vnc := vnctest.StartT(t, vnctest.Options{})
	idleReporters.Store(ns+"/"+pod, startReporter(t, vnc.Display))
	time.Sleep(1100 * time.Millisecond)
	markAvailable(t, ns, "erin-start")
	s := waitPhase(t, ns, "erin-start", streamv1.PhaseRunning)
	backdate(t, s, time.Now().Truncate(time.Second).Add(-idle+time.Second))

	g.Eventually(func(g Gomega) {
		g.Expect(getSession(g, ns, s.Name).Spec.State).To(Equal(streamv1.StateHibernated))
	}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
	g.Expect(eventsOf(g, ns, s.Name, streamv1.ReasonInputSeen)).To(BeEmpty())
	g.Expect(eventsOf(g, ns, s.Name, streamv1.ReasonIdleReporterUnavailable)).To(BeEmpty())
}

func TestSession_idleReporter_cannotAnswer_fallsBackToLastActivity_saysWhy(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	mustCreate(t, template(ns, "light"))
	closed, err := freeport.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, addr, why string
	}{
		// The real reporter, with no X server to read: 503 naming why.
		{"no-x", startReporter(t, ":4095"), "connect to X display :4095"},
		// Nothing listens.
		{"gone", net.JoinHostPort("127.0.0.1", fmt.Sprint(closed)), "connection refused"},
		// No reporter registered: the pod has no address.
		{"no-ip", "", "has no IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			const idle = time.Minute
			s := runningWithPod(t, ns, "erin-"+tc.name, idle, tc.addr)
			old := time.Now().Truncate(time.Second).Add(-idle + time.Second)
			backdate(t, s, old)
			deadline := old.Add(idle)
			g.Eventually(func(g Gomega) {
				got := getSession(g, ns, s.Name)
				g.Expect(got.Spec.State).To(Equal(streamv1.StateHibernated))
				g.Expect(got.Annotations).To(HaveKeyWithValue(streamv1.StateReasonAnnotation, streamv1.ReasonIdleTimeout))
			}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
			g.Expect(time.Now()).To(BeTemporally(">=", deadline))
			var evs []eventsv1.Event
			g.Eventually(func(g Gomega) {
				evs = eventsOf(g, ns, s.Name, streamv1.ReasonIdleReporterUnavailable)
				g.Expect(evs).To(HaveLen(1), "said once")
			}, 5*time.Second, 50*time.Millisecond).Should(Succeed())
			g.Expect(evs[0].Note).To(ContainSubstring(tc.why))
			g.Expect(evs[0].Type).To(Equal(corev1.EventTypeWarning))
			t.Logf("event: %s", evs[0].Note)
		})
	}
}
