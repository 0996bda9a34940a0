package gitsync_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/testenv"
)

// deploy/'s GitSync follows no repository: on a real API server it fails
// closed — Ready=False and Stalled, NotConfigured, saying to set spec.url —
// applying nothing, until the operator sets the URL; then it syncs.
func TestGitSync_deployPlaceholder_failsClosedUntilTheURLIsSet(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx := context.Background()
	ns, err := env.Namespace(ctx, "gs")
	g.Expect(err).NotTo(HaveOccurred())
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "deploy", "agent", "gitsync.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	gs := &streamv1.GitSync{}
	g.Expect(yaml.UnmarshalStrict(data, gs)).To(Succeed())
	g.Expect(gs.Spec.URL).To(BeEmpty(), "deploy/ must not follow a repository by default")
	gs.Namespace = ns
	g.Expect(env.Client.Create(ctx, gs)).To(Succeed())

	got := &streamv1.GitSync{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(gs), got)).To(Succeed())
		ready := cond(got, streamv1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(streamv1.ReasonNotConfigured))
		g.Expect(ready.Message).To(ContainSubstring("set spec.url"))
		g.Expect(cond(got, streamv1.ConditionStalled)).To(HaveField("Status", metav1.ConditionTrue))
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	g.Expect(got.Status.LastAttemptedRevision).To(BeEmpty(), "nothing fetched")
	g.Expect(got.Status.Inventory).To(BeEmpty(), "nothing applied")
	g.Expect(exists(ns, &streamv1.Template{}, "firefox")).To(BeFalse())

	// the operator points it at the platform repository
	// (a merge patch of the spec: the controller may have written the
	// object since it was read, which an Update would refuse with 409)
	r := newRepo(t, ns)
	base := got.DeepCopy()
	got.Spec.URL, got.Spec.Path = r.url, "environments/test"
	g.Expect(env.Client.Patch(ctx, got, client.MergeFrom(base))).To(Succeed())
	waitRevision(t, gs, r.head())
	g.Expect(exists(ns, &streamv1.Template{}, "firefox")).To(BeTrue(), "synced once the URL is set")
}
