package observe

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// cacheGauges are computed from the informer cache, which every replica has:
// only the leader may report them.
var cacheGauges = []string{
	"streamspace_active_sessions_total", "streamspace_hibernated_sessions_total", "streamspace_sessions",
	"streamspace_active_users", "streamspace_sessions_past_idle_deadline", "streamspace_cluster_allocatable",
}

// TestLeaderOnly_cacheGaugesComeFromOneReplica runs two agent replicas with
// leader election on one real API server: only the leader reports the
// cache-computed gauges, so sum() over replicas counts each session once;
// when the leader dies, the other replica reports them instead.
func TestLeaderOnly_cacheGaugesComeFromOneReplica(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns, err := env.Namespace(ctx, "leader")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(env.Client.Create(ctx, lightTemplate(ns, "light"))).To(Succeed())
	for _, name := range []string{"s1", "s2", "s3"} {
		g.Expect(env.Client.Create(ctx, &streamv1.Session{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec:       streamv1.SessionSpec{User: "mia", Template: "light"},
		})).To(Succeed())
	}

	replicas := []*agent{startAgent(t, "a", ns), startAgent(t, "b", ns)}
	var leader, follower *agent
	g.Eventually(func(g Gomega) {
		leaders := 0
		for _, a := range replicas {
			s := scrape(a.metrics)
			g.Expect(find(s, "streamspace_agent_leader", nil)).To(HaveLen(1), "replica %s reports whether it leads", a.name)
			if sum(find(s, "streamspace_agent_leader", nil)) == 1 {
				leaders++
				leader = a
			} else {
				follower = a
			}
		}
		g.Expect(leaders).To(Equal(1))
	}, 60*time.Second, 500*time.Millisecond).Should(Succeed())
	t.Logf("leader %s, follower %s", leader.name, follower.name)

	// Three sessions, counted once over both replicas.
	assertCountedOnce := func(lead, follow *agent) {
		g.Eventually(func(g Gomega) {
			all := append(scrape(lead.metrics), scrape(follow.metrics)...)
			g.Expect(sum(find(all, "streamspace_sessions", nil))).To(Equal(3.0))
			g.Expect(sum(find(all, "streamspace_active_users", nil))).To(Equal(1.0))
		}, 30*time.Second, 500*time.Millisecond).Should(Succeed())
		s := scrape(follow.metrics)
		g.Expect(s).NotTo(BeEmpty(), "the follower still serves its own metrics")
		for _, name := range cacheGauges {
			g.Expect(find(s, name, nil)).To(BeEmpty(), "the follower %s must not report %s", follow.name, name)
		}
	}
	assertCountedOnce(leader, follower)

	// The leader dies without releasing its lease: the follower takes over
	// once the lease expires, and reports the gauges from then on.
	leader.kill()
	g.Eventually(func(g Gomega) {
		g.Expect(sum(find(scrape(follower.metrics), "streamspace_agent_leader", nil))).To(Equal(1.0))
	}, 60*time.Second, 500*time.Millisecond).Should(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(sum(find(scrape(follower.metrics), "streamspace_sessions", nil))).To(Equal(3.0))
	}, 30*time.Second, 500*time.Millisecond).Should(Succeed())

	// A user ends a session: counted once, when it reaches Terminated.
	s3 := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s3"}}
	g.Expect(env.Client.Patch(ctx, s3, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"state":"terminated"}}`)))).To(Succeed())
	g.Eventually(func(g Gomega) {
		s := scrape(follower.metrics)
		g.Expect(sum(find(s, "streamspace_sessions", map[string]string{"phase": "Terminated"}))).To(Equal(1.0))
		g.Expect(sum(find(s, "streamspace_session_terminations_total", map[string]string{"reason": "UserRequest"}))).To(Equal(1.0))
	}, 30*time.Second, 500*time.Millisecond).Should(Succeed())
}

func lightTemplate(ns, name string) *streamv1.Template {
	mem, cpu := resource.MustParse("1Gi"), resource.MustParse("500m")
	return &streamv1.Template{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: streamv1.TemplateSpec{
			DisplayName:      "Light desktop",
			Category:         "Utilities",
			BaseImage:        "localhost/streamspace/light:1.0.0",
			ImagePullPolicy:  corev1.PullNever,
			DefaultResources: streamv1.Resources{Memory: &mem, CPU: &cpu},
			Ports:            []streamv1.TemplatePort{{Name: "vnc-ws", ContainerPort: 6080}},
			Stream:           streamv1.StreamSpec{Protocol: streamv1.StreamWebsockifyVNC, Port: 6080, Path: "/websockify"},
			VolumeMounts:     []streamv1.VolumeMount{{Name: streamv1.HomeVolumeName, MountPath: "/home/user"}},
			Security:         streamv1.TemplateSecurity{SharedMemory: ptr.To(resource.MustParse("256Mi"))},
		},
	}
}
