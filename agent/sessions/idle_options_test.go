package sessions

import (
	"os"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"
)

// Off (no image) is today's pod, unchanged: the envtest suite runs with
// the reporter on, so its absence is checked here.
func TestIdleReporterOptions_off_leavesThePodAsItWas(t *testing.T) {
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: containerName, Image: "app"}}}
	before := spec.DeepCopy()
	IdleReporterOptions{}.addTo(&spec)
	if !equality.Semantic.DeepEqual(before, &spec) {
		t.Errorf("pod changed with the reporter off: %+v", spec.Containers)
	}
	IdleReporterOptions{Image: "streamspace/idle:1"}.addTo(&spec)
	if len(spec.Containers) != 2 || spec.Containers[1].Name != IdleReporterContainer {
		t.Errorf("reporter on: containers %+v", spec.Containers)
	}
}

// The session NetworkPolicy admits the agent to the reporter's port, and
// to nothing else of a session.
func TestSessionNetworkPolicy_admitsTheAgentToTheReporterOnly(t *testing.T) {
	data, err := os.ReadFile("../../policies/network/session-isolation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var np networkingv1.NetworkPolicy
	if err := yaml.Unmarshal(data, &np); err != nil {
		t.Fatal(err)
	}
	var agentPorts, otherPorts []int32
	for _, rule := range np.Spec.Ingress {
		for _, from := range rule.From {
			for _, p := range rule.Ports {
				if from.PodSelector != nil && from.PodSelector.MatchLabels["app.kubernetes.io/name"] == "streamspace-agent" {
					agentPorts = append(agentPorts, p.Port.IntVal)
				} else {
					otherPorts = append(otherPorts, p.Port.IntVal)
				}
			}
		}
	}
	if !slices.Equal(agentPorts, []int32{IdleReporterOptions{}.port()}) {
		t.Errorf("the agent may reach session ports %v, want only the reporter's %d", agentPorts, IdleReporterOptions{}.port())
	}
	if slices.Contains(otherPorts, IdleReporterOptions{}.port()) {
		t.Errorf("someone besides the agent may reach the reporter: %v", otherPorts)
	}
}
