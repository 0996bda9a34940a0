package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/streamspace/streamspace/plugins/event"
	"github.com/streamspace/streamspace/plugins/manifest"
	"github.com/streamspace/streamspace/plugins/webhook"
)

var secret = []byte("4f0c2d0bd2f1a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c")

func sample() event.Event {
	return event.Event{ID: "42", Type: event.SessionHibernated, Source: "https://streamspace.example.com", Subject: "alice-firefox-x1",
		Time: time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC), Data: json.RawMessage(`{"session":"alice-firefox-x1","user":"alice"}`)}
}

func newDeliverer(t *testing.T, srv *httptest.Server, path string, o webhook.Options) *webhook.Deliverer {
	t.Helper()
	o.RootCAs = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	d, err := webhook.New(event.Plugin{Name: "audit"}, srv.URL+path, secret, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	return d
}

// The receiver checks what a real one must: the HMAC of the raw body, in
// constant time, with its own code (not the package's Verify), then the
// CloudEvents attributes as the CloudEvents SDK reads the request.
func TestWebhook_deliver_signedCloudEvent(t *testing.T) {
	type got struct {
		sigOK bool
		ce    map[string]any
		ctype string
	}
	ch := make(chan got, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, secret)
		m.Write(body)
		want := "sha256=" + hex.EncodeToString(m.Sum(nil))
		g := got{sigOK: hmac.Equal([]byte(want), []byte(r.Header.Get("X-StreamSpace-Signature"))), ctype: r.Header.Get("Content-Type")}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		e, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil {
			t.Errorf("not a CloudEvent: %v", err)
			w.WriteHeader(400)
			return
		}
		var data map[string]any
		_ = e.DataAs(&data)
		g.ce = map[string]any{"specversion": e.SpecVersion(), "id": e.ID(), "type": e.Type(), "source": e.Source(), "subject": e.Subject(),
			"time": e.Time().UTC().Format(time.RFC3339), "datacontenttype": e.DataContentType(), "user": data["user"]}
		ch <- g
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	d := newDeliverer(t, srv, "/hook", webhook.Options{})
	if err := d.Deliver(context.Background(), sample()); err != nil {
		t.Fatal(err)
	}
	g := <-ch
	if !g.sigOK {
		t.Error("the receiver's HMAC of the body does not match the signature header")
	}
	if !strings.HasPrefix(g.ctype, "application/cloudevents+json") {
		t.Errorf("content type %q, want structured mode", g.ctype)
	}
	want := map[string]any{"specversion": "1.0", "id": "42", "type": "session.hibernated", "source": "https://streamspace.example.com",
		"subject": "alice-firefox-x1", "time": "2026-12-07T20:00:00Z", "datacontenttype": "application/json", "user": "alice"}
	for k, v := range want {
		if g.ce[k] != v {
			t.Errorf("attribute %s = %v, want %v", k, g.ce[k], v)
		}
	}
}

func TestWebhook_verify(t *testing.T) {
	body, err := webhook.Body(sample())
	if err != nil {
		t.Fatal(err)
	}
	sig := webhook.Sign(secret, body)
	if err := webhook.Verify(secret, body, sig); err != nil {
		t.Errorf("own signature: %v", err)
	}
	tampered := strings.Replace(string(body), "alice", "mallory", 1)
	for name, c := range map[string]struct {
		secret []byte
		body   string
		header string
	}{
		"tampered body": {secret, tampered, sig},
		"other secret":  {[]byte("another"), string(body), sig},
		"no prefix":     {secret, string(body), strings.TrimPrefix(sig, "sha256=")},
		"not hex":       {secret, string(body), "sha256=zz"},
		"empty":         {secret, string(body), ""},
		"truncated":     {secret, string(body), sig[:20]},
	} {
		if err := webhook.Verify(c.secret, []byte(c.body), c.header); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

// Each answer decides: delivered, retried, or given up for good.
func TestWebhook_deliver_answers(t *testing.T) {
	var redirected atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(204)
		case "/busy":
			w.WriteHeader(503)
		case "/slow-down":
			w.WriteHeader(429)
		case "/timeout-answer":
			w.WriteHeader(408)
		case "/bad":
			w.WriteHeader(400)
			_, _ = w.Write([]byte("missing field \x1b[31m subject\n"))
		case "/gone":
			w.WriteHeader(410)
		case "/redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		case "/elsewhere":
			redirected.Add(1)
		case "/huge":
			w.WriteHeader(500)
			_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
		case "/hang":
			time.Sleep(2 * time.Second)
		}
	}))
	defer srv.Close()
	for _, c := range []struct {
		path      string
		ok        bool
		permanent bool
		says      string
	}{
		{path: "/ok", ok: true},
		{path: "/busy", says: "answered 503"},
		{path: "/slow-down", says: "answered 429"},
		{path: "/timeout-answer", says: "answered 408"},
		{path: "/bad", permanent: true, says: "refused the event: 400: missing field  [31m subject"},
		{path: "/gone", permanent: true, says: "refused the event: 410"},
		{path: "/redirect", permanent: true, says: "answered 307 (redirects are not followed)"},
		{path: "/huge", says: "answered 500: xxxx"},
		{path: "/hang?token=s3cret", says: "timed out"},
	} {
		t.Run(c.path, func(t *testing.T) {
			d := newDeliverer(t, srv, c.path, webhook.Options{Timeout: 500 * time.Millisecond})
			err := d.Deliver(context.Background(), sample())
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("delivered")
			}
			if errors.Is(err, event.ErrPermanent) != c.permanent {
				t.Errorf("permanent %v, want %v: %v", errors.Is(err, event.ErrPermanent), c.permanent, err)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q does not say %q", err, c.says)
			}
			if len(err.Error()) > 400 || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), c.path) {
				t.Errorf("error quotes too much (the URL's path or query, or the whole body): %.300q", err)
			}
		})
	}
	if redirected.Load() != 0 {
		t.Error("a redirect was followed")
	}
}

