package sessions_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/sessions"
	"github.com/streamspace/streamspace/agent/users"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

func TestSession_launch_createsHomeDeploymentService(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := newNamespace(t)
	mustCreate(t, template(ns, "light"))
	s := session(ns, "alice-light-1", "alice", "light")
	mem := resource.MustParse("1536Mi")
	s.Spec.Resources.Memory = &mem // overrides the template's 1Gi; CPU stays the template's
	mustCreate(t, s)

	var d *appsv1.Deployment
	g.Eventually(func(g Gomega) { d = deploymentOf(g, s) }, 10*time.Second).Should(Succeed())
	g.Expect(*d.Spec.Replicas).To(BeEquivalentTo(1))
	g.Expect(d.Spec.Strategy.Type).To(Equal(appsv1.RecreateDeploymentStrategyType))
	g.Expect(metav1.IsControlledBy(d, getSession(g, ns, s.Name))).To(BeTrue())
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	g.Expect(c.Image).To(Equal("localhost/streamspace/light:1.0.0"))
	g.Expect(c.ImagePullPolicy).To(Equal(corev1.PullNever))
	g.Expect(c.Ports).To(ConsistOf(HaveField("ContainerPort", BeEquivalentTo(6080))))
	g.Expect(c.Env).To(ContainElement(corev1.EnvVar{Name: "GEOMETRY", Value: "1280x800"}))
	g.Expect(c.Resources.Limits.Memory().String()).To(Equal("1536Mi"))
	g.Expect(c.Resources.Requests.Cpu().String()).To(Equal("500m"))
	g.Expect(c.ReadinessProbe.TCPSocket.Port.IntValue()).To(Equal(6080))
	g.Expect(c.VolumeMounts).To(ContainElement(corev1.VolumeMount{Name: streamv1.HomeVolumeName, MountPath: "/home/user"}))
	g.Expect(c.VolumeMounts).To(ContainElement(corev1.VolumeMount{Name: "dshm", MountPath: "/dev/shm"}))
	g.Expect(pod.Volumes).To(ContainElement(HaveField("VolumeSource.PersistentVolumeClaim.ClaimName", "home-alice")))
	g.Expect(*pod.SecurityContext.RunAsNonRoot).To(BeTrue())
	g.Expect(*pod.SecurityContext.RunAsUser).To(BeEquivalentTo(1000))
	g.Expect(*c.SecurityContext.AllowPrivilegeEscalation).To(BeFalse())
	g.Expect(*pod.AutomountServiceAccountToken).To(BeFalse())
	g.Expect(d.Spec.Template.Labels).To(HaveKeyWithValue("app", "streamspace-session"))

	svc := &corev1.Service{}
	g.Eventually(func() error {
		return env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "ss-alice-light-1"}, svc)
	}, 10*time.Second).Should(Succeed())
	g.Expect(svc.Spec.Selector).To(Equal(map[string]string{sessions.LabelSession: s.Name}))
	g.Expect(svc.Spec.Ports[0].Port).To(BeEquivalentTo(6080))

	home := &corev1.PersistentVolumeClaim{}
	g.Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "home-alice"}, home)).To(Succeed())
	g.Expect(home.Spec.AccessModes).To(ConsistOf(corev1.ReadWriteMany))
	g.Expect(*home.Spec.StorageClassName).To(Equal("nfs-client"))
	g.Expect(home.Spec.Resources.Requests.Storage().String()).To(Equal("10Gi"))
	g.Expect(home.OwnerReferences).To(BeEmpty(), "a home volume is never owned by a session")

	// Pending until the Deployment reports an available replica.
	got := waitPhase(t, ns, s.Name, streamv1.PhasePending)
	g.Expect(got.Status.URL).To(BeEmpty())
	g.Expect(condition(got, streamv1.ConditionReconciling)).NotTo(BeNil())
	g.Consistently(func(g Gomega) {
		g.Expect(getSession(g, ns, s.Name).Status.Phase).To(Equal(streamv1.PhasePending))
	}, time.Second, 200*time.Millisecond).Should(Succeed())

	// A pod as the kubelet reports it: scheduled, container started, ready.
	createReadyPod(t, ns, s)
	markAvailable(t, ns, s.Name)
	got = waitPhase(t, ns, s.Name, streamv1.PhaseRunning)
	g.Expect(got.Status.URL).To(Equal("https://streamspace.test/session/alice-light-1"))
	g.Expect(got.Status.PodName).To(Equal("ss-alice-light-1-pod"))
	g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
	g.Expect(got.Status.LastActivity).NotTo(BeNil())
	g.Expect(got.Status.ResourceUsage.Memory).To(Equal("1536Mi"))
	ls := got.Status.LastStart
	g.Expect(ls.Kind).To(Equal("Launch"))
	g.Expect(ls.ScheduledAt).NotTo(BeNil())
	g.Expect(ls.ImageReadyAt).NotTo(BeNil())
	g.Expect(ls.StreamReadyAt).NotTo(BeNil())
	for _, ct := range []string{streamv1.ConditionReady, streamv1.ConditionTemplateResolved, streamv1.ConditionHomeReady} {
		g.Expect(condition(got, ct).Status).To(Equal(metav1.ConditionTrue), ct)
	}
	g.Expect(condition(got, streamv1.ConditionReconciling)).To(BeNil())
}

