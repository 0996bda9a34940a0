package quota_test

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/quota"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

func setup(t *testing.T, limits streamv1.QuotaLimits) string {
	t.Helper()
	ns, err := env.Namespace(context.Background(), "q")
	if err != nil {
		t.Fatal(err)
	}
	mem, cpu := resource.MustParse("2Gi"), resource.MustParse("1")
	create(t, &streamv1.Template{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "firefox"},
		Spec: streamv1.TemplateSpec{
			DisplayName: "Firefox", Category: "Web Browsers", BaseImage: "lscr.io/linuxserver/firefox:1.0.0",
			DefaultResources: streamv1.Resources{Memory: &mem, CPU: &cpu},
			Ports:            []streamv1.TemplatePort{{Name: "http", ContainerPort: 3000}},
			Stream:           streamv1.StreamSpec{Protocol: streamv1.StreamSelkies, Port: 3000},
		},
	})
	create(t, &streamv1.Quota{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"},
		Spec:       streamv1.QuotaSpec{Default: true, Limits: limits},
	})
	return ns
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

func newSession(ns, name string, state streamv1.SessionState) *streamv1.Session {
	return &streamv1.Session{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       streamv1.SessionSpec{User: "alice", Template: "firefox", State: state},
	}
}

func setState(ns, name string, state streamv1.SessionState) error {
	s := newSession(ns, name, "")
	return env.Client.Patch(context.Background(), s, client.RawPatch("application/merge-patch+json", []byte(fmt.Sprintf(`{"spec":{"state":%q}}`, state))))
}

func TestWebhook_maxSessions_deniesTheNextOne(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := setup(t, streamv1.QuotaLimits{MaxSessions: ptr.To[int32](2)})
	ctx := context.Background()
	g.Expect(env.Client.Create(ctx, newSession(ns, "s1", streamv1.StateRunning))).To(Succeed())
	g.Expect(env.Client.Create(ctx, newSession(ns, "s2", streamv1.StateHibernated))).To(Succeed())

	err := env.Client.Create(ctx, newSession(ns, "s3", streamv1.StateRunning))
	g.Expect(err).To(MatchError(ContainSubstring(`quota "default" exceeded: maxSessions: 2 sessions, limit 2`)))
	g.Expect(quota.RefusalCause(err)).To(Equal(quota.CauseQuotaExceeded), "the cause survives the API server, for the portal to map")
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "s3"}, &streamv1.Session{})).NotTo(Succeed())

	// A terminated session frees its place.
	g.Expect(setState(ns, "s1", streamv1.StateTerminated)).To(Succeed())
	g.Expect(env.Client.Create(ctx, newSession(ns, "s3", streamv1.StateRunning))).To(Succeed())
}

func TestWebhook_wakeOverRunningLimit_isDenied(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := setup(t, streamv1.QuotaLimits{MaxSessions: ptr.To[int32](3), MaxRunningSessions: ptr.To[int32](1)})
	ctx := context.Background()
	g.Expect(env.Client.Create(ctx, newSession(ns, "running", streamv1.StateRunning))).To(Succeed())
	g.Expect(env.Client.Create(ctx, newSession(ns, "asleep", streamv1.StateHibernated))).To(Succeed())

	err := env.Client.Create(ctx, newSession(ns, "second", streamv1.StateRunning))
	g.Expect(err).To(MatchError(ContainSubstring("maxRunningSessions: 1 running, limit 1; hibernate or terminate a running session to start another")))

	err = setState(ns, "asleep", streamv1.StateRunning)
	g.Expect(err).To(MatchError(ContainSubstring("maxRunningSessions: 1 running, limit 1")))
	s := &streamv1.Session{}
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "asleep"}, s)).To(Succeed())
	g.Expect(s.Spec.State).To(Equal(streamv1.StateHibernated), "a denied wake changes nothing")

	g.Expect(setState(ns, "running", streamv1.StateHibernated)).To(Succeed())
	g.Expect(setState(ns, "asleep", streamv1.StateRunning)).To(Succeed())
}

