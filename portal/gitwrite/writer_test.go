package gitwrite

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/githubtest"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func quota(t *testing.T, file string) *streamv1.Quota {
	return live(t, fixture(t, file), &streamv1.Quota{})
}

func TestPropose_pullRequestForQuota(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	p := newPlatform(t)
	w, gh := p.pullRequestWriter()
	g.Expect(w.Mode()).To(Equal(ModePullRequest))
	mainBefore := p.head("main")

	q := quota(t, "policies/quotas/designers.yaml")
	mem := resource.MustParse("32Gi")
	q.Spec.Limits.Memory = &mem
	res, err := w.Propose(ctxFor(t), Change{
		Kind: "Quota", Name: "designers", Object: q, Actor: "alice",
		Reason: "Render farm needs more memory\n\nBlender scenes run out of memory at 24Gi.",
	})
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(res.Mode).To(Equal(ModePullRequest))
	g.Expect(res.URL).To(Equal("https://github.example.com/acme/platform/pull/42"))
	g.Expect(res.Number).To(Equal(42))
	g.Expect(res.Branch).To(MatchRegexp(`^streamspace/quota-designers-\d{8}-\d{6}-[0-9a-f]{7}$`))
	g.Expect(res.File).To(Equal("policies/quotas/designers.yaml"))
	g.Expect(res.Changes).To(Equal([]string{"spec.limits.memory: 24Gi → 32Gi"}))

	// The synced branch is untouched; the new branch is one commit on it
	// that changes one line of one file, authored by the bot for alice.
	g.Expect(p.head("main").Hash).To(Equal(mainBefore.Hash))
	c := p.head(res.Branch)
	g.Expect(c.Hash.String()).To(Equal(res.Commit))
	g.Expect(c.ParentHashes).To(Equal([]plumbing.Hash{mainBefore.Hash}))
	g.Expect(p.changedFiles(c)).To(Equal([]string{"policies/quotas/designers.yaml"}))
	before := p.file(mainBefore, "policies/quotas/designers.yaml")
	g.Expect(p.file(c, "policies/quotas/designers.yaml")).To(Equal(strings.Replace(before, "    memory: 24Gi\n", "    memory: 32Gi\n", 1)))
	for _, sig := range []string{c.Author.String(), c.Committer.String()} {
		g.Expect(sig).To(HavePrefix("StreamSpace Bot <bot@stream.space>"))
	}
	g.Expect(c.Message).To(HavePrefix("Quota designers: Render farm needs more memory\n\nBlender scenes run out of memory at 24Gi.\n"))
	g.Expect(c.Message).To(ContainSubstring("- spec.limits.memory: 24Gi → 32Gi\n"))
	g.Expect(c.Message).To(HaveSuffix("\n\nRequested-by: alice\n"))

	// The pull request was asked for as GitHub expects it.
	calls := gh.PullRequests()
	g.Expect(calls).To(HaveLen(1))
	call := calls[0]
	g.Expect(call.Method).To(Equal("POST"))
	g.Expect(call.Path).To(Equal("/api/v3/repos/acme/platform/pulls"))
	g.Expect(call.Authorization).To(Equal("Bearer gh-token"))
	g.Expect(call.Body.Title).To(Equal("Quota designers: Render farm needs more memory"))
	g.Expect(call.Body.Head).To(Equal(res.Branch))
	g.Expect(call.Body.Base).To(Equal("main"))
	g.Expect(call.Body.MaintainerCanModify).To(HaveValue(BeTrue()))
	g.Expect(call.Body.Body).To(ContainSubstring("**alice** asked for this change to Quota `designers`"))
	g.Expect(call.Body.Body).To(ContainSubstring("> Blender scenes run out of memory at 24Gi."))
	g.Expect(call.Body.Body).To(ContainSubstring("- `spec.limits.memory: 24Gi → 32Gi`"))
	g.Expect(call.Body.Body).To(ContainSubstring("--- a/policies/quotas/designers.yaml\n+++ b/policies/quotas/designers.yaml\n"))
	g.Expect(call.Body.Body).To(ContainSubstring("\n-    memory: 24Gi\n+    memory: 32Gi\n"))
}

