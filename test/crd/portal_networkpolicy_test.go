package crd

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/streamspace/streamspace/agent/gitsync"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/testenv"
)

// build renders a kustomization of the repository, as the agent does.
func build(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := gitsync.Build(testenv.RepoRoot(), dir)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return objs
}

func find[T any](t *testing.T, objs []*unstructured.Unstructured, kind, name string) *T {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			out := new(T)
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out); err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return nil
}

func selects(t *testing.T, sel metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(&sel)
	if err != nil {
		t.Fatal(err)
	}
	return s.Matches(labels.Set(podLabels))
}

// TestPortalNetworkPolicy_rendersSelectsThePortal_andAllowsOnlyWhatItNeeds
// renders deploy/ (TestOverlays has the API server accept it) and reads the
// portal's policy. Whether a CNI enforces it is for the end-to-end tests
// on a real node, which do not install deploy/ yet.
func TestPortalNetworkPolicy_rendersSelectsThePortal_andAllowsOnlyWhatItNeeds(t *testing.T) {
	objs := build(t, "deploy")
	np := find[networkingv1.NetworkPolicy](t, objs, "NetworkPolicy", "streamspace-portal")
	portal := find[appsv1.Deployment](t, objs, "Deployment", "streamspace-portal")
	if np.Namespace != portal.Namespace {
		t.Fatalf("policy in %q, portal in %q", np.Namespace, portal.Namespace)
	}
	if !selects(t, np.Spec.PodSelector, portal.Spec.Template.Labels) {
		t.Errorf("the policy %v does not select the portal's pods %v", np.Spec.PodSelector, portal.Spec.Template.Labels)
	}
	session := map[string]string{"app": "streamspace-session", "stream.space/session": "x"}
	if selects(t, np.Spec.PodSelector, session) {
		t.Error("the portal's policy selects session pods")
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Errorf("policy types %v: both directions must be restricted", np.Spec.PolicyTypes)
	}

	// no rule opens every port: each names its ports
	for i, r := range np.Spec.Egress {
		if len(r.Ports) == 0 {
			t.Errorf("egress rule %d allows every port to %v", i, r.To)
		}
	}
	for i, r := range np.Spec.Ingress {
		if len(r.Ports) == 0 {
			t.Errorf("ingress rule %d allows every port", i)
		}
	}
	// in: the portal's own port, by its name in the Deployment
	var httpPort int32
	for _, p := range portal.Spec.Template.Spec.Containers[0].Ports {
		if p.Name == "http" {
			httpPort = p.ContainerPort
		}
	}
	if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].Ports) != 1 || np.Spec.Ingress[0].Ports[0].Port.IntVal != httpPort {
		t.Errorf("ingress %+v: want the portal's http port %d alone", np.Spec.Ingress, httpPort)
	}

	// out to session pods: exactly the ports the sessions' policy admits
	// from the portal, and every template's stream port among them
	toSessions := map[int32]bool{}
	for _, r := range np.Spec.Egress {
		for _, peer := range r.To {
			if peer.PodSelector != nil && selects(t, *peer.PodSelector, session) && peer.NamespaceSelector == nil {
				for _, p := range r.Ports {
					toSessions[p.Port.IntVal] = true
				}
			}
		}
	}
	sessions := map[string]bool{}
	iso := find[networkingv1.NetworkPolicy](t, build(t, "environments/prod"), "NetworkPolicy", "session-isolation")
	for _, r := range iso.Spec.Ingress {
		fromPortal := false
		for _, peer := range r.From {
			fromPortal = fromPortal || peer.PodSelector != nil && selects(t, *peer.PodSelector, portal.Spec.Template.Labels)
		}
		if !fromPortal {
			continue // another peer's rule (the agent's, to the idle reporter)
		}
		for _, p := range r.Ports {
			sessions[p.Port.String()] = true
			if !toSessions[p.Port.IntVal] {
				t.Errorf("sessions admit the portal on %s, which the portal may not reach", p.Port.String())
			}
		}
	}
	if len(toSessions) != len(sessions) {
		t.Errorf("the portal reaches sessions on %v, the sessions admit it on %v", toSessions, sessions)
	}
	for _, env := range []string{"environments/local", "environments/dev", "environments/prod"} {
		for _, o := range build(t, env) {
			if o.GetKind() != "Template" {
				continue
			}
			tpl := &streamv1.Template{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, tpl); err != nil {
				t.Fatal(err)
			}
			if !toSessions[tpl.Spec.Stream.Port] {
				t.Errorf("%s: template %s streams on port %d, which the portal may not reach", env, tpl.Name, tpl.Spec.Stream.Port)
			}
		}
	}

	// DNS only to kube-dns; nothing else in the cluster by pod selector
	for _, r := range np.Spec.Egress {
		for _, peer := range r.To {
			if peer.PodSelector == nil {
				continue
			}
			dns := selects(t, *peer.PodSelector, map[string]string{"k8s-app": "kube-dns"})
			if !dns && !selects(t, *peer.PodSelector, session) {
				t.Errorf("egress to pods %v", peer.PodSelector)
			}
			if dns {
				for _, p := range r.Ports {
					if p.Port.IntVal != 53 {
						t.Errorf("egress to kube-dns on %s", p.Port.String())
					}
				}
			}
		}
	}
}
