package stream

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agentsessions "github.com/streamspace/streamspace/agent/sessions"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal/api"
)

// notSessionsError is a dial target that exists but is not the session's.
func notSessionsError(s *streamv1.Session, what string) error {
	return api.Errorf(http.StatusBadGateway, api.CodeUpstreamNotSession,
		fmt.Sprintf("session %s: %s is not the session's own, so the portal does not connect to it", s.Name, what))
}

// sessionAddr is the host:port the portal dials for session s: the
// template's stream port on what it checked to be the session's own: its
// Service (controlled by the Session, with the UID it has now, selecting
// the session's pods, exposing the template's stream port) by the
// ClusterIP of that very object, or (ViaPodIP) its pod, controlled through
// its ReplicaSet by the Deployment the Session controls. A Service or pod
// that a user or another controller made under a matching name, or a
// status.podName that points at another pod, is refused and never dialled:
// VNC runs without a password inside the pod network, so whatever the
// portal dials is handed to the caller.
//
// Owner references are written by whoever creates an object, so this
// check stops a look-alike, an adopted object or a stale status, not an
// actor who may write pods in the platform namespace and forges the whole
// chain: that namespace belongs to the agent and the portal alone.
func (p *Proxy) sessionAddr(ctx context.Context, s *streamv1.Session, t *streamv1.Template) (string, error) {
	port := t.Spec.Stream.Port
	var ip string
	var err error
	if p.ViaPodIP {
		ip, err = p.sessionPodIP(ctx, s)
	} else {
		ip, err = p.sessionServiceIP(ctx, s, port)
	}
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ip, strconv.Itoa(int(port))), nil
}

// sessionServiceIP is the ClusterIP of the session's own Service, which
// must expose port. Dialling the IP of the object checked (not its DNS
// name) binds the dial to that check.
func (p *Proxy) sessionServiceIP(ctx context.Context, s *streamv1.Session, port int32) (string, error) {
	svc := &corev1.Service{}
	name := agentsessions.ChildName(s)
	if err := p.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: name}, svc); apierrors.IsNotFound(err) {
		return "", upstreamUnavailable(fmt.Sprintf("session %s has no Service yet", s.Name))
	} else if err != nil {
		return "", fmt.Errorf("session %s: read service %s: %w", s.Name, name, err)
	}
	what := "Service " + name
	switch {
	case !metav1.IsControlledBy(svc, s):
		return "", notSessionsError(s, what+" (not controlled by this Session)")
	case svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone:
		return "", notSessionsError(s, fmt.Sprintf("%s (type %s, cluster IP %q: not the session's ClusterIP Service)", what, svc.Spec.Type, svc.Spec.ClusterIP))
	case !maps.Equal(svc.Spec.Selector, map[string]string{agentsessions.LabelSession: s.Name}):
		return "", notSessionsError(s, fmt.Sprintf("%s (it selects %v, not the session's pods)", what, svc.Spec.Selector))
	}
	for _, sp := range svc.Spec.Ports {
		if sp.Port == port && (sp.Protocol == corev1.ProtocolTCP || sp.Protocol == "") {
			return svc.Spec.ClusterIP, nil
		}
	}
	return "", upstreamUnavailable(fmt.Sprintf("session %s: Service %s does not expose the template's stream port %d", s.Name, name, port))
}

// sessionPodIP is the IP of the pod status.podName names, once it is
// checked to be the session's: labelled with it, and controlled by a
// ReplicaSet that the session's Deployment controls, which the Session
// controls.
func (p *Proxy) sessionPodIP(ctx context.Context, s *streamv1.Session) (string, error) {
	if s.Status.PodName == "" {
		return "", upstreamUnavailable(fmt.Sprintf("session %s has no pod yet", s.Name))
	}
	pod := &corev1.Pod{}
	if err := p.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Status.PodName}, pod); apierrors.IsNotFound(err) {
		return "", upstreamUnavailable(fmt.Sprintf("session %s: pod %s is gone", s.Name, s.Status.PodName))
	} else if err != nil {
		return "", fmt.Errorf("session %s: read pod %s: %w", s.Name, s.Status.PodName, err)
	}
	what := "pod " + pod.Name
	if pod.Labels[agentsessions.LabelSession] != s.Name {
		return "", notSessionsError(s, fmt.Sprintf("%s (labelled for session %q)", what, pod.Labels[agentsessions.LabelSession]))
	}
	rsRef := metav1.GetControllerOf(pod)
	if rsRef == nil || rsRef.Kind != "ReplicaSet" || rsRef.APIVersion != appsv1.SchemeGroupVersion.String() {
		return "", notSessionsError(s, what+" (not controlled by a ReplicaSet)")
	}
	rs := &appsv1.ReplicaSet{}
	if err := p.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: rsRef.Name}, rs); apierrors.IsNotFound(err) {
		return "", notSessionsError(s, what+" (its ReplicaSet "+rsRef.Name+" does not exist)")
	} else if err != nil {
		return "", fmt.Errorf("session %s: read replicaset %s: %w", s.Name, rsRef.Name, err)
	}
	deploy := &appsv1.Deployment{}
	name := agentsessions.ChildName(s)
	if err := p.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: name}, deploy); apierrors.IsNotFound(err) {
		return "", upstreamUnavailable(fmt.Sprintf("session %s has no Deployment", s.Name))
	} else if err != nil {
		return "", fmt.Errorf("session %s: read deployment %s: %w", s.Name, name, err)
	}
	switch {
	case !metav1.IsControlledBy(pod, rs):
		return "", notSessionsError(s, what+" (its controller reference names ReplicaSet "+rsRef.Name+" with another UID)")
	case !metav1.IsControlledBy(rs, deploy):
		return "", notSessionsError(s, what+" (its ReplicaSet "+rs.Name+" is not controlled by Deployment "+name+")")
	case !metav1.IsControlledBy(deploy, s):
		return "", notSessionsError(s, what+" (Deployment "+name+" is not controlled by this Session)")
	}
	if pod.Status.PodIP == "" {
		return "", upstreamUnavailable(fmt.Sprintf("session %s: pod %s has no IP yet", s.Name, pod.Name))
	}
	return pod.Status.PodIP, nil
}