// createReadyPod creates the pod a Deployment would have, with the status a
// kubelet would report, so the start-phase timestamps can be checked.
func createReadyPod(t *testing.T, ns string, s *streamv1.Session) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sessions.ChildName(s) + "-pod", Labels: map[string]string{
			sessions.LabelSession: s.Name, users.LabelManagedBy: users.ManagedBy,
		}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "workspace", Image: "localhost/streamspace/light:1.0.0"}}},
	}
	mustCreate(t, pod)
	now := metav1.Now()
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodRunning,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "workspace", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}},
	}
	if err := env.Client.Status().Update(context.Background(), pod); err != nil {
		t.Fatalf("update pod status: %v", err)
	}
}

func TestSession_twoSessionsOfOneTemplate_coexist(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := newNamespace(t)
	mustCreate(t, template(ns, "light"))
	a := launchRunning(t, ns, "bob-light-a", "bob", "light")
	b := launchRunning(t, ns, "bob-light-b", "bob", "light")

	g.Expect(a.Status.URL).NotTo(Equal(b.Status.URL))
	da, db := deploymentOf(g, a), deploymentOf(g, b)
	g.Expect(da.UID).NotTo(Equal(db.UID))
	g.Expect(da.Spec.Selector.MatchLabels).NotTo(Equal(db.Spec.Selector.MatchLabels))
	var svcs corev1.ServiceList
	g.Expect(env.Client.List(context.Background(), &svcs, client.InNamespace(ns))).To(Succeed())
	g.Expect(svcs.Items).To(HaveLen(2))
	// Both mount the same home: it is the user's, not the session's.
	for _, d := range []*appsv1.Deployment{da, db} {
		g.Expect(d.Spec.Template.Spec.Volumes).To(ContainElement(HaveField("VolumeSource.PersistentVolumeClaim.ClaimName", "home-bob")))
	}
}

