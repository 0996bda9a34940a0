package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/sessionpod/xidle"
)

// IdleReporterContainer is the name of the idle reporter sidecar in a
// session's pod.
const IdleReporterContainer = "idle-reporter"

// IdleReporterOptions configure the idle reporter: a sidecar in every
// session pod (cmd/streamspace-idle) that serves the X server's own idle
// time. The portal's stream proxy counts only the input it can read; where
// it cannot (Selkies over WebRTC sends input over a data channel, a client
// may reach the pod another way), the X server still sees every key and
// pointer event, and an open tab without a person sends none.
//
// The reporter runs inside the session's pod, so the pod can lie about
// its idle time: what runs there (the app, the user) can keep only its
// own session awake, never another's, and maxSessionDuration still ends
// it.
type IdleReporterOptions struct {
	// Image of the reporter; empty turns it off (lastActivity alone, as
	// written by the portal, decides).
	Image string
	// Timeout of one question; 2s when zero.
	Timeout time.Duration
	// Address returns host:port of the reporter of pod; nil means the
	// pod's IP and Port. Tests point it elsewhere (envtest pods have no
	// IP).
	Address func(pod *corev1.Pod) (string, error)
}

// Enabled reports whether session pods get the reporter.
func (o IdleReporterOptions) Enabled() bool { return o.Image != "" }

// port is where the reporter serves GET /idle; the session NetworkPolicy
// (policies/network/session-isolation.yaml) admits the agent to it alone.
func (o IdleReporterOptions) port() int32 { return xidle.DefaultPort }

// addTo adds the reporter to a session's pod, hardened: it only reads an
// abstract socket and serves HTTP, so it runs as nobody with nothing
// writable, no capabilities and the runtime's seccomp profile. A template
// that already uses the reporter's port keeps its pod as it is (and the
// deadline falls back to lastActivity).
func (o IdleReporterOptions) addTo(spec *corev1.PodSpec) {
	if !o.Enabled() {
		return
	}
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.ContainerPort == o.port() {
				return
			}
		}
	}
	spec.Containers = append(spec.Containers, corev1.Container{
		Name:            IdleReporterContainer,
		Image:           o.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Args:            []string{"--listen=:" + strconv.Itoa(int(o.port()))},
		Ports:           []corev1.ContainerPort{{Name: "idle", ContainerPort: o.port(), Protocol: corev1.ProtocolTCP}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("5m"), corev1.ResourceMemory: resource.MustParse("8Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
		},
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To[int64](65532),
			RunAsGroup:               ptr.To[int64](65532),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	})
}

// maxIdleReply bounds what the agent reads from a pod: the answer is a
// few dozen bytes of JSON.
const maxIdleReply = 4 << 10

// inputSeen asks the session pod's idle reporter when the X server last
// saw input from a person. It is asked only near the idle deadline
// (idleProbeLead), so a few times per idleTimeout at most. The zero time
// means no answer: the caller keeps lastActivity, as without a reporter,
// and at the deadline (sayWhy: when the fallback decides) an Event says
// why.
func (r *SessionReconciler) inputSeen(ctx context.Context, sc *scope, sayWhy bool) time.Time {
	o := r.Options.IdleReporter
	if !o.Enabled() {
		return time.Time{}
	}
	s := sc.session
	idle, err := r.askIdleReporter(ctx, s)
	if err != nil {
		ctrl.LoggerFrom(ctx).Info("Idle reporter did not answer; the idle deadline uses lastActivity", "error", err.Error())
		if !sayWhy {
			return time.Time{}
		}
		r.events.Eventf(s, corev1.EventTypeWarning, streamv1.ReasonIdleReporterUnavailable, "Hibernate",
			"Idle reporter did not answer (%s); the idle deadline is the stream's last input's", err)
		return time.Time{}
	}
	// Whole seconds, as status.lastActivity stores it: the deadline of
	// the next reconcile is then the one computed here.
	return r.Now().Add(-idle).Truncate(time.Second)
}

