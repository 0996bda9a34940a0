package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/streamspace/streamspace/agent/gitsync"
	"github.com/streamspace/streamspace/agent/validate"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/testenv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func template(name, image, memory string) string {
	return `apiVersion: stream.space/v1alpha1
kind: Template
metadata:
  name: ` + name + `
spec:
  displayName: ` + name + `
  category: "3D"
  baseImage: ` + image + `
  defaultResources: {memory: ` + memory + `}
  ports: [{name: http, containerPort: 3000}]
  stream: {protocol: Selkies, port: 3000}
`
}

func quotaYAML(maxSessions, memory string) string {
	return `apiVersion: stream.space/v1alpha1
kind: Quota
metadata:
  name: default
spec:
  default: true
  limits: {maxSessions: ` + maxSessions + `, memory: ` + memory + `}
`
}

func netpol(port string) string {
	return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: session-isolation
spec:
  podSelector: {matchLabels: {app: session}}
  policyTypes: [Ingress]
  ingress: [{ports: [{port: ` + port + `}]}]
`
}

// livePlatform is a live platform with sessions in it, and a pull request
// against it checked out in repo: see TestValidate_impact for what it
// changes.
type livePlatform struct {
	repo, kubeconfig, ns string
	c                    client.Client
}

func newLivePlatform(t *testing.T) *livePlatform {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short mode: starts an API server")
	}
	env, err := testenv.Start(false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()
	ns, err := env.Namespace(ctx, "impact")
	if err != nil {
		t.Fatal(err)
	}
	c := env.Client

	gs := &streamv1.GitSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "platform"},
		Spec: streamv1.GitSyncSpec{URL: "https://git.example/platform.git", Path: "environments/prod", Prune: true, Interval: metav1.Duration{Duration: 3600e9}}}
	if err := c.Create(ctx, gs); err != nil {
		t.Fatal(err)
	}
	// The live platform, applied as the agent applies (its field manager
	// and owner labels), with the matching inventory.
	var inventory []streamv1.InventoryEntry
	for _, doc := range []string{
		template("firefox", "lscr.io/linuxserver/firefox:1.0", "2Gi"),
		template("gimp", "lscr.io/linuxserver/gimp:1.0", "1Gi"),
		template("oldapp", "lscr.io/linuxserver/oldapp:1.0", "1Gi"),
		template("unused", "lscr.io/linuxserver/unused:1.0", "1Gi"),
		quotaYAML("3", "8Gi"),
		netpol("3000"),
	} {
		u := &unstructured.Unstructured{}
		if err := sigsyaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		u.SetNamespace(ns)
		gitsync.SetOwner([]*unstructured.Unstructured{u}, gs)
		if err := c.Patch(ctx, u, client.Apply, client.FieldOwner(gitsync.FieldManager), client.ForceOwnership); err != nil {
			t.Fatalf("apply %s: %v", u.GetName(), err)
		}
		inventory = append(inventory, streamv1.InventoryEntry{ID: gitsync.ID(u), Version: u.GroupVersionKind().Version})
	}
	gs.Status.Inventory = inventory
	if err := c.Status().Update(ctx, gs); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ name, user, template string }{
		{"ann-ff", "ann", "firefox"},
		{"ann-old", "ann", "oldapp"},
		{"bob-ff", "bob", "firefox"},
		{"bob-done", "bob", "oldapp"},
	} {
		sess := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: s.name}, Spec: streamv1.SessionSpec{User: s.user, Template: s.template}}
		switch s.name {
		case "ann-old":
			sess.Spec.State = streamv1.StateHibernated
		case "bob-done":
			sess.Spec.State = streamv1.StateTerminated // holds nothing
		}
		if err := c.Create(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}

	// The pull request: firefox bumped, newapp added, oldapp and unused
	// removed, the quota lowered, the policy opens 3001.
	repo := t.TempDir()
	for path, content := range map[string]string{
		"catalog/kustomization.yaml":           "resources: [firefox.yaml, gimp.yaml, newapp.yaml]\n",
		"catalog/firefox.yaml":                 template("firefox", "lscr.io/linuxserver/firefox:2.0", "2Gi"),
		"catalog/gimp.yaml":                    template("gimp", "lscr.io/linuxserver/gimp:1.0", "1Gi"),
		"catalog/newapp.yaml":                  template("newapp", "lscr.io/linuxserver/newapp:1.0", "1Gi"),
		"policies/kustomization.yaml":          "resources: [quota.yaml, netpol.yaml]\n",
		"policies/quota.yaml":                  quotaYAML("1", "1Gi"),
		"policies/netpol.yaml":                 netpol("3001"),
		"environments/prod/kustomization.yaml": "resources: [../../catalog, ../../policies]\n",
	} {
		if err := os.MkdirAll(filepath.Join(repo, filepath.Dir(path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, path), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	user, err := env.AddUser(envtest.User{Name: "impact", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return &livePlatform{repo: repo, kubeconfig: kubeconfig, ns: ns, c: c}
}

// A pull request against a live platform with sessions in it, forecast by
// `validate --impact` against a real API server: a template in use is
// removed (prune must keep it), one unused is removed (prune deletes it),
// one is changed while sessions run it, one is new, one is left as is
// (server-side defaults must not show as a change), the default quota is
// lowered below a user's use, and a network policy opens another port.
func TestValidate_impact(t *testing.T) {
	p := newLivePlatform(t)
	repo, kubeconfig, ns, c, ctx := p.repo, p.kubeconfig, p.ns, p.c, context.Background()
	run := func(args ...string) string {
		t.Helper()
		cmd := validateCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append([]string{repo, "--impact", "--kubeconfig", kubeconfig, "-n", ns}, args...))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("validate --impact %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}

	var got validate.Impact
	if err := json.Unmarshal([]byte(run("--output", "json")), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.GitSyncs) != 1 {
		t.Fatalf("want one GitSync, got %+v", got)
	}
	want := validate.SyncImpact{
		GitSync: ns + "/platform", Path: "environments/prod",
		Templates: []validate.TemplateImpact{
			{ObjectChange: validate.ObjectChange{Name: "firefox", Change: "changed", Fields: []string{"spec.baseImage"}},
				Sessions: []validate.SessionUse{{Name: "ann-ff", User: "ann", State: "running"}, {Name: "bob-ff", User: "bob", State: "running"}}},
			{ObjectChange: validate.ObjectChange{Name: "newapp", Change: "added"}, Sessions: []validate.SessionUse{}},
			{ObjectChange: validate.ObjectChange{Name: "oldapp", Change: "removed"}, Sessions: []validate.SessionUse{{Name: "ann-old", User: "ann", State: "hibernated"}}},
			{ObjectChange: validate.ObjectChange{Name: "unused", Change: "removed"}, Sessions: []validate.SessionUse{}},
		},
		Quotas: []validate.ObjectChange{{Name: "default", Change: "changed", Fields: []string{"spec.limits.maxSessions", "spec.limits.memory"}}},
		// ann: two live sessions (one hibernated), 2Gi running; bob: one
		// running session of 2Gi (his terminated one counts for nothing).
		OverQuota: []validate.Overage{
			{User: "ann", Quota: "default", Limit: "maxSessions", Used: "2 sessions", Max: "1", Over: "1"},
			{User: "ann", Quota: "default", Limit: "memory", Used: "2Gi running", Max: "1Gi", Over: "1Gi"},
			{User: "bob", Quota: "default", Limit: "memory", Used: "2Gi running", Max: "1Gi", Over: "1Gi"},
		},
		NetworkPolicies: []validate.ObjectChange{{Name: "session-isolation", Change: "changed", Fields: []string{"spec.ingress"}}},
		Prune: []validate.PruneImpact{
			{Kind: "Template", Name: "oldapp", BlockedBy: []string{"session ann-old"}},
			{Kind: "Template", Name: "unused"},
		},
	}
	gotJSON, _ := json.MarshalIndent(got.GitSyncs[0], "", "  ")
	wantJSON, _ := json.MarshalIndent(want, "", "  ")
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("impact:\n%s\nwant:\n%s", gotJSON, wantJSON)
	}

	text := run()
	for _, line := range []string{
		"GitSync " + ns + "/platform (environments/prod):",
		"  Template firefox changed (spec.baseImage); used by 2 session(s): ann-ff (ann, running), bob-ff (bob, running)",
		"  Template oldapp removed; used by 1 session(s): ann-old (ann, hibernated)",
		"  user ann would be over quota default: maxSessions 2 sessions, limit 1 (1 over)",
		"  prune would keep Template/oldapp while in use by session ann-old",
		"  prune would delete Template/unused",
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("text output lacks %q:\n%s", line, text)
		}
	}

	// Nothing was written: the dry-runs left the live objects as they were.
	var ff streamv1.Template
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "firefox"}, &ff); err != nil || ff.Spec.BaseImage != "lscr.io/linuxserver/firefox:1.0" {
		t.Errorf("firefox after --impact: %v, image %q; want it untouched", err, ff.Spec.BaseImage)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "newapp"}, &streamv1.Template{}); err == nil {
		t.Error("--impact created newapp")
	}
}

func TestValidate_impactFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--impact"}, "--impact needs --kubeconfig FILE"},
		{[]string{"--kubeconfig", "x"}, "--kubeconfig and --namespace go with --impact"},
		{[]string{"--impact", "--kubeconfig", "x", "-o", "github"}, "not github annotations"},
	} {
		cmd := validateCommand()
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		cmd.SetArgs(append([]string{t.TempDir()}, c.args...))
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}