func TestSession_idle_hibernatesAtDeadline_keepsHome_thenWakes(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := newNamespace(t)
	mustCreate(t, template(ns, "light"))
	s := session(ns, "carol-light", "carol", "light")
	s.Spec.IdleTimeout = &metav1.Duration{Duration: time.Minute}
	mustCreate(t, s)
	markAvailable(t, ns, s.Name)
	waitPhase(t, ns, s.Name, streamv1.PhaseRunning)

	// The portal records the last real input under its own field manager
	// (whole seconds, as the API serialises them; rounded up so it is not
	// before the start, which also counts as activity).
	last := metav1.NewTime(time.Now().Truncate(time.Second).Add(time.Second))
	deadline := last.Add(time.Minute)
	writeActivity(t, ns, s.Name, last)

	g.Eventually(func(g Gomega) {
		got := getSession(g, ns, s.Name)
		g.Expect(got.Status.IdleDeadline).NotTo(BeNil())
		g.Expect(got.Status.IdleDeadline.Time).To(BeTemporally("==", deadline))
	}, 5*time.Second, 50*time.Millisecond).Should(Succeed())
	// The controller never overwrites the portal's lastActivity.
	g.Expect(getSession(g, ns, s.Name).Status.LastActivity.Time).To(BeTemporally("==", last.Time))

	// Still running just before the deadline (no early hibernation) …
	time.Sleep(time.Until(deadline.Add(-time.Second)))
	g.Expect(getSession(g, ns, s.Name).Status.LastActivity.Time).To(BeTemporally("==", last.Time))
	g.Expect(getSession(g, ns, s.Name).Spec.State).To(Equal(streamv1.StateRunning))
	// … and hibernated right after it, without any other event: the
	// controller requeued itself for the deadline.
	var hibernatedAt time.Time
	g.Eventually(func(g Gomega) {
		got := getSession(g, ns, s.Name)
		g.Expect(got.Spec.State).To(Equal(streamv1.StateHibernated))
		g.Expect(got.Annotations).To(HaveKeyWithValue(streamv1.StateReasonAnnotation, streamv1.ReasonIdleTimeout))
		hibernatedAt = time.Now()
	}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
	g.Expect(hibernatedAt).To(BeTemporally(">=", deadline))

	g.Eventually(func(g Gomega) {
		g.Expect(*deploymentOf(g, s).Spec.Replicas).To(BeEquivalentTo(0))
	}, 5*time.Second).Should(Succeed())
	markScaledDown(t, ns, s.Name)
	hib := waitPhase(t, ns, s.Name, streamv1.PhaseHibernated)
	g.Expect(hib.Status.URL).To(BeEmpty())
	g.Expect(hib.Status.HibernatedAt).NotTo(BeNil())
	g.Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "home-carol"}, &corev1.PersistentVolumeClaim{})).To(Succeed())
	g.Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: sessions.ChildName(s)}, &corev1.Service{})).To(Succeed())

	// Wake, as the portal or kubectl would: spec.state running.
	g.Expect(setState(t, ns, s.Name, streamv1.StateRunning)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(*deploymentOf(g, s).Spec.Replicas).To(BeEquivalentTo(1))
	}, 5*time.Second).Should(Succeed())
	woke := waitPhase(t, ns, s.Name, streamv1.PhasePending)
	g.Expect(woke.Status.LastStart.Kind).To(Equal("Wake"))
	g.Expect(woke.Status.LastActivity.Time).To(BeTemporally(">", last.Time), "a wake restarts the idle clock")
	markAvailable(t, ns, s.Name)
	waitPhase(t, ns, s.Name, streamv1.PhaseRunning)
}

func writeActivity(t *testing.T, ns, name string, at metav1.Time) {
	t.Helper()
	s := session(ns, name, "", "")
	patch := []byte(`{"status":{"lastActivity":"` + at.UTC().Format(time.RFC3339) + `"}}`)
	if err := env.Client.Status().Patch(context.Background(), s, client.RawPatch("application/merge-patch+json", patch), client.FieldOwner("streamspace-portal")); err != nil {
		t.Fatalf("write lastActivity: %v", err)
	}
}

