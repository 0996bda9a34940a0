// Package receiverfuzz fuzzes the GitSync push receiver. It is a package
// of its own so that the fuzzer's workers do not each start the API server
// that agent/gitsync's tests share (its TestMain).
package receiverfuzz_test

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

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/streamspace/streamspace/agent/gitsync"
	"github.com/streamspace/streamspace/agent/manager"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

var hookSecret = []byte("s3cret-webhook")

func sign(body []byte) string {
	m := hmac.New(sha256.New, hookSecret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// FuzzReceiver posts arbitrary bodies to both push hooks, signed with the
// receiver's secret or not: it never panics and always answers JSON; an
// unsigned or mis-signed body is refused (401) and requests nothing;
// anything else is triggered, ignored (202) or refused as invalid (400),
// and a sync is requested only on a 202 naming the GitSync. (One
// function's input, so the API server is a fake client here; the
// receiver's integration test runs on a real one.)
func FuzzReceiver(f *testing.F) {
	f.Add([]byte(`{"ref":"refs/heads/main","repository":{"clone_url":"https://github.com/acme/platform.git"}}`), "push", false, false)
	f.Add([]byte(`{"repository":"git@github.com:acme/platform.git","ref":"refs/heads/main"}`), "", true, false)
	f.Add([]byte(`{"repository":"https://github.com/acme/platform","ref":"refs/heads/main"}`), "", true, true)
	f.Add([]byte(`{"zen":"hi"}`), "ping", false, false)
	f.Add([]byte(`{"ref":7}`), "push", false, false)
	f.Add([]byte(`not json`), "", true, false)
	f.Add([]byte(`{"repository":"ssh://git@GitHub.com:22/acme/platform.git/","ref":"refs/heads/main"}`), "", true, false)
	f.Fuzz(func(t *testing.T, body []byte, event string, generic, tamper bool) {
		gs := &streamv1.GitSync{ObjectMeta: metav1.ObjectMeta{Namespace: "streamspace", Name: "platform"},
			Spec: streamv1.GitSyncSpec{URL: "https://github.com/acme/platform.git", Ref: streamv1.GitReference{Branch: "main"}}}
		c := fake.NewClientBuilder().WithScheme(manager.Scheme()).WithObjects(gs).Build()
		rc := &gitsync.Receiver{Client: c, Secret: hookSecret, Namespace: "streamspace", Log: logr.Discard()}

		path, sig := "/hook/github", sign(body)
		if tamper {
			sig = sign(append([]byte("x"), body...))
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if generic {
			req.URL.Path = "/hook/generic"
			req.Header.Set("X-Signature-256", sig)
		} else {
			req.Header.Set("X-GitHub-Event", event)
			req.Header.Set("X-Hub-Signature-256", sig)
		}
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)

		var answer map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
			t.Fatalf("%d answer is not JSON: %q", w.Code, w.Body.String())
		}
		switch {
		case tamper && w.Code != http.StatusUnauthorized:
			t.Fatalf("a mis-signed body answered %d %v, want 401", w.Code, answer)
		case w.Code != http.StatusAccepted && w.Code != http.StatusBadRequest && w.Code != http.StatusUnauthorized && w.Code != http.StatusOK:
			t.Fatalf("answered %d %v", w.Code, answer)
		}
		got := &streamv1.GitSync{}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(gs), got); err != nil {
			t.Fatal(err)
		}
		requested := got.Annotations[streamv1.ReconcileRequestAnnotation] != ""
		triggered, _ := answer["triggered"].([]any)
		if requested != (w.Code == http.StatusAccepted && len(triggered) == 1) {
			t.Fatalf("answered %d %v, and a sync was requested: %v", w.Code, answer, requested)
		}
	})
}
