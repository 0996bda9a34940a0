package plugins_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/plugins"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/artifact"
	"github.com/streamspace/streamspace/plugins/trust"
	"github.com/streamspace/streamspace/test/gitserver"
)

// slack is a notifier with a configuration schema and a medium-risk
// permission; %s are its version and its module's digest.
const slack = `name: slack
version: %s
type: extension
events: [session.created]
permissions: ["events:session.*", "network:hooks.slack.com"]
configSchema:
  type: object
  properties:
    channel: {type: string}
  required: [channel]
entry:
  wasm:
    module: slack.wasm
    sha256: %s
`

var (
	moduleV1 = []byte("\x00asm\x01\x00\x00\x00 version one")
	moduleV2 = []byte("\x00asm\x01\x00\x00\x00 version two")
)

// slackRepo pushes slack 1.0.0 then 1.1.0 (each with its own module) and
// hibernator 1.0.0 (high risk), trusts the repository up to medium, and
// returns the indexed repository with both revisions.
func slackRepo(t *testing.T, ctx context.Context, ns string) (*gitserver.Repo, *streamv1.PluginRepository, string, string) {
	t.Helper()
	repo := git.NewRepo(t, ns)
	repo.Write("plugins/slack/plugin.yaml", fmt.Sprintf(slack, "1.0.0", artifact.Digest(moduleV1)))
	repo.Write("plugins/slack/slack.wasm", string(moduleV1))
	repo.Write("plugins/hibernator/plugin.yaml", fmt.Sprintf(hibernator, moduleDigest()))
	repo.Write("plugins/hibernator/hibernator.wasm", string(module))
	rev1 := repo.Push("slack 1.0.0")
	repo.Write("plugins/slack/plugin.yaml", fmt.Sprintf(slack, "1.1.0", artifact.Digest(moduleV2)))
	repo.Write("plugins/slack/slack.wasm", string(moduleV2))
	rev2 := repo.Push("slack 1.1.0")
	policy := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: trust.ConfigMapName},
		Data:       map[string]string{trust.Key: "version: 2\ndefaultMaxRisk: low\nrepositories:\n  - name: community\n    maxRisk: medium\n"},
	}
	if err := env.Client.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	pr := indexedAt(t, ctx, newRepository(t, ctx, ns, "community", repo.URL, "plugins"), rev2)
	NewWithT(t).Expect(pr.Status.MaxRisk).To(Equal("medium"))
	return repo, pr, rev1, rev2
}

func newPlugin(ns, name, plugin, version, config string, approved ...string) *streamv1.Plugin {
	p := &streamv1.Plugin{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: streamv1.PluginSpec{Repository: streamv1.LocalObjectReference{Name: "community"}, PluginName: plugin,
			Version: version, Enabled: true, ApprovedPermissions: approved},
	}
	if config != "" {
		p.Spec.Config = &apiextensionsv1.JSON{Raw: []byte(config)}
	}
	return p
}

func create(t *testing.T, ctx context.Context, p *streamv1.Plugin) *streamv1.Plugin {
	t.Helper()
	if err := env.Client.Create(ctx, p); err != nil {
		t.Fatalf("create plugin %s: %v", p.Name, err)
	}
	return p
}

// readyIs waits until the plugin's Ready has status and reason (and
// message when given) and returns the plugin.
func readyIs(t *testing.T, ctx context.Context, p *streamv1.Plugin, status metav1.ConditionStatus, reason, message string) *streamv1.Plugin {
	t.Helper()
	got := &streamv1.Plugin{}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(p), got)).To(Succeed())
		c := conditions.Get(got, streamv1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		g.Expect([]string{string(c.Status), c.Reason}).To(Equal([]string{string(status), reason}), c.Message)
		g.Expect(c.Message).To(ContainSubstring(message))
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	return got
}

// reasonsOf lists the reasons of the events about p, in order.
func reasonsOf(g Gomega, ctx context.Context, p *streamv1.Plugin) []string {
	var list eventsv1.EventList
	g.Expect(env.Client.List(ctx, &list, client.InNamespace(p.Namespace))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "Plugin" && e.Regarding.Name == p.Name {
			out = append(out, e.Reason)
		}
	}
	return out
}

