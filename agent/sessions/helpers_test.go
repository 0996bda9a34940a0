package sessions_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/sessions"
	"github.com/streamspace/streamspace/agent/users"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

type zapcoreLevel = zapcore.Level

func dialTLS(host string, port int) (net.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", net.JoinHostPort(host, strconv.Itoa(port)), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // probing a local test server
}

// newNamespace gives each test its own namespace, so tests run in parallel
// against one API server without seeing each other's sessions or quotas.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns, err := env.Namespace(context.Background(), "t")
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns
}

func mustCreate(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// template returns a WebsockifyVNC template like the local light image.
func template(ns, name string) *streamv1.Template {
	mem, cpu := resource.MustParse("1Gi"), resource.MustParse("500m")
	return &streamv1.Template{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: streamv1.TemplateSpec{
			DisplayName:      "Light desktop " + name,
			Category:         "Utilities",
			BaseImage:        "localhost/streamspace/light:1.0.0",
			ImagePullPolicy:  corev1.PullNever,
			DefaultResources: streamv1.Resources{Memory: &mem, CPU: &cpu},
			Ports:            []streamv1.TemplatePort{{Name: "vnc-ws", ContainerPort: 6080}},
			Stream:           streamv1.StreamSpec{Protocol: streamv1.StreamWebsockifyVNC, Port: 6080, Path: "/websockify"},
			Env:              []streamv1.EnvVar{{Name: "GEOMETRY", Value: "1280x800"}},
			VolumeMounts:     []streamv1.VolumeMount{{Name: streamv1.HomeVolumeName, MountPath: "/home/user"}},
			Security:         streamv1.TemplateSecurity{SharedMemory: ptr.To(resource.MustParse("256Mi"))},
		},
	}
}

func session(ns, name, user, tmpl string) *streamv1.Session {
	return &streamv1.Session{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       streamv1.SessionSpec{User: user, Template: tmpl},
	}
}

func get(g Gomega, obj client.Object) {
	g.ExpectWithOffset(1, env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)).To(Succeed())
}

func getSession(g Gomega, ns, name string) *streamv1.Session {
	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	g.ExpectWithOffset(1, env.Client.Get(context.Background(), client.ObjectKeyFromObject(s), s)).To(Succeed())
	return s
}

func deploymentOf(g Gomega, s *streamv1.Session) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	g.ExpectWithOffset(1, env.Client.Get(context.Background(), client.ObjectKey{Namespace: s.Namespace, Name: sessions.ChildName(s)}, d)).To(Succeed())
	return d
}

// markAvailable does what kube-controller-manager would: envtest has no
// controllers and no kubelet, so the test reports the Deployment's replica
// available (or gone, for replicas 0).
func markAvailable(t *testing.T, ns, name string) {
	t.Helper()
	g := NewWithT(t)
	g.Eventually(func(g Gomega) {
		d := deploymentOf(g, session(ns, name, "", ""))
		g.Expect(*d.Spec.Replicas).To(BeEquivalentTo(1))
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
		g.Expect(env.Client.Status().Update(context.Background(), d)).To(Succeed())
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
}

// markScaledDown reports that the Deployment's pods are gone.
func markScaledDown(t *testing.T, ns, name string) {
	t.Helper()
	g := NewWithT(t)
	g.Eventually(func(g Gomega) {
		d := deploymentOf(g, session(ns, name, "", ""))
		g.Expect(*d.Spec.Replicas).To(BeEquivalentTo(0))
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation}
		g.Expect(env.Client.Status().Update(context.Background(), d)).To(Succeed())
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
}

func waitPhase(t *testing.T, ns, name string, phase streamv1.SessionPhase) *streamv1.Session {
	t.Helper()
	var s *streamv1.Session
	NewWithT(t).Eventually(func(g Gomega) {
		s = getSession(g, ns, name)
		g.Expect(s.Status.Phase).To(Equal(phase), "conditions: %v", s.Status.Conditions)
	}, 15*time.Second, 100*time.Millisecond).Should(Succeed())
	return s
}

func launchRunning(t *testing.T, ns, name, user, tmpl string) *streamv1.Session {
	t.Helper()
	mustCreate(t, session(ns, name, user, tmpl))
	markAvailable(t, ns, name)
	return waitPhase(t, ns, name, streamv1.PhaseRunning)
}

func condition(s *streamv1.Session, t string) *metav1.Condition {
	for i := range s.Status.Conditions {
		if s.Status.Conditions[i].Type == t {
			return &s.Status.Conditions[i]
		}
	}
	return nil
}

func setState(t *testing.T, ns, name string, state streamv1.SessionState) error {
	t.Helper()
	s := session(ns, name, "", "")
	patch := []byte(fmt.Sprintf(`{"spec":{"state":%q}}`, state))
	return env.Client.Patch(context.Background(), s, client.RawPatch("application/merge-patch+json", patch))
}

// createWaitingPod creates a session's pod whose container the kubelet
// cannot start, with the kubelet's reason and message.
func createWaitingPod(t *testing.T, s *streamv1.Session, image, reason, message string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: sessions.ChildName(s) + "-x", Labels: map[string]string{
			sessions.LabelSession: s.Name, users.LabelManagedBy: users.ManagedBy,
		}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "workspace", Image: image}}},
	}
	mustCreate(t, pod)
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "workspace", State: corev1.ContainerState{
		Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message},
	}}}
	if err := env.Client.Status().Update(context.Background(), pod); err != nil {
		t.Fatalf("update pod status: %v", err)
	}
}