func TestSession_maxDuration_warnsThenTerminates(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := newNamespace(t)
	mustCreate(t, template(ns, "light"))
	s := session(ns, "dave-light", "dave", "light")
	s.Spec.MaxSessionDuration = &metav1.Duration{Duration: time.Minute} // the warning (5m before) is due at once
	mustCreate(t, s)
	markAvailable(t, ns, s.Name)

	got := waitPhase(t, ns, s.Name, streamv1.PhaseRunning)
	warn := condition(got, streamv1.ConditionExpiringSoon)
	g.Expect(warn).NotTo(BeNil())
	g.Expect(warn.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(warn.Message).To(ContainSubstring("save your work"))
	g.Expect(got.Status.ExpiresAt.Time).To(BeTemporally("==", got.CreationTimestamp.Add(time.Minute)))

	g.Eventually(func(g Gomega) {
		got = getSession(g, ns, s.Name)
		g.Expect(got.Spec.State).To(Equal(streamv1.StateTerminated))
		g.Expect(got.Status.Phase).To(Equal(streamv1.PhaseTerminated))
	}, 75*time.Second, 200*time.Millisecond).Should(Succeed())
	g.Expect(got.Annotations).To(HaveKeyWithValue(streamv1.StateReasonAnnotation, streamv1.ReasonMaxDuration))
	g.Expect(got.Status.TerminatedAt.Time).To(BeTemporally(">=", got.Status.ExpiresAt.Time))
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: sessions.ChildName(s)}, &appsv1.Deployment{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a terminated session runs nothing")
	g.Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "home-dave"}, &corev1.PersistentVolumeClaim{})).To(Succeed())

	// Terminated is final.
	err = setState(t, ns, s.Name, streamv1.StateRunning)
	g.Expect(err).To(MatchError(ContainSubstring("a terminated session cannot be restarted")))
}

func TestSession_delete_removesChildren_keepsHome(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := newNamespace(t)
	mustCreate(t, template(ns, "light"))
	s := launchRunning(t, ns, "erin-light", "erin", "light")

	// Mark the home volume, to prove later that it is the same object and
	// was not deleted and recreated.
	home := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "home-erin"}}
	get(g, home)
	home.Annotations = map[string]string{"test.stream.space/marker": "erins-files"}
	g.Expect(env.Client.Update(context.Background(), home)).To(Succeed())
	uid := home.UID

	g.Expect(env.Client.Delete(context.Background(), s)).To(Succeed())
	g.Eventually(func(g Gomega) {
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(s), &streamv1.Session{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
	}, 10*time.Second).Should(Succeed())
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}} {
		err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "ss-erin-light"}, obj)
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%T still exists", obj)
	}
	g.Consistently(func(g Gomega) {
		kept := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "home-erin"}}
		get(g, kept)
		g.Expect(kept.UID).To(Equal(uid))
		g.Expect(kept.DeletionTimestamp).To(BeNil())
		g.Expect(kept.Annotations).To(HaveKeyWithValue("test.stream.space/marker", "erins-files"))
	}, 2*time.Second, 200*time.Millisecond).Should(Succeed())
}

func TestSession_templateChange_appliesAtNextStartOnly(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := newNamespace(t)
	tpl := template(ns, "light")
	mustCreate(t, tpl)
	s := launchRunning(t, ns, "frank-light", "frank", "light")
	before := deploymentOf(g, s)

	get(g, tpl)
	tpl.Spec.BaseImage = "localhost/streamspace/light:2.0.0"
	g.Expect(env.Client.Update(context.Background(), tpl)).To(Succeed())
	g.Consistently(func(g Gomega) {
		d := deploymentOf(g, s)
		g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("localhost/streamspace/light:1.0.0"))
		g.Expect(d.Generation).To(Equal(before.Generation), "a running session's pod is never rebuilt")
	}, 2*time.Second, 200*time.Millisecond).Should(Succeed())

	g.Expect(setState(t, ns, s.Name, streamv1.StateHibernated)).To(Succeed())
	markScaledDown(t, ns, s.Name)
	waitPhase(t, ns, s.Name, streamv1.PhaseHibernated)
	g.Expect(setState(t, ns, s.Name, streamv1.StateRunning)).To(Succeed())
	g.Eventually(func(g Gomega) {
		d := deploymentOf(g, s)
		g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("localhost/streamspace/light:2.0.0"))
		g.Expect(*d.Spec.Replicas).To(BeEquivalentTo(1))
	}, 5*time.Second).Should(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(getSession(g, ns, s.Name).Status.Image).To(Equal("localhost/streamspace/light:2.0.0"))
	}, 5*time.Second).Should(Succeed())
}