// TestPlugin_install: the current version resolves to the catalog's
// commit, an older one to the newest commit of the history that has it;
// each pins its own module. An unapproved permission keeps the plugin off,
// naming it, until an approval (a spec edit) turns it on; disabling keeps
// it resolved. The signing Secret is created once and never rewritten.
func TestPlugin_install(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx, ns := setup(t)
	_, _, rev1, rev2 := slackRepo(t, ctx, ns)

	p := create(t, ctx, newPlugin(ns, "slack", "slack", "1.1.0", `{"channel":"#ops"}`, "events:session.*"))
	got := readyIs(t, ctx, p, metav1.ConditionFalse, streamv1.ReasonPermissionsPending, "permissions not approved: network:hooks.slack.com")
	g.Expect(got.Status.Revision).To(Equal(rev2))
	g.Expect(got.Status.InstalledVersion).To(Equal("1.1.0"))
	g.Expect(got.Status.Artifact).To(Equal(&streamv1.PluginArtifact{Path: "plugins/slack/slack.wasm", SHA256: artifact.Digest(moduleV2)}))
	g.Expect(got.Status.Permissions).To(Equal([]streamv1.PluginPermission{
		{Name: "events:session.*", Risk: "low", Approved: true}, {Name: "network:hooks.slack.com", Risk: "medium"}}))
	var m map[string]any
	g.Expect(json.Unmarshal(got.Status.Manifest.Raw, &m)).To(Succeed())
	g.Expect(m).To(HaveKeyWithValue("type", "extension"))
	g.Expect(m).To(HaveKey("configSchema"))

	secret := &corev1.Secret{}
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: plugins.SigningSecretName("slack")}, secret)).To(Succeed())
	g.Expect(string(secret.Data[plugins.SigningSecretKey])).To(MatchRegexp(`^[0-9a-f]{64}$`))
	g.Expect(metav1.IsControlledBy(secret, got)).To(BeTrue())

	// The approval is a spec edit (a merged pull request in real life).
	patch := client.MergeFrom(got.DeepCopy())
	got.Spec.ApprovedPermissions = append(got.Spec.ApprovedPermissions, "network:hooks.slack.com")
	g.Expect(env.Client.Patch(ctx, got, patch)).To(Succeed())
	got = readyIs(t, ctx, p, metav1.ConditionTrue, streamv1.ReasonInstalled, "Installed slack 1.1.0 at "+rev2)
	g.Expect(got.Status.Permissions[1].Approved).To(BeTrue())
	again := &corev1.Secret{}
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(secret), again)).To(Succeed())
	g.Expect(again.Data).To(Equal(secret.Data), "the signing secret was rewritten")
	g.Eventually(func(g Gomega) []string { return reasonsOf(g, ctx, got) }, 10*time.Second, 100*time.Millisecond).
		Should(Equal([]string{streamv1.ReasonPermissionsPending, streamv1.ReasonInstalled}))

	// The portal's own condition (server-side apply, its field manager).
	delivering := &streamv1.Plugin{
		TypeMeta:   metav1.TypeMeta{APIVersion: streamv1.GroupVersion.String(), Kind: "Plugin"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: got.Name},
		Status: streamv1.PluginStatus{Conditions: []metav1.Condition{{Type: "Delivering", Status: metav1.ConditionFalse,
			Reason: "RuntimeStopped", Message: "time limit", LastTransitionTime: metav1.Now()}}},
	}
	g.Expect(env.Client.Status().Patch(ctx, delivering, client.Apply, client.FieldOwner("streamspace-portal"), client.ForceOwnership)).To(Succeed())

	// Disabled: still resolved, not ready, saying so; the portal's
	// condition is kept.
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(got), got)).To(Succeed())
	patch = client.MergeFrom(got.DeepCopy())
	got.Spec.Enabled = false
	g.Expect(env.Client.Patch(ctx, got, patch)).To(Succeed())
	got = readyIs(t, ctx, p, metav1.ConditionFalse, streamv1.ReasonDisabled, "disabled")
	g.Expect(got.Status.Revision).To(Equal(rev2))
	g.Expect(conditions.GetReason(got, "Delivering")).To(Equal("RuntimeStopped"))

	// The older version: its own commit and module.
	old := create(t, ctx, newPlugin(ns, "slack-old", "slack", "v1.0.0", `{"channel":"#ops"}`, "events:session.*", "network:hooks.slack.com"))
	got = readyIs(t, ctx, old, metav1.ConditionTrue, streamv1.ReasonInstalled, "Installed slack 1.0.0 at "+rev1)
	g.Expect(got.Status.Revision).To(Equal(rev1))
	g.Expect(got.Status.Artifact.SHA256).To(Equal(artifact.Digest(moduleV1)))

	// A version the repository never had.
	none := create(t, ctx, newPlugin(ns, "slack-none", "slack", "9.9.9", `{"channel":"#ops"}`))
	got = readyIs(t, ctx, none, metav1.ConditionFalse, streamv1.ReasonVersionNotFound, "plugin slack has no version 9.9.9")
	g.Expect(got.Status.Revision).To(BeEmpty())
	g.Expect(conditions.GetMessage(got, streamv1.ConditionReady)).To(ContainSubstring("the catalog's version is 1.1.0"))
}

