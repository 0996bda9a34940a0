package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// startSession launches a session of template for admin with a scratch
// home (the agent makes its pod, labelled as sessions are), deletes it when
// the test ends, and returns it and its pod once Running.
func startSession(ctx context.Context, t *testing.T, k client.Client, template, prefix string) (*streamv1.Session, *corev1.Pod) {
	t.Helper()
	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: prefix},
		Spec: streamv1.SessionSpec{User: "admin", Template: template, PersistentHome: ptr.To(false)}}
	if err := k.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteSession(t, k, s) })
	waitFor(t, 2*launchTarget, "session "+s.Name+" Running", func() (bool, string) {
		if err := k.Get(ctx, client.ObjectKeyFromObject(s), s); err != nil {
			return false, err.Error()
		}
		return s.Status.Phase == streamv1.PhaseRunning, string(s.Status.Phase) + " " + conditionMessage(s)
	})
	pod := &corev1.Pod{}
	if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: s.Status.PodName}, pod); err != nil {
		t.Fatal(err)
	}
	return s, pod
}

// deleteSession deletes a test's session and waits for its pod to go, so
// the next test starts within the quota.
func deleteSession(t *testing.T, k client.Client, s *streamv1.Session) {
	t.Helper()
	ctx := context.Background()
	if err := k.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete %s: %v", s.Name, err)
	}
	waitFor(t, time.Minute, fmt.Sprintf("session %s and its pod gone", s.Name), func() (bool, string) {
		err := k.Get(ctx, client.ObjectKeyFromObject(s), &streamv1.Session{})
		return apierrors.IsNotFound(err) && podsOf(t, k, s.Name) == 0, fmt.Sprint(err)
	})
}