func TestSession_imageCannotStart_failsWithCause(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := newNamespace(t)
	mustCreate(t, template(ns, "light"))
	s := session(ns, "gina-light", "gina", "light")
	mustCreate(t, s)
	waitPhase(t, ns, s.Name, streamv1.PhasePending)

	createWaitingPod(t, s, "localhost/streamspace/light:1.0.0", "ErrImageNeverPull",
		`Container image "localhost/streamspace/light:1.0.0" is not present with pull policy of Never`)

	got := waitPhase(t, ns, s.Name, streamv1.PhaseFailed)
	stalled := condition(got, streamv1.ConditionStalled)
	g.Expect(stalled).NotTo(BeNil())
	g.Expect(stalled.Reason).To(Equal(streamv1.ReasonImageCannotStart))
	g.Expect(stalled.Message).To(ContainSubstring("ErrImageNeverPull"))
	g.Expect(stalled.Message).To(ContainSubstring("is not present"))
}

func TestSession_templateDeletedWhileRunning_keepsRunning(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := newNamespace(t)
	tpl := template(ns, "light")
	mustCreate(t, tpl)
	s := launchRunning(t, ns, "hank-light", "hank", "light")
	g.Expect(env.Client.Delete(context.Background(), tpl)).To(Succeed())
	g.Eventually(func(g Gomega) {
		got := getSession(g, ns, s.Name)
		c := condition(got, streamv1.ConditionTemplateResolved)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Message).To(ContainSubstring(`Template "light" not found`))
	}, 5*time.Second).Should(Succeed())
	g.Consistently(func(g Gomega) {
		g.Expect(getSession(g, ns, s.Name).Status.Phase).To(Equal(streamv1.PhaseRunning))
		g.Expect(*deploymentOf(g, s).Spec.Replicas).To(BeEquivalentTo(1))
	}, 2*time.Second, 200*time.Millisecond).Should(Succeed())
}

func TestSession_quotaRecheck_failsTheNewerStartWithoutTheWebhook(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := newNamespace(t)
	mustCreate(t, template(ns, "light"))
	mustCreate(t, &streamv1.Quota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"},
		Spec: streamv1.QuotaSpec{Default: true, Limits: streamv1.QuotaLimits{MaxRunningSessions: ptr.To[int32](1)}}})

	first := session(ns, "jo-first", "jo", "light")
	first.Labels = map[string]string{BypassWebhookLabel: "true"}
	mustCreate(t, first)
	markAvailable(t, ns, first.Name)
	waitPhase(t, ns, first.Name, streamv1.PhaseRunning)
	before := deploymentOf(g, first)

	second := session(ns, "jo-second", "jo", "light")
	second.Labels = map[string]string{BypassWebhookLabel: "true"} // as if the webhook were not installed
	mustCreate(t, second)
	got := waitPhase(t, ns, second.Name, streamv1.PhaseFailed)
	stalled := condition(got, streamv1.ConditionStalled)
	g.Expect(stalled.Reason).To(Equal(streamv1.ReasonQuotaExceeded))
	g.Expect(stalled.Message).To(ContainSubstring(`quota "default" exceeded: maxRunningSessions: 1 running, limit 1`))
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: sessions.ChildName(second)}, &appsv1.Deployment{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "nothing is started over quota")
	// The Service is written beside the Deployment, but only once the start
	// is allowed.
	err = env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: sessions.ChildName(second)}, &corev1.Service{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no Service over quota")

	// The running session is not harmed.
	after := deploymentOf(g, first)
	g.Expect(after.Generation).To(Equal(before.Generation))
	g.Expect(getSession(g, ns, first.Name).Status.Phase).To(Equal(streamv1.PhaseRunning))
}
