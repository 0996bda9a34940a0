package sessions

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/quota"
	"github.com/streamspace/streamspace/agent/reconciler"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// waitingReasons are container states that will not resolve by waiting a
// few seconds: the session is reported Failed with the runtime's own words
// until they change.
var waitingReasons = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true, "ErrImageNeverPull": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "CrashLoopBackOff": true, "RunContainerError": true,
}

// observeRuntime reads the Deployment and the session's pod and sets the
// phase, URL, pod name, the start timestamps and Ready/Reconciling/Stalled.
// Running only once the Deployment reports an available replica.
func (r *SessionReconciler) observeRuntime(ctx context.Context, sc *scope) error {
	s, d := sc.session, sc.deploy
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(s.Namespace), client.MatchingLabels{LabelSession: s.Name}); err != nil {
		return fmt.Errorf("list pods of session: %w", err)
	}
	pod := newestPod(pods.Items)

	ls := s.Status.LastStart
	if ls == nil { // started by an earlier agent that did not record it
		ls = &streamv1.StartTimes{Kind: streamv1.StartLaunch, RequestedAt: d.CreationTimestamp}
		s.Status.LastStart = ls
	}
	failure := ""
	if pod != nil && !pod.CreationTimestamp.Time.Before(ls.RequestedAt.Add(-time.Second)) {
		s.Status.PodName = pod.Name
		if ls.ScheduledAt == nil {
			if c := podCondition(pod, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionTrue {
				ls.ScheduledAt = ptrTime(c.LastTransitionTime)
				r.Metrics.observeStart(ls, "scheduled", ls.ScheduledAt)
			}
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.Name != containerName {
				continue
			}
			if ls.ImageReadyAt == nil && cs.State.Running != nil {
				ls.ImageReadyAt = ptrTime(cs.State.Running.StartedAt)
				r.Metrics.observeStart(ls, "image_ready", ls.ImageReadyAt)
			}
			if w := cs.State.Waiting; w != nil && waitingReasons[w.Reason] {
				failure = fmt.Sprintf("container %s cannot start: %s: %s", cs.Name, w.Reason, w.Message)
			}
		}
	}

	available := d.Status.AvailableReplicas >= 1 && d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas >= 1
	switch {
	case available:
		if s.Status.Phase != streamv1.PhaseRunning {
			r.events.Eventf(s, corev1.EventTypeNormal, streamv1.ReasonStreamReady, "Start", "Stream ready at %s", r.sessionURL(sc))
		}
		s.Status.Phase = streamv1.PhaseRunning
		s.Status.URL = r.sessionURL(sc)
		if ls.StreamReadyAt == nil {
			at := metav1.NewTime(sc.now)
			if pod != nil {
				if c := podCondition(pod, corev1.PodReady); c != nil && c.Status == corev1.ConditionTrue && !c.LastTransitionTime.Before(&ls.RequestedAt) {
					at = c.LastTransitionTime
				}
			}
			ls.StreamReadyAt = &at
			r.Metrics.observeStart(ls, "stream_ready", ls.StreamReadyAt)
		}
		res := quota.EffectiveResources(s, sc.template)
		s.Status.ResourceUsage = &streamv1.ResourceUsage{}
		if res.Memory != nil {
			s.Status.ResourceUsage.Memory = res.Memory.String()
		}
		if res.CPU != nil {
			s.Status.ResourceUsage.CPU = res.CPU.String()
		}
		conditions.MarkTrue(s, streamv1.ConditionReady, streamv1.ReasonStreamReady, "Stream ready at %s", s.Status.URL)
		return nil
	case failure != "":
		if s.Status.Phase != streamv1.PhaseFailed {
			r.events.Eventf(s, corev1.EventTypeWarning, streamv1.ReasonImageCannotStart, "Start", "%s", failure)
		}
		s.Status.Phase = streamv1.PhaseFailed
		s.Status.URL = ""
		// The pod watch brings us back if the runtime recovers (an image
		// pushed later, a fixed config).
		return reconciler.Stall(streamv1.ReasonImageCannotStart, "%s", failure)
	}
	s.Status.Phase = streamv1.PhasePending
	s.Status.URL = ""
	// The Deployment and pod watches bring us back at each start phase.
	return reconciler.Wait(0, streamv1.ReasonStarting, "%s", startProgress(ls, s, sc))
}

// startProgress says which start phase the session waits for; the UI shows
// it while a session launches or wakes.
func startProgress(ls *streamv1.StartTimes, s *streamv1.Session, sc *scope) string {
	switch {
	case ls.ScheduledAt == nil:
		return "Waiting for the session pod to be scheduled"
	case ls.ImageReadyAt == nil:
		return fmt.Sprintf("Pulling image %s", s.Status.Image)
	default:
		port := int32(0)
		if sc.template != nil {
			port = sc.template.Spec.Stream.Port
		}
		return fmt.Sprintf("Waiting for the stream on port %d to be ready", port)
	}
}

// sessionURL is where a person reaches the session: its own host through
// the Ingress, else the portal's viewer, else the in-cluster Service.
func (r *SessionReconciler) sessionURL(sc *scope) string {
	s := sc.session
	if o := r.Options.Ingress; o.Enabled() {
		scheme := "http"
		if o.TLSSecretName != "" {
			scheme = "https"
		}
		return fmt.Sprintf("%s://%s/", scheme, ingressHost(o, s))
	}
	if r.Options.PortalURL != "" {
		return strings.TrimSuffix(r.Options.PortalURL, "/") + "/session/" + s.Name
	}
	if sc.template == nil {
		return s.Status.URL
	}
	return fmt.Sprintf("http://%s.%s.svc:%d%s", ChildName(s), s.Namespace, sc.template.Spec.Stream.Port, sc.template.Spec.Stream.Path)
}

func newestPod(pods []corev1.Pod) *corev1.Pod {
	var newest *corev1.Pod
	for i := range pods {
		p := &pods[i]
		if !p.DeletionTimestamp.IsZero() {
			continue
		}
		if newest == nil || newest.CreationTimestamp.Before(&p.CreationTimestamp) {
			newest = p
		}
	}
	return newest
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func ptrTime(t metav1.Time) *metav1.Time { return &t }

func isNoMatch(err error) bool { return err != nil && meta.IsNoMatchError(err) }
