package sessions

import (
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/streamspace/streamspace/agent/quota"
	"github.com/streamspace/streamspace/agent/users"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// Labels of a session's children. app=streamspace-session is what the
// session NetworkPolicy selects.
const (
	LabelApp      = "app"
	AppSession    = "streamspace-session"
	LabelSession  = "stream.space/session"
	LabelTemplate = "stream.space/template"
	containerName = "workspace"
)

// ChildName names every child of a session: Deployment, Service, Ingress.
// One name per Session, so two sessions of one app for one user never
// collide.
func ChildName(s *streamv1.Session) string { return "ss-" + s.Name }

func childLabels(s *streamv1.Session) map[string]string {
	return map[string]string{
		LabelApp:             AppSession,
		users.LabelManagedBy: users.ManagedBy,
		LabelSession:         s.Name,
		users.LabelUser:      s.Spec.User,
		LabelTemplate:        s.Spec.Template,
	}
}

// podTemplate builds the pod of a session from its Template. It is only
// called when a session starts or wakes: a running pod is never rebuilt, so
// a Template change cannot restart someone's session.
func podTemplate(s *streamv1.Session, t *streamv1.Template) corev1.PodTemplateSpec {
	res := quota.EffectiveResources(s, t)
	resources := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	if res.Memory != nil {
		resources.Requests[corev1.ResourceMemory] = *res.Memory
		resources.Limits[corev1.ResourceMemory] = *res.Memory
	}
	if res.CPU != nil {
		resources.Requests[corev1.ResourceCPU] = *res.CPU
		resources.Limits[corev1.ResourceCPU] = *res.CPU
	}

	var ports []corev1.ContainerPort
	for _, p := range t.Spec.Ports {
		ports = append(ports, corev1.ContainerPort{Name: p.Name, ContainerPort: p.ContainerPort, Protocol: corev1.ProtocolTCP})
	}
	env := []corev1.EnvVar{
		{Name: "STREAMSPACE_SESSION", Value: s.Name},
		{Name: "STREAMSPACE_USER", Value: s.Spec.User},
	}
	for _, e := range t.Spec.Env {
		env = append(env, corev1.EnvVar{Name: e.Name, Value: e.Value})
	}

	var volumes []corev1.Volume
	var mounts []corev1.VolumeMount
	for _, m := range t.Spec.VolumeMounts {
		if m.Name == streamv1.HomeVolumeName && !s.WantsHome() {
			// No persistent home asked for: the app still gets a writable
			// (throw-away) folder at the same path.
			volumes = append(volumes, scratchVolume(m))
		} else if m.Name == streamv1.HomeVolumeName {
			volumes = append(volumes, corev1.Volume{Name: m.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: streamv1.HomeVolumeNameFor(s.Spec.User)},
			}})
		} else {
			volumes = append(volumes, scratchVolume(m))
		}
		mounts = append(mounts, corev1.VolumeMount{Name: m.Name, MountPath: m.MountPath})
	}
	if shm := t.Spec.Security.SharedMemory; shm != nil {
		volumes = append(volumes, corev1.Volume{Name: "dshm", VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: shm},
		}})
		mounts = append(mounts, corev1.VolumeMount{Name: "dshm", MountPath: "/dev/shm"})
	}

	probe := t.Spec.ReadinessProbe.DeepCopy()
	if probe == nil {
		probe = &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(t.Spec.Stream.Port)}},
			// Every second (the kubelet's shortest period): the stream is
			// ready, and the session Running, at most a second after the
			// app listens; 6 failures keep the 6 s of silence that marks a
			// running session unready.
			PeriodSeconds:    1,
			FailureThreshold: 6,
		}
	}

	podSecurity := &corev1.PodSecurityContext{
		FSGroup:        ptr.To(ptr.Deref(t.Spec.Security.FSGroup, 1000)),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	// Every session container drops ALL capabilities, root or not: an app
	// gets back only what its Template names (the API allows no more than
	// a runtime's default set).
	containerSecurity := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(ptr.Deref(t.Spec.Security.AllowPrivilegeEscalation, false)),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	for _, c := range t.Spec.Security.AddCapabilities {
		containerSecurity.Capabilities.Add = append(containerSecurity.Capabilities.Add, corev1.Capability(c))
	}
	if ptr.Deref(t.Spec.Security.RunAsNonRoot, true) {
		uid := ptr.Deref(t.Spec.Security.RunAsUser, 1000)
		podSecurity.RunAsNonRoot = ptr.To(true)
		podSecurity.RunAsUser = ptr.To(uid)
		podSecurity.RunAsGroup = podSecurity.FSGroup
	}

	pullPolicy := t.Spec.ImagePullPolicy
	if pullPolicy == "" {
		pullPolicy = corev1.PullIfNotPresent
	}

	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels: childLabels(s),
			Annotations: map[string]string{
				// Which template generation this pod was built from, for
				// debugging "why does my session not have the new image".
				"stream.space/template-generation": strconv.FormatInt(t.Generation, 10),
			},
		},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			EnableServiceLinks:           ptr.To(false),
			// Long enough for an app to flush its profile on SIGTERM, short
			// enough to keep hibernation quick.
			TerminationGracePeriodSeconds: ptr.To[int64](15),
			SecurityContext:               podSecurity,
			Containers: []corev1.Container{{
				Name:            containerName,
				Image:           t.Spec.BaseImage,
				ImagePullPolicy: pullPolicy,
				Ports:           ports,
				Env:             env,
				Resources:       resources,
				VolumeMounts:    mounts,
				ReadinessProbe:  probe,
				SecurityContext: containerSecurity,
			}},
			Volumes: volumes,
		},
	}
}

