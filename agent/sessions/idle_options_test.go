package sessions

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
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