func TestPropose_directCommit(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	p := newPlatform(t)
	w, err := New(p.config())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(w.Mode()).To(Equal(ModeCommit))
	refsBefore := p.refs()
	mainBefore := p.head("main")

	doc := fixture(t, "catalog/browsers/firefox.yaml")
	tpl := live(t, doc, &streamv1.Template{})
	oldImage := tpl.Spec.BaseImage
	tpl.Spec.BaseImage = strings.TrimSuffix(oldImage, "-ls35") + "-ls36"
	g.Expect(tpl.Spec.BaseImage).NotTo(Equal(oldImage))
	res, err := w.Propose(ctxFor(t), Change{Kind: "Template", Name: "firefox", Object: tpl, Actor: "bob", ActorEmail: "bob@example.com"})
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(res.Mode).To(Equal(ModeCommit))
	g.Expect(res.Branch).To(Equal("main"))
	g.Expect(res.URL).To(BeEmpty())
	head := p.head("main")
	g.Expect(head.Hash.String()).To(Equal(res.Commit))
	g.Expect(head.ParentHashes).To(Equal([]plumbing.Hash{mainBefore.Hash}), "main moved by exactly one commit")
	g.Expect(p.changedFiles(head)).To(Equal([]string{"catalog/browsers/firefox.yaml"}))
	g.Expect(p.file(head, "catalog/browsers/firefox.yaml")).To(Equal(strings.Replace(doc, oldImage, tpl.Spec.BaseImage, 1)))
	g.Expect(head.Message).To(HavePrefix("Template firefox: update spec.baseImage\n"))
	g.Expect(head.Message).To(ContainSubstring("\n- spec.baseImage: " + oldImage + " → " + tpl.Spec.BaseImage + "\n"))
	g.Expect(head.Message).To(HaveSuffix("\n\nRequested-by: bob\nCo-authored-by: bob <bob@example.com>\n"))

	// No other branch was created or moved.
	refsAfter := p.refs()
	delete(refsBefore, "refs/heads/main")
	delete(refsAfter, "refs/heads/main")
	g.Expect(refsAfter).To(Equal(refsBefore))
}

