package soak

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/fluxcd/pkg/runtime/conditions"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/sessions"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// audit is what the agent left in a namespace, read straight from the API
// server.
type audit struct {
	sessions int
	running  int
	// failed are sessions the agent gave up on, each with its reason; a
	// failure without a reason is a mismatch.
	failed     []string
	lost       []string // home volumes seen earlier that are gone or replaced
	orphans    []string // children without a live Session controlling them
	duplicates []string // sessions with more than one Deployment
	mismatches []string // sessions whose status does not match spec or children
}

func (a audit) clean() bool {
	return len(a.lost)+len(a.orphans)+len(a.duplicates)+len(a.mismatches) == 0
}

func (a audit) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sessions checked %d (running %d, failed %d), objects lost %d, orphans %d, duplicate deployments %d, mismatches %d",
		a.sessions, a.running, len(a.failed), len(a.lost), len(a.orphans), len(a.duplicates), len(a.mismatches))
	for _, l := range []struct {
		name  string
		items []string
	}{{"failed", a.failed}, {"lost", a.lost}, {"orphan", a.orphans}, {"duplicate", a.duplicates}, {"mismatch", a.mismatches}} {
		for i, s := range l.items {
			if i == 10 {
				fmt.Fprintf(&b, "\n  %s: … %d more", l.name, len(l.items)-i)
				break
			}
			fmt.Fprintf(&b, "\n  %s: %s", l.name, s)
		}
	}
	return b.String()
}

// auditNamespace checks, in ns:
//   - every home volume in homes (user → the UID first seen) still exists,
//     with the same UID and not being deleted;
//   - every Deployment and Service has a controller owner reference to a
//     Session that exists with that UID and is not being deleted (the API
//     server has no garbage collector here, so an orphan stays visible);
//   - no Session has more than one Deployment;
//   - every Session not being deleted is in the phase its spec asks for
//     (or Failed with a reason, when allowFailed), and its children say the
//     same: Running has an available Deployment of one replica, a Service
//     and its home volume; Hibernated has its Deployment at zero replicas
//     and none left running.
func auditNamespace(ctx context.Context, c client.Reader, ns string, homes map[string]types.UID, allowFailed bool) (audit, error) {
	var a audit
	var sl streamv1.SessionList
	var dl appsv1.DeploymentList
	var svcl corev1.ServiceList
	var pl corev1.PersistentVolumeClaimList
	for _, l := range []client.ObjectList{&sl, &dl, &svcl, &pl} {
		if err := c.List(ctx, l, client.InNamespace(ns)); err != nil {
			return a, err
		}
	}
	live := map[types.UID]*streamv1.Session{}
	for i := range sl.Items {
		if s := &sl.Items[i]; s.DeletionTimestamp.IsZero() {
			live[s.UID] = s
		}
	}
	pvcs := map[string]*corev1.PersistentVolumeClaim{}
	for i := range pl.Items {
		pvcs[pl.Items[i].Name] = &pl.Items[i]
	}
	for _, user := range sortedKeys(homes) {
		name := streamv1.HomeVolumeNameFor(user)
		switch p := pvcs[name]; {
		case p == nil:
			a.lost = append(a.lost, fmt.Sprintf("home volume %s of %s is gone", name, user))
		case p.UID != homes[user]:
			a.lost = append(a.lost, fmt.Sprintf("home volume %s of %s was deleted and made again (uid %s, first seen %s)", name, user, p.UID, homes[user]))
		case !p.DeletionTimestamp.IsZero():
			a.lost = append(a.lost, fmt.Sprintf("home volume %s of %s is being deleted", name, user))
		}
	}

	deploys := map[types.UID][]*appsv1.Deployment{}
	services := map[types.UID]*corev1.Service{}
	children := func(kind string, obj metav1.Object) *streamv1.Session {
		ref := metav1.GetControllerOf(obj)
		if ref == nil || ref.Kind != "Session" {
			a.orphans = append(a.orphans, fmt.Sprintf("%s %s has no Session controlling it", kind, obj.GetName()))
			return nil
		}
		s := live[ref.UID]
		if s == nil {
			a.orphans = append(a.orphans, fmt.Sprintf("%s %s belongs to Session %s (uid %s), which is gone or being deleted", kind, obj.GetName(), ref.Name, ref.UID))
		}
		return s
	}
	for i := range dl.Items {
		if s := children("Deployment", &dl.Items[i]); s != nil {
			deploys[s.UID] = append(deploys[s.UID], &dl.Items[i])
		}
	}
	for i := range svcl.Items {
		if s := children("Service", &svcl.Items[i]); s != nil {
			services[s.UID] = &svcl.Items[i]
		}
	}

	for i := range sl.Items {
		s := &sl.Items[i]
		if !s.DeletionTimestamp.IsZero() {
			continue
		}
		a.sessions++
		ds := deploys[s.UID]
		if len(ds) > 1 {
			a.duplicates = append(a.duplicates, fmt.Sprintf("session %s has %d Deployments", s.Name, len(ds)))
		}
		var d *appsv1.Deployment
		if len(ds) > 0 {
			d = ds[0]
		}
		if problem := sessionMismatch(s, d, services[s.UID], pvcs, allowFailed); problem != "" {
			a.mismatches = append(a.mismatches, fmt.Sprintf("session %s: %s", s.Name, problem))
		}
		switch s.Status.Phase {
		case streamv1.PhaseRunning:
			a.running++
		case streamv1.PhaseFailed:
			a.failed = append(a.failed, fmt.Sprintf("session %s: %s: %s", s.Name,
				conditions.GetReason(s, streamv1.ConditionStalled), conditions.GetMessage(s, streamv1.ConditionStalled)))
		}
	}
	return a, nil
}

