package plugins_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/plugins"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/trust"
	"github.com/streamspace/streamspace/test/gitserver"
	"github.com/streamspace/streamspace/test/testenv"
)

// notifier is an extension plugin; version is the line-2 field a test
// breaks.
const notifier = `name: notifier
version: %s
type: extension
events: [session.created]
permissions: ["events:session.*", "network:hooks.slack.com"]
entry:
  wasm:
    module: notifier.wasm
    sha256: %s
`

// hibernator asks for a high-risk permission.
const hibernator = `name: hibernator
version: 1.0.0
type: extension
permissions: ["sessions:hibernate"]
entry:
  wasm:
    module: hibernator.wasm
    sha256: %s
`

var module = []byte("\x00asm\x01\x00\x00\x00")

func moduleDigest() string {
	sum := sha256.Sum256(module)
	return hex.EncodeToString(sum[:])
}

func setup(t *testing.T) (context.Context, string) {
	t.Helper()
	ctx := context.Background()
	ns, err := env.Namespace(ctx, "plugins")
	if err != nil {
		t.Fatal(err)
	}
	return ctx, ns
}

func newRepository(t *testing.T, ctx context.Context, ns, name, url, path string) *streamv1.PluginRepository {
	t.Helper()
	pr := &streamv1.PluginRepository{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       streamv1.PluginRepositorySpec{URL: url, Path: path, Interval: metav1.Duration{Duration: time.Hour}},
	}
	if err := env.Client.Create(ctx, pr); err != nil {
		t.Fatal(err)
	}
	return pr
}

// indexedAt waits until the repository published the catalog of revision.
func indexedAt(t *testing.T, ctx context.Context, pr *streamv1.PluginRepository, revision string) *streamv1.PluginRepository {
	t.Helper()
	got := &streamv1.PluginRepository{}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(pr), got)).To(Succeed())
		g.Expect(got.Status.LastSyncedRevision).To(Equal(revision), "%+v", got.Status.Conditions)
		g.Expect(conditions.IsReady(got)).To(BeTrue())
		g.Expect(conditions.GetReason(got, streamv1.ConditionReady)).To(Equal(streamv1.ReasonIndexed))
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	return got
}

func names(pr *streamv1.PluginRepository) map[string]bool {
	out := map[string]bool{}
	for _, p := range pr.Status.Plugins {
		out[p.Name] = p.ExceedsTrust
	}
	return out
}

// TestPluginRepository_catalog: this project's plugin repository in a real
// Git server, plus a broken manifest and a symbolic link out of the
// checkout: the catalog lists every good plugin at its commit, the broken
// ones with file:line, and a pushed fix brings the plugin in.
func TestPluginRepository_catalog(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx, ns := setup(t)
	repo := git.NewRepo(t, ns)
	repo.CopyDir(filepath.Join(testenv.RepoRoot(), "plugins", "repository"), "plugins")
	repo.Write("plugins/notifier/plugin.yaml", fmt.Sprintf(notifier, "one", moduleDigest()))
	repo.Write("plugins/notifier/notifier.wasm", string(module))
	repo.Write("plugins/hibernator/plugin.yaml", fmt.Sprintf(hibernator, moduleDigest()))
	repo.Write("plugins/hibernator/hibernator.wasm", string(module))
	// A plugin whose module is a link to a file outside the repository
	// (with the right digest: only the confinement refuses it).
	outside := filepath.Join(t.TempDir(), "outside.wasm")
	if err := os.WriteFile(outside, module, 0o644); err != nil {
		t.Fatal(err)
	}
	repo.Write("plugins/escape/plugin.yaml", fmt.Sprintf(hibernator, moduleDigest()))
	// Relative, climbing out of wherever the agent checks it out (go-git
	// keeps an absolute link inside the checkout already).
	up := strings.Repeat("../", 32) + strings.TrimPrefix(outside, "/")
	if err := os.Symlink(up, filepath.Join(repo.Work, "plugins/escape/hibernator.wasm")); err != nil {
		t.Fatal(err)
	}
	rev1 := repo.Push("plugins")

	pr := newRepository(t, ctx, ns, "community", repo.URL, "plugins")
	got := indexedAt(t, ctx, pr, rev1)
	// No policy: low risk only, so the audit exporter and the Slack
	// notifier (user events), the session policy and the hibernator
	// (hibernate) are beyond the repository's trust; the theme is not.
	g.Expect(got.Status.MaxRisk).To(Equal("low"))
	g.Expect(names(got)).To(Equal(map[string]bool{"audit-exporter": true, "hibernator": true, "midnight-theme": false,
		"session-policy": true, "slack-notifier": true}))
	for _, p := range got.Status.Plugins {
		g.Expect(p.Revision).To(Equal(rev1))
		if p.Name == "audit-exporter" {
			g.Expect(p.Permissions).To(Equal([]streamv1.CatalogPermission{
				{Name: "events:session.*", Risk: "low"}, {Name: "events:user.*", Risk: "medium", BeyondTrust: true}}))
			g.Expect(string(p.ConfigSchema.Raw)).To(ContainSubstring(`"required":["endpoint"]`))
			g.Expect(p.Events).To(HaveLen(11))
		}
	}
	g.Expect(got.Status.Broken).To(ConsistOf(
		streamv1.BrokenPlugin{Path: "plugins/escape", Problems: []string{
			"plugins/escape/plugin.yaml:1: name hibernator differs from the plugin's folder escape",
			"plugins/escape/plugin.yaml:7: module hibernator.wasm: not in the plugin's folder"}},
		streamv1.BrokenPlugin{Path: "plugins/notifier", Problems: []string{
			`plugins/notifier/plugin.yaml:2: version "one" is not a semantic version (1.2.3)`}},
	))
	g.Expect(conditions.GetMessage(got, streamv1.ConditionReady)).To(ContainSubstring("2 broken: plugins/escape, plugins/notifier"))

	// The fix is pushed; a "reconcile now" (as the push receiver or the
	// portal would write) picks it up.
	repo.Write("plugins/notifier/plugin.yaml", fmt.Sprintf(notifier, "1.0.0", moduleDigest()))
	gitserver.Git(t, repo.Work, "rm", "-q", "-r", "plugins/escape")
	rev2 := repo.Push("fix notifier")
	patch := client.MergeFrom(got.DeepCopy())
	got.Annotations = map[string]string{streamv1.ReconcileRequestAnnotation: "fix"}
	g.Expect(env.Client.Patch(ctx, got, patch)).To(Succeed())
	got = indexedAt(t, ctx, pr, rev2)
	g.Expect(got.Status.Broken).To(BeEmpty())
	g.Expect(names(got)).To(HaveKey("notifier"))
	g.Expect(names(got)).To(HaveLen(6))

	// The policy trusts this repository up to medium: the audit exporter
	// and the notifier may now be granted what they ask, the hibernator
	// (high) still may not. No fetch is needed for that.
	policy := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: trust.ConfigMapName},
		Data:       map[string]string{trust.Key: "version: 2\ndefaultMaxRisk: low\nrepositories:\n  - name: community\n    maxRisk: medium\n"},
	}
	g.Expect(env.Client.Create(ctx, policy)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(pr), got)).To(Succeed())
		g.Expect(got.Status.MaxRisk).To(Equal("medium"))
		g.Expect(names(got)).To(Equal(map[string]bool{"audit-exporter": false, "hibernator": true, "midnight-theme": false, "notifier": false,
			"session-policy": true, "slack-notifier": false}))
		g.Expect(got.Status.LastSyncedRevision).To(Equal(rev2))
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
}

