package portal_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal"
)

// dialRecorder is the portal's only way to a session in these tests: it
// records every address the portal dials and joins it to the stand-in
// session (Xvnc behind websockify), whatever the address.
type dialRecorder struct {
	mu     sync.Mutex
	dialed []string
}

func (d *dialRecorder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.dialed = append(d.dialed, addr)
	d.mu.Unlock()
	return (&net.Dialer{}).DialContext(ctx, network, strings.TrimSuffix(strings.TrimPrefix(vnc.URL, "ws://"), "/"))
}

func (d *dialRecorder) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.dialed
	d.dialed = nil
	return out
}

// targetPortal is the real router with the proxy's default upstreams (the
// session's own Service, or pod with viaPodIP) and every dial recorded.
func targetPortal(t *testing.T, viaPodIP bool) (string, *dialRecorder) {
	t.Helper()
	rec := &dialRecorder{}
	h := newHandlers()
	h.Stream.Upstream, h.Stream.WebUpstream = nil, nil
	h.Stream.Dial, h.Stream.ViaPodIP = rec.dial, viaPodIP
	s := httptest.NewServer(portal.NewRouter(h))
	t.Cleanup(s.Close)
	return s.URL, rec
}

// connectVia opens session's stream through the portal at base as the
// holder of token: nil when it streams, else the status and body.
func connectVia(t *testing.T, base, session, token string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/api/v1/sessions/"+session+"/connect",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}, Subprotocols: []string{"binary"}})
	if err == nil {
		conn.SetReadLimit(-1)
		vncHandshake(t, ctx, conn)
		_ = conn.Close(websocket.StatusNormalClosure, "")
		return http.StatusSwitchingProtocols, ""
	}
	if resp == nil {
		t.Fatalf("connect %s: %v", session, err)
	}
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	return resp.StatusCode, string(buf[:n])
}

// controllerRef is the controller reference to owner, a Session or an
// apps/v1 kind.
func controllerRef(owner client.Object, kind string) []metav1.OwnerReference {
	gvk := appsv1.SchemeGroupVersion.WithKind(kind)
	if kind == "Session" {
		gvk = streamv1.GroupVersion.WithKind(kind)
	}
	return []metav1.OwnerReference{*metav1.NewControllerRef(owner, gvk)}
}

// sessionService is a Service as the agent makes it for s, edited.
func sessionService(s *streamv1.Session, edit func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ss-" + s.Name, OwnerReferences: controllerRef(s, "Session")},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: map[string]string{"stream.space/session": s.Name},
			Ports: []corev1.ServicePort{{Name: "vnc-ws", Port: 6080, TargetPort: intstr.FromString("vnc-ws")}}}}
	if edit != nil {
		edit(svc)
	}
	return svc
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

func TestStream_dialsOnlyTheSessionsOwnService_lookAlikesRefused(t *testing.T) {
	base, rec := targetPortal(t, false)
	alice, _ := login(t, "alice")
	other := runningSession(t, "alice-tgt-other", "alice", time.Now())

	for i, tc := range []struct {
		name    string
		service func(s *streamv1.Session) *corev1.Service // nil: none
		code    string                                    // the refusal; "" streams
	}{
		{"the agent's own Service", func(s *streamv1.Session) *corev1.Service { return sessionService(s, nil) }, ""},
		{"no Service yet", nil, "upstream_unavailable"},
		{"a Service of that name that someone else made", func(s *streamv1.Session) *corev1.Service {
			return sessionService(s, func(svc *corev1.Service) { svc.OwnerReferences = nil })
		}, "upstream_not_session"},
		{"a Service controlled by another session", func(s *streamv1.Session) *corev1.Service {
			return sessionService(s, func(svc *corev1.Service) { svc.OwnerReferences = controllerRef(other, "Session") })
		}, "upstream_not_session"},
		{"a Service owned by an earlier Session of the same name", func(s *streamv1.Session) *corev1.Service {
			return sessionService(s, func(svc *corev1.Service) {
				svc.OwnerReferences[0].UID = types.UID("0b5ee1e5-0000-4000-8000-000000000000")
			})
		}, "upstream_not_session"},
		{"an adopted Service selecting another session's pods", func(s *streamv1.Session) *corev1.Service {
			return sessionService(s, func(svc *corev1.Service) { svc.Spec.Selector = map[string]string{"stream.space/session": other.Name} })
		}, "upstream_not_session"},
		{"an adopted ExternalName Service naming another host", func(s *streamv1.Session) *corev1.Service {
			return sessionService(s, func(svc *corev1.Service) {
				svc.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "ss-" + other.Name + "." + ns + ".svc.cluster.local"}
			})
		}, "upstream_not_session"},
		{"the session's Service without the stream port", func(s *streamv1.Session) *corev1.Service {
			return sessionService(s, func(svc *corev1.Service) { svc.Spec.Ports[0].Port = 5900 })
		}, "upstream_unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := runningSession(t, fmt.Sprintf("alice-tgt-svc-%d", i), "alice", time.Now())
			var svc *corev1.Service
			if tc.service != nil {
				svc = tc.service(s)
				create(t, svc)
			}
			status, body := connectVia(t, base, s.Name, alice)
			dialed := rec.take()
			if tc.code == "" {
				if status != http.StatusSwitchingProtocols || len(dialed) != 1 || dialed[0] != net.JoinHostPort(svc.Spec.ClusterIP, "6080") {
					t.Fatalf("status %d (%s), dialled %v: want the stream, through %s:6080 alone", status, body, dialed, svc.Spec.ClusterIP)
				}
				return
			}
			if status != http.StatusBadGateway || !strings.Contains(body, `"`+tc.code+`"`) || len(dialed) != 0 {
				t.Fatalf("status %d (%s), dialled %v: want 502 %s and no dial", status, body, dialed, tc.code)
			}
			// the web client's path refuses alike
			req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/sessions/"+s.Name+"/web/index.html", nil)
			bearer(alice)(req)
			if st, b := send(t, req); st != http.StatusBadGateway || !strings.Contains(b, `"`+tc.code+`"`) || len(rec.take()) != 0 {
				t.Errorf("web client: %d %s", st, b)
			}
		})
	}
}