// TestPlugin_refusals: a permission beyond the repository's trust, a module
// that is not the one its manifest pins, and a configuration the schema
// refuses (an older version, which admission cannot check from the
// catalog) each keep the plugin off with the reason.
func TestPlugin_refusals(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx, ns := setup(t)
	repo, pr, _, _ := slackRepo(t, ctx, ns)

	// Approved by an admin, but the repository is trusted up to medium.
	hib := create(t, ctx, newPlugin(ns, "hibernator", "hibernator", "1.0.0", "", "sessions:hibernate"))
	readyIs(t, ctx, hib, metav1.ConditionFalse, streamv1.ReasonBeyondTrust,
		"PluginRepository community may be granted at most medium-risk permissions; the plugin asks for sessions:hibernate (high)")

	bad := create(t, ctx, newPlugin(ns, "slack-old", "slack", "1.0.0", `{"channel":7}`, "events:session.*", "network:hooks.slack.com"))
	readyIs(t, ctx, bad, metav1.ConditionFalse, streamv1.ReasonConfigInvalid, "spec.config: at '/channel': got number, want string")

	// A module replaced without its manifest's digest: the repository
	// lists the folder as broken, the plugin says which digest is wrong.
	repo.Write("plugins/slack/plugin.yaml", fmt.Sprintf(slack, "1.2.0", artifact.Digest(moduleV2)))
	repo.Write("plugins/slack/slack.wasm", "\x00asm\x01\x00\x00\x00 tampered")
	rev3 := repo.Push("slack 1.2.0")
	patch := client.MergeFrom(pr.DeepCopy())
	pr.Annotations = map[string]string{streamv1.ReconcileRequestAnnotation: "now"}
	g.Expect(env.Client.Patch(ctx, pr, patch)).To(Succeed())
	g.Expect(indexedAt(t, ctx, pr, rev3).Status.Broken).To(HaveLen(1))
	mismatch := create(t, ctx, newPlugin(ns, "slack-new", "slack", "1.2.0", `{"channel":"#ops"}`, "events:session.*", "network:hooks.slack.com"))
	got := readyIs(t, ctx, mismatch, metav1.ConditionFalse, streamv1.ReasonArtifactMismatch,
		"plugins/slack/slack.wasm at main@sha1:")
	g.Expect(conditions.GetMessage(got, streamv1.ConditionReady)).To(MatchRegexp(
		`has sha256 [0-9a-f]{64}, not the pinned ` + regexp.QuoteMeta(artifact.Digest(moduleV2))))
	g.Expect(got.Status.Artifact).To(BeNil())
	g.Expect(conditions.IsTrue(got, streamv1.ConditionStalled)).To(BeTrue())
}