// TestPluginRepository_refusals: an unreachable repository, a path that is
// not in it and an unreadable policy each leave the repository not Ready
// with the reason.
func TestPluginRepository_refusals(t *testing.T) {
	t.Parallel()
	ctx, ns := setup(t)
	repo := git.NewRepo(t, ns)
	repo.Write("README.md", "no plugins here\n")
	repo.Push("empty")

	for _, tc := range []struct {
		name, url, path, reason, message string
		stalled                          bool
	}{
		{"missing", git.URL + "/nothing.git", "", streamv1.ReasonFetchFailed, "list refs of " + git.URL + "/nothing.git", false},
		{"no-path", repo.URL, "plugins", streamv1.ReasonValidationFailed, `path "plugins" is not a folder of the repository`, true},
	} {
		pr := newRepository(t, ctx, ns, tc.name, tc.url, tc.path)
		expectNotReady(t, ctx, pr, tc.reason, tc.message, tc.stalled)
	}

	// The policy breaks: every repository of the namespace stalls on it.
	policy := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: trust.ConfigMapName},
		Data:       map[string]string{trust.Key: "version: 2\ndefaultMaxRisk: hihg\n"},
	}
	NewWithT(t).Expect(env.Client.Create(ctx, policy)).To(Succeed())
	pr := newRepository(t, ctx, ns, "root", repo.URL, "")
	expectNotReady(t, ctx, pr, streamv1.ReasonPolicyInvalid, `defaultMaxRisk: unknown risk "hihg"`, true)
}

func expectNotReady(t *testing.T, ctx context.Context, pr *streamv1.PluginRepository, reason, message string, stalled bool) {
	t.Helper()
	got := &streamv1.PluginRepository{}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(pr), got)).To(Succeed())
		g.Expect(conditions.IsFalse(got, streamv1.ConditionReady)).To(BeTrue(), "%+v", got.Status.Conditions)
		g.Expect(conditions.GetReason(got, streamv1.ConditionReady)).To(Equal(reason))
		g.Expect(conditions.GetMessage(got, streamv1.ConditionReady)).To(ContainSubstring(message))
		g.Expect(conditions.IsTrue(got, streamv1.ConditionStalled)).To(Equal(stalled))
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
}

// TestPluginRepository_tooManyPlugins: a repository cannot make the catalog
// outgrow the object: plugins beyond MaxPlugins are listed as broken.
func TestPluginRepository_tooManyPlugins(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx, ns := setup(t)
	repo := git.NewRepo(t, ns)
	for i := range plugins.MaxPlugins + 1 {
		name := fmt.Sprintf("theme-%03d", i)
		repo.Write(name+"/plugin.yaml", fmt.Sprintf("name: %s\nversion: 1.0.0\ntype: ui-theme\nentry:\n  theme:\n    palette: {primary: '#000000'}\n", name))
	}
	rev := repo.Push("many themes")
	got := indexedAt(t, ctx, newRepository(t, ctx, ns, "many", repo.URL, ""), rev)
	g.Expect(got.Status.Plugins).To(HaveLen(plugins.MaxPlugins))
	g.Expect(got.Status.Broken).To(Equal([]streamv1.BrokenPlugin{{Path: "theme-100",
		Problems: []string{"theme-100: not indexed: a repository publishes at most 100 plugins"}}}))
}
