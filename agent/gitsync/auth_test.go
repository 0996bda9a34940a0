package gitsync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// syncWith creates a GitSync of url with a secret holding data and returns
// it once its Ready condition is set (either way).
func syncWith(t *testing.T, ns, name, url string, data map[string][]byte) *streamv1.GitSync {
	t.Helper()
	ctx := context.Background()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-auth"}, Data: data}
	if err := env.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	gs := &streamv1.GitSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: streamv1.GitSyncSpec{URL: url, Path: "environments/test", Prune: true, Interval: metav1.Duration{Duration: time.Hour},
			SecretRef: &streamv1.LocalObjectReference{Name: secret.Name}},
	}
	if err := env.Client.Create(ctx, gs); err != nil {
		t.Fatal(err)
	}
	got := &streamv1.GitSync{}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(gs), got)).To(Succeed())
		ready := cond(got, streamv1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		if ready.Status == metav1.ConditionTrue {
			// Conditions are patched before the rest of the status: trust
			// them with the rest once observedGeneration has caught up.
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		}
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	return got
}

func TestAuth_httpsToken(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns, r, _ := setup(t)
	private := strings.Replace(r.url, gitURL, gitURL+"/private", 1)

	bad := syncWith(t, ns, "wrong-token", private, map[string][]byte{"token": []byte("guess")})
	g.Expect(cond(bad, streamv1.ConditionReady).Reason).To(Equal("FetchFailed"))
	g.Expect(cond(bad, streamv1.ConditionReady).Message).To(ContainSubstring("authentication required"))
	g.Expect(bad.Status.Inventory).To(BeEmpty())

	good := syncWith(t, ns, "right-token", private, map[string][]byte{"token": []byte(gitToken)})
	g.Expect(cond(good, streamv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue), "%v", good.Status.Conditions)
	g.Expect(good.Status.LastAppliedRevision).To(Equal(r.head()), "%+v", good.Status)
}

func TestAuth_sshKeyWithPinnedHostKey(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns, r, _ := setup(t)
	url := sshURL + "/" + ns + ".git"

	// The host is not the one pinned: refused before any key is offered.
	other := []byte(strings.Replace(string(knownHosts), "ssh-rsa AAAA", "ssh-rsa AAAB", 1))
	bad := syncWith(t, ns, "wrong-host", url, map[string][]byte{"identity": clientKey, "known_hosts": other})
	g.Expect(cond(bad, streamv1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))

	missing := syncWith(t, ns, "no-known-hosts", url, map[string][]byte{"identity": clientKey})
	g.Expect(cond(missing, streamv1.ConditionReady).Message).To(ContainSubstring("needs a secret with identity and known_hosts"))

	good := syncWith(t, ns, "ssh", url, map[string][]byte{"identity": clientKey, "known_hosts": knownHosts})
	g.Expect(cond(good, streamv1.ConditionReady).Status).To(Equal(metav1.ConditionTrue), "%v", good.Status.Conditions)
	g.Expect(good.Status.LastAppliedRevision).To(Equal(r.head()), "%+v", good.Status)
}