// TestPlugin_webhookRefusesBadConfig: kubectl apply of a Plugin whose
// config breaks the schema of the catalog's version is refused with the
// schema's message, on create and on update; a plugin the catalog does not
// have at that version is admitted with a warning (the controller reports).
func TestPlugin_webhookRefusesBadConfig(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx, ns := setup(t)
	slackRepo(t, ctx, ns)

	err := env.Client.Create(ctx, newPlugin(ns, "slack", "slack", "1.1.0", `{"channel":7}`))
	g.Expect(err).To(MatchError(ContainSubstring(`admission webhook "vplugin.stream.space" denied the request`)))
	g.Expect(err).To(MatchError(ContainSubstring(`spec.config: Invalid value: at '/channel': got number, want string`)))
	err = env.Client.Create(ctx, newPlugin(ns, "slack", "slack", "1.1.0", `{}`))
	g.Expect(err).To(MatchError(ContainSubstring(`missing property 'channel'`)))

	p := create(t, ctx, newPlugin(ns, "slack", "slack", "1.1.0", `{"channel":"#ops"}`))
	patch := client.MergeFrom(p.DeepCopy())
	p.Spec.Config = &apiextensionsv1.JSON{Raw: []byte(`{"channel":"#ops","extra":true,"channel2":["x"]}`)}
	g.Expect(env.Client.Patch(ctx, p, patch)).To(Succeed(), "additional properties are allowed by this schema")
	patch = client.MergeFrom(p.DeepCopy())
	p.Spec.Config = &apiextensionsv1.JSON{Raw: []byte(`{"channel":["#ops"]}`)}
	g.Expect(env.Client.Patch(ctx, p, patch)).To(MatchError(ContainSubstring(`at '/channel': got array, want string`)))

	// Not the catalog's version: admitted, checked by the controller.
	g.Expect(env.Client.Create(ctx, newPlugin(ns, "slack-old", "slack", "1.0.0", `{"channel":7}`))).To(Succeed())
}

// TestPlugin_repositoryUnreachable: when the repository's catalog moves but
// the repository cannot be read, an installed plugin keeps its pinned
// revision and stays Ready, its message and a Warning event saying why; a
// spec change, or a plugin that never resolved, is not ready with
// RepositoryUnavailable.
func TestPlugin_repositoryUnreachable(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ctx, ns := setup(t)
	repo, pr, _, rev2 := slackRepo(t, ctx, ns)
	ok := create(t, ctx, newPlugin(ns, "slack", "slack", "1.1.0", `{"channel":"#ops"}`, "events:session.*", "network:hooks.slack.com"))
	readyIs(t, ctx, ok, metav1.ConditionTrue, streamv1.ReasonInstalled, rev2)

	// A new commit, indexed; then the server loses the repository before
	// the plugin re-resolves (the repository is suspended so the test,
	// not its controller, moves the catalog).
	repo.Write("plugins/README.md", "more\n")
	rev3 := repo.Push("a readme")
	patch := client.MergeFrom(pr.DeepCopy())
	pr.Spec.Suspend = true
	g.Expect(env.Client.Patch(ctx, pr, patch)).To(Succeed())
	g.Expect(os.Rename(filepath.Join(git.Root, ns+".git"), filepath.Join(git.Root, ns+".gone"))).To(Succeed())
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
	patch = client.MergeFrom(pr.DeepCopy())
	pr.Status.LastSyncedRevision = rev3
	for i := range pr.Status.Plugins {
		pr.Status.Plugins[i].Revision = rev3
	}
	g.Expect(env.Client.Status().Patch(ctx, pr, patch)).To(Succeed())

	got := readyIs(t, ctx, ok, metav1.ConditionTrue, streamv1.ReasonInstalled, "the repository could not be read to re-resolve it")
	g.Expect(got.Status.Revision).To(Equal(rev2))
	g.Eventually(func(g Gomega) []string { return reasonsOf(g, ctx, got) }, 10*time.Second, 100*time.Millisecond).
		Should(ContainElement(streamv1.ReasonRepositoryUnavailable))

	// A spec change is never taken without resolving it: withdrawing an
	// approval while the repository cannot be read turns the plugin off.
	patch = client.MergeFrom(got.DeepCopy())
	got.Spec.ApprovedPermissions = []string{"events:session.*"}
	g.Expect(env.Client.Patch(ctx, got, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(ok), got)).To(Succeed())
		g.Expect(conditions.IsFalse(got, streamv1.ConditionReady)).To(BeTrue())
		g.Expect(conditions.GetReason(got, streamv1.ConditionReady)).To(Equal(streamv1.ReasonRepositoryUnavailable))
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())

	fresh := create(t, ctx, newPlugin(ns, "slack-2", "slack", "1.1.0", `{"channel":"#ops"}`, "events:session.*", "network:hooks.slack.com"))
	got = &streamv1.Plugin{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(fresh), got)).To(Succeed())
		g.Expect(conditions.IsFalse(got, streamv1.ConditionReady)).To(BeTrue())
		g.Expect(conditions.GetReason(got, streamv1.ConditionReady)).To(Equal(streamv1.ReasonRepositoryUnavailable))
		g.Expect(conditions.GetMessage(got, streamv1.ConditionReady)).To(ContainSubstring("clone " + repo.URL))
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
}