func TestPropose_baseKeepsWhatTheAdminDidNotTouch(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	p := newPlatform(t)
	w, err := New(p.config())
	g.Expect(err).NotTo(HaveOccurred())
	start := p.head("main")

	// The live default quota of the local environment: its overlay patches
	// maxRunningSessions and memory.
	inCluster := quota(t, "policies/quotas/default.yaml")
	inCluster.Spec.Limits.MaxRunningSessions = ptr(int32(2))
	small := resource.MustParse("4Gi")
	inCluster.Spec.Limits.Memory = &small

	// Nothing edited: nothing to commit, though the cluster differs from Git.
	_, err = w.Propose(ctxFor(t), Change{Kind: "Quota", Name: "default", Object: inCluster.DeepCopy(), Base: inCluster, Actor: "gina"})
	g.Expect(err).To(MatchError(ErrNoChange))

	edited := inCluster.DeepCopy()
	edited.Spec.Limits.MaxSessions = ptr(int32(6))
	edited.Spec.Limits.IdleTimeout = nil
	res, err := w.Propose(ctxFor(t), Change{Kind: "Quota", Name: "default", Object: edited, Base: inCluster, Actor: "gina"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Changes).To(Equal([]string{"spec.limits.idleTimeout: 30m0s → (unset)", "spec.limits.maxSessions: 5 → 6"}))
	g.Expect(p.file(p.head("main"), "policies/quotas/default.yaml")).To(Equal(strings.NewReplacer(
		"    maxSessions: 5\n", "    maxSessions: 6\n",
		"    idleTimeout: 30m\n", "",
	).Replace(p.file(start, "policies/quotas/default.yaml"))), "the overlay's values stay out of the base file")
}

func TestPropose_warnsAboutOverlayPatches(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	p := newPlatform(t)
	w, err := New(p.config())
	g.Expect(err).NotTo(HaveOccurred())
	q := quota(t, "policies/quotas/default.yaml")
	q.Spec.Limits.MaxSessions = ptr(int32(6))
	res, err := w.Propose(ctxFor(t), Change{Kind: "Quota", Name: "default", Object: q, Actor: "alice"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Warnings).To(ConsistOf(ContainSubstring("environments/local/kustomization.yaml patches Quota default")))
}

func TestPropose_refusals(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	gh := githubtest.New(t, "acme", "platform", "gh-token")
	withGitHub := func(c Config, token string) Config {
		c.GitHub = &GitHubConfig{BaseURL: gh.URL, Owner: "acme", Repo: "platform", Token: token}
		return c
	}
	designers := func() *streamv1.Quota { return quota(t, "policies/quotas/designers.yaml") }
	bigger := func() *streamv1.Quota {
		q := designers()
		q.Spec.Limits.MaxSessions = ptr(int32(9))
		return q
	}
	wrongToken := p.config()
	wrongToken.Auth.Token = "guessed"

	for _, tc := range []struct {
		name    string
		cfg     Config
		change  Change
		is      error
		message []string
	}{{
		name:    "object not in the repository",
		cfg:     withGitHub(p.config(), "gh-token"),
		change:  Change{Kind: "Quota", Name: "nobody", Object: &streamv1.Quota{}, Actor: "alice"},
		is:      ErrNotFound,
		message: []string{`Quota "nobody"`},
	}, {
		name:    "object unchanged",
		cfg:     withGitHub(p.config(), "gh-token"),
		change:  Change{Kind: "Quota", Name: "designers", Object: designers(), Actor: "alice"},
		is:      ErrNoChange,
		message: []string{"Quota designers in policies/quotas/designers.yaml already is as asked"},
	}, {
		name:    "object unchanged, direct",
		cfg:     p.config(),
		change:  Change{Kind: "Quota", Name: "designers", Object: designers(), Actor: "alice"},
		is:      ErrNoChange,
		message: []string{"already is as asked"},
	}, {
		name:    "wrong Git credentials",
		cfg:     wrongToken,
		change:  Change{Kind: "Quota", Name: "designers", Object: bigger(), Actor: "alice"},
		is:      ErrAuthentication,
		message: []string{"authentication", "clone " + p.url},
	}, {
		name:    "GitHub refuses the API token: the pushed branch is removed",
		cfg:     withGitHub(p.config(), "expired"),
		change:  Change{Kind: "Quota", Name: "designers", Object: bigger(), Actor: "alice"},
		is:      ErrAuthentication,
		message: []string{"open a pull request on acme/platform", "401 Bad credentials"},
	}, {
		name:    "kind that cannot be written back",
		cfg:     p.config(),
		change:  Change{Kind: "Session", Name: "s1", Object: &unstructured.Unstructured{}, Actor: "alice"},
		is:      ErrInvalidChange,
		message: []string{`kind "Session" cannot be written back`},
	}, {
		name:    "object named differently",
		cfg:     p.config(),
		change:  Change{Kind: "Quota", Name: "students", Object: designers(), Actor: "alice"},
		is:      ErrInvalidChange,
		message: []string{`Quota students: object is named "designers"`},
	}, {
		name:    "object of another kind",
		cfg:     p.config(),
		change:  Change{Kind: "Template", Name: "designers", Object: designers(), Actor: "alice"},
		is:      ErrInvalidChange,
		message: []string{"object is a *v1alpha1.Quota"},
	}, {
		name:    "no actor",
		cfg:     p.config(),
		change:  Change{Kind: "Quota", Name: "designers", Object: bigger()},
		is:      ErrInvalidChange,
		message: []string{"actor"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			refs := p.refs()
			calls := len(gh.PullRequests())
			w, err := New(tc.cfg)
			g.Expect(err).NotTo(HaveOccurred())
			res, err := w.Propose(ctxFor(t), tc.change)
			g.Expect(res).To(BeNil())
			g.Expect(err).To(MatchError(tc.is))
			for _, m := range tc.message {
				g.Expect(err.Error()).To(ContainSubstring(m))
			}
			g.Expect(err.Error()).NotTo(ContainSubstring(gitToken))
			g.Expect(p.refs()).To(Equal(refs), "nothing is left pushed")
			if !strings.HasPrefix(tc.name, "GitHub refuses") {
				g.Expect(gh.PullRequests()).To(HaveLen(calls), "no pull request is asked for")
			}
		})
	}
}

func TestPropose_multiDocumentFileKeepsOtherDocuments(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	p := newPlatform(t)
	w, err := New(p.config())
	g.Expect(err).NotTo(HaveOccurred())
	before := p.file(p.head("main"), "policies/quotas/teams.yaml")

	ops := live(t, strings.Split(before, "---\n")[2], &unstructured.Unstructured{})
	g.Expect(ops.GetName()).To(Equal("ops"))
	g.Expect(unstructured.SetNestedField(ops.Object, "10h", "spec", "limits", "idleTimeout")).To(Succeed())
	res, err := w.Propose(ctxFor(t), Change{Kind: "Quota", Name: "ops", Object: ops, Actor: "carol", Reason: "Ops on-call shifts are 10h"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.File).To(Equal("policies/quotas/teams.yaml"))

	after := p.file(p.head("main"), "policies/quotas/teams.yaml")
	b, a := strings.Split(before, "---\n"), strings.Split(after, "---\n")
	g.Expect(a).To(HaveLen(len(b)))
	g.Expect(a[0]).To(Equal(b[0]), "the file's leading comment")
	g.Expect(a[1]).To(Equal(b[1]), "the lab quota")
	g.Expect(a[3]).To(Equal(b[3]), "the research quota")
	g.Expect(a[2]).To(Equal(strings.Replace(b[2], "    idleTimeout: 8h\n", "    idleTimeout: 10h\n", 1)))
}

func TestPropose_concurrentDirectChangesAllLand(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	p := newPlatform(t)
	w, err := New(p.config())
	g.Expect(err).NotTo(HaveOccurred())
	start := p.head("main")

	names := []string{"default", "designers", "lab"}
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "stream.space/v1alpha1", "kind": "Quota",
				"metadata": map[string]any{"name": name},
			}}
			var doc string
			switch name {
			case "lab":
				doc = strings.Split(fixture(t, "policies/quotas/teams.yaml"), "---\n")[1]
			default:
				doc = fixture(t, "policies/quotas/"+name+".yaml")
			}
			q = live(t, doc, q)
			errs[i] = unstructured.SetNestedField(q.Object, int64(11), "spec", "limits", "maxSessions")
			if errs[i] == nil {
				_, errs[i] = w.Propose(ctxFor(t), Change{Kind: "Quota", Name: name, Object: q, Actor: "dave"})
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		g.Expect(err).NotTo(HaveOccurred())
	}
	head := p.head("main")
	g.Expect(commitsBetween(t, head, start.Hash)).To(Equal(3))
	for _, f := range []string{"policies/quotas/default.yaml", "policies/quotas/designers.yaml", "policies/quotas/teams.yaml"} {
		g.Expect(p.file(head, f)).To(ContainSubstring("maxSessions: 11\n"), f)
	}
}

func TestPropose_retriesOnceWhenTheBranchMoves(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	other, err := New(p.config())
	if err != nil {
		t.Fatal(err)
	}
	// Another writer (another portal replica, or a person) pushes while
	// ours is between commit and push.
	moveMain := func(t *testing.T, n int) {
		q := quota(t, "policies/quotas/designers.yaml")
		q.Spec.Limits.MaxSessions = ptr(int32(20 + n))
		if _, err := other.Propose(ctxFor(t), Change{Kind: "Quota", Name: "designers", Object: q, Actor: "erin"}); err != nil {
			t.Error(err)
		}
	}
	change := func() Change {
		q := quota(t, "policies/quotas/default.yaml")
		q.Spec.Limits.MaxSessions = ptr(int32(7))
		return Change{Kind: "Quota", Name: "default", Object: q, Actor: "frank"}
	}

	t.Run("moved once: rebuilt on the new tip", func(t *testing.T) {
		g := NewWithT(t)
		w, err := New(p.config())
		g.Expect(err).NotTo(HaveOccurred())
		start := p.head("main")
		pushes := 0
		w.beforePush = func() {
			if pushes++; pushes == 1 {
				moveMain(t, pushes)
			}
		}
		res, err := w.Propose(ctxFor(t), change())
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(pushes).To(Equal(2))
		head := p.head("main")
		g.Expect(head.Hash.String()).To(Equal(res.Commit))
		g.Expect(commitsBetween(t, head, start.Hash)).To(Equal(2))
		g.Expect(p.file(head, "policies/quotas/designers.yaml")).To(ContainSubstring("maxSessions: 21\n"))
		g.Expect(p.file(head, "policies/quotas/default.yaml")).To(ContainSubstring("maxSessions: 7\n"))
	})

	t.Run("moves every time: refused, nothing forced", func(t *testing.T) {
		g := NewWithT(t)
		w, err := New(p.config())
		g.Expect(err).NotTo(HaveOccurred())
		ch := change()
		ch.Object.(*streamv1.Quota).Spec.Limits.MaxSessions = ptr(int32(8))
		pushes := 0
		w.beforePush = func() { pushes++; moveMain(t, 10+pushes) }
		_, err = w.Propose(ctxFor(t), ch)
		g.Expect(err).To(MatchError(ErrConflict))
		g.Expect(err.Error()).To(ContainSubstring("remote ref refs/heads/main required to be"))
		g.Expect(pushes).To(Equal(2))
		head := p.head("main")
		g.Expect(p.file(head, "policies/quotas/designers.yaml")).To(ContainSubstring("maxSessions: 32\n"), "the other writer's last commit is kept")
		g.Expect(p.file(head, "policies/quotas/default.yaml")).NotTo(ContainSubstring("maxSessions: 8\n"))
	})
}

func TestNew_refusesConfigThatCannotWork(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "needs the URL"},
		{Config{URL: "ftp://example.com/repo.git"}, `unsupported repository protocol "ftp"`},
		{Config{URL: "ssh://git@example.com/repo.git"}, "needs an SSH identity and known_hosts"},
		{Config{URL: "https://example.com/repo.git", GitHub: &GitHubConfig{Owner: "acme"}}, "owner and name"},
		{Config{URL: "https://example.com/repo.git", GitHub: &GitHubConfig{Owner: "acme", Repo: "platform"}}, "needs a token"},
		{Config{URL: "https://example.com/repo.git", Paths: []string{"../elsewhere"}}, "relative to the repository root"},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}

// commitsBetween counts the first-parent commits from head back to base.
func commitsBetween(t *testing.T, head *object.Commit, base plumbing.Hash) int {
	t.Helper()
	n := 0
	for c := head; c.Hash != base; n++ {
		if c.NumParents() == 0 || n > 100 {
			t.Fatalf("%s is not reachable from %s", base, head.Hash)
		}
		parent, err := c.Parent(0)
		if err != nil {
			t.Fatal(err)
		}
		c = parent
	}
	return n
}

func ptr[T any](v T) *T { return &v }
