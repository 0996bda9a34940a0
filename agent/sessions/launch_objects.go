package sessions

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// LaunchObjects returns the Deployment and Service a launch of s creates
// from t, without owner references: what `make bench-controller`'s bare
// client-go writer writes, so that its baseline is the same objects the
// controller writes and not a lighter stand-in.
func LaunchObjects(s *streamv1.Session, t *streamv1.Template) (*appsv1.Deployment, *corev1.Service) {
	meta := metav1.ObjectMeta{Name: ChildName(s), Namespace: s.Namespace, Labels: childLabels(s)}
	d := &appsv1.Deployment{ObjectMeta: *meta.DeepCopy(), Spec: deploymentFor(s, t, 1)}
	return d, &corev1.Service{ObjectMeta: *meta.DeepCopy(), Spec: serviceSpec(s, t)}
}