func (r *SessionReconciler) askIdleReporter(ctx context.Context, s *streamv1.Session) (time.Duration, error) {
	o := r.Options.IdleReporter
	if s.Status.PodName == "" {
		return 0, errors.New("the session has no pod")
	}
	pod := &corev1.Pod{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Status.PodName}, pod); err != nil {
		return 0, fmt.Errorf("get pod %s: %w", s.Status.PodName, err)
	}
	// The pod must be this session's: status.podName is ours, but a
	// reporter of another session must never keep this one awake.
	if pod.Labels[LabelSession] != s.Name || !pod.DeletionTimestamp.IsZero() {
		return 0, fmt.Errorf("pod %s is not this session's running pod", pod.Name)
	}
	if !hasContainer(pod, IdleReporterContainer) {
		return 0, fmt.Errorf("pod %s has no %s container (started before the reporter was configured, or its template uses port %d)", pod.Name, IdleReporterContainer, o.port())
	}
	addr, err := o.address(pod)
	if err != nil {
		return 0, err
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+xidle.Path, nil)
	if err != nil {
		return 0, err
	}
	res, err := idleClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("ask %s: %w", addr, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxIdleReply+1))
	if err != nil {
		return 0, fmt.Errorf("read the answer of %s: %w", addr, err)
	}
	if len(body) > maxIdleReply {
		return 0, fmt.Errorf("the answer of %s is larger than %d bytes", addr, maxIdleReply)
	}
	if res.StatusCode != http.StatusOK {
		var f xidle.Failure
		if json.Unmarshal(body, &f) == nil && f.Error != "" {
			return 0, fmt.Errorf("%s answers %d: %s", addr, res.StatusCode, f.Error)
		}
		return 0, fmt.Errorf("%s answers %d", addr, res.StatusCode)
	}
	var rep xidle.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		return 0, fmt.Errorf("the answer of %s is not an idle report: %w", addr, err)
	}
	// Negative, not a number, or past what a duration holds is no answer.
	if math.IsNaN(rep.IdleSeconds) || rep.IdleSeconds < 0 || rep.IdleSeconds > math.MaxInt64/float64(time.Second) {
		return 0, fmt.Errorf("%s reports an idle time of %v seconds", addr, rep.IdleSeconds)
	}
	return time.Duration(rep.IdleSeconds * float64(time.Second)), nil
}

func (o IdleReporterOptions) address(pod *corev1.Pod) (string, error) {
	if o.Address != nil {
		return o.Address(pod)
	}
	if pod.Status.PodIP == "" {
		return "", fmt.Errorf("pod %s has no IP yet", pod.Name)
	}
	return net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(o.port()))), nil
}

// idleClient never follows a redirect: the agent asks the pod it chose,
// and a pod must not make the agent call anything else.
var idleClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport: &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 8 << 10,
		ResponseHeaderTimeout:  2 * time.Second,
	},
}

// IdleWarningLead is how long before the idle deadline the web UI warns
// that the session will hibernate (portal/web's IDLE_WARNING_MS; a test
// keeps them equal).
const IdleWarningLead = 2 * time.Minute

// idleProbeLead is how long before the idle deadline the reporter is first
// asked: from when the viewer starts warning, so that a person whose input
// the proxy cannot see is not warned while typing (the deadline moves
// first); it is asked again at the deadline itself. At most half the idle
// timeout, so a short one is not probed all along. 0: no reporter.
func (r *SessionReconciler) idleProbeLead(timeout time.Duration) time.Duration {
	if !r.Options.IdleReporter.Enabled() {
		return 0
	}
	return min(IdleWarningLead, timeout/2)
}

// moveIdleDeadline is the idle step's use of the reporter: near the
// deadline (idleProbeLead), input the X server saw after since moves lastActivity there,
// and the deadline with it. It returns the (possibly moved) start of the
// idle period.
func (r *SessionReconciler) moveIdleDeadline(ctx context.Context, sc *scope, since time.Time, timeout time.Duration) time.Time {
	s := sc.session
	input := r.inputSeen(ctx, sc, !sc.now.Before(since.Add(timeout)))
	if !input.After(since) {
		return since
	}
	// The X server's idle timer starts with the server, which starts
	// with the pod: before the stream was ready no person can have given
	// input, so that is not activity (else every start would look like
	// input a few seconds after it).
	if ls := s.Status.LastStart; ls != nil && ls.StreamReadyAt != nil && !input.After(ls.StreamReadyAt.Time) {
		return since
	}
	s.Status.LastActivity = &metav1.Time{Time: input}
	deadline := input.Add(timeout)
	if sc.now.Before(deadline) {
		ctrl.LoggerFrom(ctx).Info("X server saw input; idle deadline moved", "lastInput", input.UTC(), "deadline", deadline.UTC())
		r.events.Eventf(s, corev1.EventTypeNormal, streamv1.ReasonInputSeen, "Hibernate",
			"The X server saw input %s ago; idle deadline moved to %s", sc.now.Sub(input).Round(time.Second), deadline.UTC().Format(time.RFC3339))
	}
	return input
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	return false
}