func TestWebhook_memoryAndCPU_countRunningSessionsOnly(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := setup(t, streamv1.QuotaLimits{Memory: ptr.To(resource.MustParse("5Gi")), CPU: ptr.To(resource.MustParse("4"))})
	ctx := context.Background()
	g.Expect(env.Client.Create(ctx, newSession(ns, "a", streamv1.StateRunning))).To(Succeed())
	g.Expect(env.Client.Create(ctx, newSession(ns, "b", streamv1.StateRunning))).To(Succeed())
	err := env.Client.Create(ctx, newSession(ns, "c", streamv1.StateRunning))
	g.Expect(err).To(MatchError(ContainSubstring("memory: 4Gi running + 2Gi requested, limit 5Gi")))

	small := newSession(ns, "c", streamv1.StateRunning)
	small.Spec.Resources.Memory = ptr.To(resource.MustParse("1Gi"))
	g.Expect(env.Client.Create(ctx, small)).To(Succeed())
	g.Expect(env.Client.Create(ctx, newSession(ns, "d", streamv1.StateHibernated))).To(Succeed(), "hibernated sessions hold no memory")

	g.Expect(setState(ns, "c", streamv1.StateHibernated)).To(Succeed())
	bigCPU := newSession(ns, "e", streamv1.StateRunning)
	bigCPU.Spec.Resources.CPU = ptr.To(resource.MustParse("3"))
	bigCPU.Spec.Resources.Memory = ptr.To(resource.MustParse("512Mi"))
	g.Expect(env.Client.Create(ctx, bigCPU)).To(MatchError(ContainSubstring("cpu: 2 running + 3 requested, limit 4")))
}

func TestWebhook_maxSessionDuration_overQuota_isDenied(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := setup(t, streamv1.QuotaLimits{MaxSessionDuration: &metav1.Duration{Duration: 8 * 3600e9}})
	s := newSession(ns, "long", streamv1.StateRunning)
	s.Spec.MaxSessionDuration = &metav1.Duration{Duration: 12 * 3600e9}
	g.Expect(env.Client.Create(context.Background(), s)).To(MatchError(ContainSubstring("maxSessionDuration: 12h0m0s requested, limit 8h0m0s")))
}

func TestWebhook_unknownTemplate_isRejectedByName(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := setup(t, streamv1.QuotaLimits{})
	s := newSession(ns, "s", streamv1.StateRunning)
	s.Spec.Template = "no-such-app"
	g.Expect(env.Client.Create(context.Background(), s)).To(MatchError(ContainSubstring(`spec.template: Invalid value: null: template "no-such-app" not found in namespace ` + ns)))
}

func TestWebhook_disabledUser_isDenied(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := setup(t, streamv1.QuotaLimits{})
	create(t, &streamv1.User{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice"}, Spec: streamv1.UserSpec{Disabled: true}})
	err := env.Client.Create(context.Background(), newSession(ns, "s", streamv1.StateRunning))
	g.Expect(err).To(MatchError(ContainSubstring("user is disabled: alice")))
	g.Expect(quota.RefusalCause(err)).To(Equal(quota.CauseUserDisabled))
}

func TestWebhook_userQuotaBeatsGroupBeatsDefault(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := setup(t, streamv1.QuotaLimits{MaxRunningSessions: ptr.To[int32](1)})
	create(t, &streamv1.User{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice"}, Spec: streamv1.UserSpec{Groups: []string{"developers"}}})
	create(t, &streamv1.Quota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "developers"},
		Spec: streamv1.QuotaSpec{Groups: []string{"developers"}, Limits: streamv1.QuotaLimits{MaxRunningSessions: ptr.To[int32](2)}}})
	ctx := context.Background()
	g.Expect(env.Client.Create(ctx, newSession(ns, "a", streamv1.StateRunning))).To(Succeed())
	g.Expect(env.Client.Create(ctx, newSession(ns, "b", streamv1.StateRunning))).To(Succeed(), "the group quota allows 2")
	g.Expect(env.Client.Create(ctx, newSession(ns, "c", streamv1.StateRunning))).To(MatchError(ContainSubstring(`quota "developers" exceeded: maxRunningSessions`)))

	create(t, &streamv1.Quota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice-only"},
		Spec: streamv1.QuotaSpec{Users: []string{"alice"}, Limits: streamv1.QuotaLimits{MaxRunningSessions: ptr.To[int32](3)}}})
	g.Expect(env.Client.Create(ctx, newSession(ns, "c", streamv1.StateRunning))).To(Succeed(), "a quota naming the user beats the group's")
}