// sessionPod makes the agent's chain for s (Deployment → ReplicaSet →
// pod, each controlling the next) and returns the pod with its IP.
func sessionPod(t *testing.T, s *streamv1.Session, ip string) *corev1.Pod {
	t.Helper()
	labels := map[string]string{"stream.space/session": s.Name, "app": "streamspace-session"}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "workspace", Image: "localhost/streamspace/light:1.0.0"}}}}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ss-" + s.Name, OwnerReferences: controllerRef(s, "Session")},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}
	create(t, d)
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ss-" + s.Name + "-5d8f7", OwnerReferences: controllerRef(d, "Deployment")},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}
	create(t, rs)
	return podOf(t, s.Name+"-pod", labels, controllerRef(rs, "ReplicaSet"), ip)
}

func podOf(t *testing.T, name string, labels map[string]string, owners []metav1.OwnerReference, ip string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, OwnerReferences: owners},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "workspace", Image: "localhost/streamspace/light:1.0.0"}}}}
	create(t, pod)
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	if err := env.Client.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

func pointAt(t *testing.T, s *streamv1.Session, pod string) {
	t.Helper()
	patch := fmt.Sprintf(`{"status":{"podName":%q}}`, pod)
	if err := env.Client.Status().Patch(context.Background(), s, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

func TestStream_viaPodIP_dialsOnlyTheSessionsOwnPod_lookAlikesRefused(t *testing.T) {
	base, rec := targetPortal(t, true)
	alice, _ := login(t, "alice")
	other := runningSession(t, "alice-tgt-pod-other", "alice", time.Now())
	otherPod := sessionPod(t, other, "10.244.0.99")

	for i, tc := range []struct {
		name string
		pod  func(s *streamv1.Session) string // the pod status.podName names
		code string
	}{
		{"the agent's own pod", func(s *streamv1.Session) string { return sessionPod(t, s, "10.244.0.10").Name }, ""},
		{"status pointing at another session's pod", func(*streamv1.Session) string { return otherPod.Name }, "upstream_not_session"},
		{"a pod with the session's label that someone else made", func(s *streamv1.Session) string {
			return podOf(t, s.Name+"-lookalike", map[string]string{"stream.space/session": s.Name}, nil, "10.244.0.11").Name
		}, "upstream_not_session"},
		{"a pod naming the session's ReplicaSet with another UID", func(s *streamv1.Session) string {
			real := sessionPod(t, s, "10.244.0.12")
			forged := real.OwnerReferences
			forged[0].UID = types.UID("0b5ee1e5-0000-4000-8000-000000000001")
			return podOf(t, s.Name+"-forged", real.Labels, forged, "10.244.0.13").Name
		}, "upstream_not_session"},
		{"a pod of a ReplicaSet that the session's Deployment does not control", func(s *streamv1.Session) string {
			real := sessionPod(t, s, "10.244.0.14")
			rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: s.Name + "-stray"},
				Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: real.Labels},
					Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: real.Labels}, Spec: real.Spec}}}
			create(t, rs)
			return podOf(t, s.Name+"-stray", real.Labels, controllerRef(rs, "ReplicaSet"), "10.244.0.15").Name
		}, "upstream_not_session"},
		{"no pod yet", func(*streamv1.Session) string { return "" }, "upstream_unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := runningSession(t, fmt.Sprintf("alice-tgt-pod-%d", i), "alice", time.Now())
			name := tc.pod(s)
			pointAt(t, s, name)
			status, body := connectVia(t, base, s.Name, alice)
			dialed := rec.take()
			if tc.code == "" {
				if status != http.StatusSwitchingProtocols || len(dialed) != 1 || dialed[0] != "10.244.0.10:6080" {
					t.Fatalf("status %d (%s), dialled %v: want the stream, through 10.244.0.10:6080 alone", status, body, dialed)
				}
				return
			}
			if status != http.StatusBadGateway || !strings.Contains(body, `"`+tc.code+`"`) || len(dialed) != 0 {
				t.Fatalf("status %d (%s), dialled %v: want 502 %s and no dial", status, body, dialed, tc.code)
			}
		})
	}
}