// DefaultScratchSize bounds a scratch volume whose mount names no
// sizeLimit: a session filling the node's disk is evicted, not the node.
var DefaultScratchSize = resource.MustParse("2Gi")

// scratchVolume is the throw-away volume of a mount that is not a
// persistent home, bounded like every emptyDir of a session.
func scratchVolume(m streamv1.VolumeMount) corev1.Volume {
	size := DefaultScratchSize.DeepCopy()
	if m.SizeLimit != nil {
		size = m.SizeLimit.DeepCopy()
	}
	return corev1.Volume{Name: m.Name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &size}}}
}

// serviceSpec exposes the session's ports inside the cluster; the portal's
// stream proxy is its only client (the NetworkPolicy enforces it).
func serviceSpec(s *streamv1.Session, t *streamv1.Template) corev1.ServiceSpec {
	var ports []corev1.ServicePort
	for _, p := range t.Spec.Ports {
		ports = append(ports, corev1.ServicePort{Name: p.Name, Port: p.ContainerPort, TargetPort: intstr.FromString(p.Name), Protocol: corev1.ProtocolTCP})
	}
	return corev1.ServiceSpec{
		Type:     corev1.ServiceTypeClusterIP,
		Selector: map[string]string{LabelSession: s.Name},
		Ports:    ports,
	}
}

func ingressHost(o IngressOptions, s *streamv1.Session) string {
	return IngressHost(o.HostPattern, s)
}

// IngressHost is the host of a session's Ingress under pattern (the
// agent's --ingress-host): {session} and {user} replaced.
func IngressHost(pattern string, s *streamv1.Session) string {
	return strings.NewReplacer("{session}", s.Name, "{user}", s.Spec.User).Replace(pattern)
}

// maxHostCandidates bounds the lookups one host can cost the portal.
const maxHostCandidates = 8

// SessionsForHost inverts IngressHost for the portal's forward auth: the
// session names host may belong to under pattern. A pattern like
// "{user}-{session}.apps" can split a host more than one way, so every
// split is offered (at most maxHostCandidates); the caller keeps the
// session whose IngressHost is host exactly.
func SessionsForHost(pattern, host string) []string {
	if !strings.Contains(pattern, "{session}") || len(host) > 253 {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	var match func(p, h, session string)
	match = func(p, h, session string) {
		if len(out) >= maxHostCandidates {
			return
		}
		i := strings.IndexByte(p, '{')
		if i < 0 {
			if p == h && session != "" && !seen[session] {
				seen[session] = true
				out = append(out, session)
			}
			return
		}
		if !strings.HasPrefix(h, p[:i]) {
			return
		}
		p, h = p[i:], h[i:]
		name := ""
		for _, ph := range []string{"{session}", "{user}"} {
			if strings.HasPrefix(p, ph) {
				name = ph
			}
		}
		if name == "" { // a literal brace
			if strings.HasPrefix(h, "{") {
				match(p[1:], h[1:], session)
			}
			return
		}
		for n := 1; n <= len(h); n++ {
			v := h[:n]
			if name == "{session}" && session != "" && v != session {
				continue // one session, one value
			}
			next := session
			if name == "{session}" {
				next = v
			}
			match(p[len(name):], h[n:], next)
		}
	}
	match(strings.ToLower(pattern), strings.ToLower(host), "")
	return out
}

// UserHeader carries the caller's name from the portal's forward auth to
// the session, through the Ingress controller.
const UserHeader = "X-StreamSpace-User"

// ingressAnnotations make the Ingress controller ask the portal's forward
// auth before every request to the session; an anonymous browser is sent
// to the session's page on the portal, which signs it in.
func ingressAnnotations(o IngressOptions, portalURL string, s *streamv1.Session) map[string]string {
	switch f := o.ForwardAuth; f.Kind {
	case ForwardAuthNginx:
		a := map[string]string{
			"nginx.ingress.kubernetes.io/auth-url":              f.URL,
			"nginx.ingress.kubernetes.io/auth-response-headers": UserHeader,
		}
		if portalURL != "" {
			a["nginx.ingress.kubernetes.io/auth-signin"] = strings.TrimSuffix(portalURL, "/") + "/session/" + s.Name
		}
		return a
	case ForwardAuthTraefik:
		return map[string]string{"traefik.ingress.kubernetes.io/router.middlewares": f.Middlewares}
	}
	return nil
}

func ingressSpec(o IngressOptions, s *streamv1.Session, t *streamv1.Template) networkingv1.IngressSpec {
	host := ingressHost(o, s)
	pathType := networkingv1.PathTypePrefix
	spec := networkingv1.IngressSpec{
		Rules: []networkingv1.IngressRule{{
			Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{
					Path:     "/",
					PathType: &pathType,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: ChildName(s),
						Port: networkingv1.ServiceBackendPort{Number: t.Spec.Stream.Port},
					}},
				}},
			}},
		}},
	}
	if o.ClassName != "" {
		spec.IngressClassName = ptr.To(o.ClassName)
	}
	if o.TLSSecretName != "" {
		spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: o.TLSSecretName}}
	}
	return spec
}

// deploymentFor returns the Deployment of a session, with replicas set by
// the caller. Recreate, because two pods of one session must never write the
// same app profile at once.
func deploymentFor(s *streamv1.Session, t *streamv1.Template, replicas int32) appsv1.DeploymentSpec {
	return appsv1.DeploymentSpec{
		Replicas:             ptr.To(replicas),
		Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{LabelSession: s.Name}},
		Strategy:             appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
		RevisionHistoryLimit: ptr.To[int32](1),
		Template:             podTemplate(s, t),
	}
}