// sessionMismatch says how a session's status disagrees with its spec or
// its children, or "" when it does not.
func sessionMismatch(s *streamv1.Session, d *appsv1.Deployment, svc *corev1.Service, pvcs map[string]*corev1.PersistentVolumeClaim, allowFailed bool) string {
	if d != nil && d.Name != sessions.ChildName(s) {
		return fmt.Sprintf("controls Deployment %s, not %s", d.Name, sessions.ChildName(s))
	}
	replicas := int32(-1)
	if d != nil {
		replicas = ptr.Deref(d.Spec.Replicas, 1)
	}
	phase := s.Status.Phase
	switch want := s.DesiredState(); {
	case phase == streamv1.PhaseFailed && allowFailed:
		if conditions.GetReason(s, streamv1.ConditionStalled) == "" {
			return "Failed without a Stalled reason"
		}
		return ""
	case want == streamv1.StateRunning && phase != streamv1.PhaseRunning,
		want == streamv1.StateHibernated && phase != streamv1.PhaseHibernated,
		want == streamv1.StateTerminated:
		return fmt.Sprintf("spec.state %s but phase %q (conditions %s)", want, phase, conditionsOf(s))
	case phase == streamv1.PhaseRunning:
		switch {
		case d == nil:
			return "Running without a Deployment"
		case replicas != 1 || d.Status.AvailableReplicas < 1:
			return fmt.Sprintf("Running but its Deployment has %d replicas, %d available", replicas, d.Status.AvailableReplicas)
		case svc == nil:
			return "Running without a Service"
		case s.WantsHome() && pvcs[streamv1.HomeVolumeNameFor(s.Spec.User)] == nil:
			return "Running without its home volume"
		case !conditions.IsTrue(s, streamv1.ConditionReady) || s.Status.URL == "":
			return fmt.Sprintf("Running but not Ready or without a URL (conditions %s)", conditionsOf(s))
		}
	case phase == streamv1.PhaseHibernated:
		if d != nil && (replicas != 0 || d.Status.Replicas != 0) {
			return fmt.Sprintf("Hibernated but its Deployment has %d replicas, %d running", replicas, d.Status.Replicas)
		}
		if s.Status.URL != "" {
			return "Hibernated with a URL"
		}
	}
	return ""
}

func conditionsOf(s *streamv1.Session) string {
	var parts []string
	for _, c := range s.Status.Conditions {
		parts = append(parts, fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