func TestWebhook_target(t *testing.T) {
	entry := &manifest.WebhookEntry{ConfigKey: "url"}
	if got, err := webhook.Target(entry, json.RawMessage(`{"url":"https://hooks.example.com/x"}`)); err != nil || got != "https://hooks.example.com/x" {
		t.Errorf("config key: %q %v", got, err)
	}
	if _, err := webhook.Target(entry, json.RawMessage(`{"other":1}`)); err == nil || !strings.Contains(err.Error(), `config has no URL under "url"`) {
		t.Errorf("missing key: %v", err)
	}
	if got, _ := webhook.Target(&manifest.WebhookEntry{URL: "https://fixed.example.com"}, nil); got != "https://fixed.example.com" {
		t.Errorf("fixed URL: %q", got)
	}
	approved := []string{"network:hooks.internal.example:8080"}
	for target, want := range map[string]string{
		"https://hooks.example.com/x":           "",
		"http://hooks.internal.example:8080/in": "",
		"http://hooks.internal.example/in":      `"network:hooks.internal.example" is not approved`,
		"http://other.example.com:8080/in":      "plain http",
		"ftp://hooks.example.com/x":             `scheme "ftp"`,
		"https://user:pw@hooks.example.com/":    "without credentials",
		"/relative":                             "absolute URL",
	} {
		_, err := webhook.CheckTarget(target, approved)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", target, err, want)
		}
	}
	if _, err := webhook.New(event.Plugin{Name: "p"}, "http://hooks.internal.example/in", secret, webhook.Options{}); !errors.Is(err, event.ErrPermanent) {
		t.Errorf("an unapproved target is not a permanent failure: %v", err)
	}
	if _, err := webhook.New(event.Plugin{Name: "p"}, "https://hooks.example.com/", nil, webhook.Options{}); err == nil {
		t.Error("a deliverer without a secret")
	}
}
