package gitsync_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/gitsync"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

var hookSecret = []byte("s3cret-webhook")

func sign(body []byte) string {
	m := hmac.New(sha256.New, hookSecret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func post(t *testing.T, url, event string, body []byte, signature string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if event != "" {
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("X-Hub-Signature-256", signature)
	} else {
		req.Header.Set("X-Signature-256", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestReceiver_signedPush_syncsAtOnce_badSignatureChangesNothing(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns, r, gs := setup(t)
	waitRevision(t, gs, r.head())
	srv := httptest.NewServer(&gitsync.Receiver{Client: env.Client, Secret: hookSecret, Namespace: ns, Log: logr.Discard()})
	defer srv.Close()

	r.write("catalog/browsers/firefox.yaml", readFile(t, r, "catalog/browsers/firefox.yaml", `displayName: "Firefox"`, `displayName: "Firefox ESR"`))
	rev := r.push("rename firefox")
	body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "repository": map[string]any{"clone_url": r.url}})

	// A forged push: 401, and the GitSync is not touched.
	code, _ := post(t, srv.URL+"/hook/github", "push", body, sign([]byte("something else")))
	g.Expect(code).To(Equal(http.StatusUnauthorized))
	code, _ = post(t, srv.URL+"/hook/github", "push", body, "")
	g.Expect(code).To(Equal(http.StatusUnauthorized))
	g.Consistently(func(g Gomega) {
		got := &streamv1.GitSync{}
		g.Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(gs), got)).To(Succeed())
		g.Expect(got.Annotations).NotTo(HaveKey(streamv1.ReconcileRequestAnnotation))
		g.Expect(got.Status.LastAppliedRevision).NotTo(Equal(rev))
	}, time.Second, 200*time.Millisecond).Should(Succeed())

	// The real one: the new revision is applied at once (the interval is 1h).
	pushed := time.Now()
	code, out := post(t, srv.URL+"/hook/github", "push", body, sign(body))
	g.Expect(code).To(Equal(http.StatusAccepted))
	g.Expect(out["triggered"]).To(ConsistOf(ns + "/platform"))
	waitRevision(t, gs, rev)
	t.Logf("push notification → revision applied: %v", time.Since(pushed).Round(time.Millisecond))
	tpl := &streamv1.Template{}
	g.Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "firefox"}, tpl)).To(Succeed())
	g.Expect(tpl.Spec.DisplayName).To(Equal("Firefox ESR"))

	// A push to another branch triggers nothing.
	other, _ := json.Marshal(map[string]any{"ref": "refs/heads/feature", "repository": map[string]any{"clone_url": r.url}})
	code, out = post(t, srv.URL+"/hook/github", "push", other, sign(other))
	g.Expect(code).To(Equal(http.StatusAccepted))
	g.Expect(out["triggered"]).To(BeEmpty())

	// The generic HMAC variant.
	r.write("catalog/browsers/firefox.yaml", readFile(t, r, "catalog/browsers/firefox.yaml", `displayName: "Firefox ESR"`, `displayName: "Firefox"`))
	rev = r.push("rename back")
	generic, _ := json.Marshal(map[string]any{"repository": r.url, "ref": "refs/heads/main"})
	code, _ = post(t, srv.URL+"/hook/generic", "", generic, sign([]byte("forged")))
	g.Expect(code).To(Equal(http.StatusUnauthorized))
	code, out = post(t, srv.URL+"/hook/generic", "", generic, sign(generic))
	g.Expect(code).To(Equal(http.StatusAccepted))
	g.Expect(out["triggered"]).To(ConsistOf(ns + "/platform"))
	waitRevision(t, gs, rev)
}
