// Package webhook delivers platform events to a webhook plugin: each event
// is one HTTP POST of a CloudEvents 1.0 event in structured JSON mode
// (Content-Type application/cloudevents+json: the id, type, source,
// subject, time and data are all in the body), signed with HMAC-SHA256 of
// that body under the plugin's own secret.
//
// Structured, not binary, mode: the signature covers the whole body, so
// in structured mode it covers every attribute too; a header-borne type or
// subject would travel unsigned.
//
// # Verifying a delivery (receiver side)
//
// The header SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of
// the request body, keyed with the plugin's secret (the `secret` value of
// the Secret plugin-<name>-signing, as the text it is). A receiver reads
// the raw body, computes the same HMAC and compares the two in constant
// time (Go: hmac.Equal; Python: hmac.compare_digest) before parsing it,
// then deduplicates on the event's id (delivery is at least once) and may
// refuse an event whose time is too old (a replayed request). Verify does
// exactly this for a Go receiver.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/streamspace/streamspace/plugins/event"
	"github.com/streamspace/streamspace/plugins/manifest"
)

// SignatureHeader names the body's signature: "sha256=<hex HMAC-SHA256>".
const SignatureHeader = "X-StreamSpace-Signature"

// ContentType of every delivery: a CloudEvent in structured JSON mode.
const ContentType = "application/cloudevents+json; charset=utf-8"

const (
	// DefaultTimeout bounds one delivery, connection included.
	DefaultTimeout = 10 * time.Second
	// maxResponse is as much of a response body as is read (for the
	// error message and to reuse the connection); the rest is dropped.
	maxResponse = 64 << 10
	// maxErrorText is as much of a refusal's body as an error quotes.
	maxErrorText = 200
)

// Options tune a Deliverer; zero values take the defaults.
type Options struct {
	Timeout time.Duration
	// RootCAs replaces the system's roots for https targets (tests, or a
	// private CA).
	RootCAs *x509.CertPool
}

// Target returns the URL a webhook plugin's events go to: the manifest's
// fixed URL, or the string its configuration holds under the manifest's
// configKey.
func Target(entry *manifest.WebhookEntry, config json.RawMessage) (string, error) {
	if entry == nil {
		return "", errors.New("the manifest has no webhook entry")
	}
	if entry.URL != "" {
		return entry.URL, nil
	}
	var cfg map[string]any
	if len(config) > 0 {
		if err := json.Unmarshal(config, &cfg); err != nil {
			return "", fmt.Errorf("config is not a JSON object: %w", err)
		}
	}
	s, ok := cfg[entry.ConfigKey].(string)
	if !ok || s == "" {
		return "", fmt.Errorf("config has no URL under %q", entry.ConfigKey)
	}
	return s, nil
}

// CheckTarget accepts an absolute https URL without credentials, or a
// plain http one whose host the plugin was granted (network:<host>).
func CheckTarget(target string, permissions []string) (*url.URL, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("webhook target must be an absolute URL without credentials")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && slices.Contains(permissions, manifest.NetworkPermission(u.Host)):
	case u.Scheme == "http":
		return nil, fmt.Errorf("webhook target %s is plain http and %q is not approved", redact(u), manifest.NetworkPermission(u.Host))
	default:
		return nil, fmt.Errorf("webhook target scheme %q: only https (or an approved http host)", u.Scheme)
	}
	return u, nil
}

// redact is a URL as errors and logs may show it: scheme and host only (a
// webhook's path or query often holds its own token).
func redact(u *url.URL) string { return u.Scheme + "://" + u.Host }

// Deliverer posts events to one plugin's target.
type Deliverer struct {
	target *url.URL
	secret []byte
	client *http.Client
}

var _ event.Deliverer = (*Deliverer)(nil)

// New returns the Deliverer of plugin p to target, signing with secret.
// The target is checked against p's permissions; an error wraps
// event.ErrPermanent (nothing can be delivered until the plugin changes).
func New(p event.Plugin, target string, secret []byte, o Options) (*Deliverer, error) {
	u, err := CheckTarget(target, p.Permissions)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w: %w", p.Name, event.ErrPermanent, err)
	}
	if len(secret) == 0 {
		return nil, fmt.Errorf("plugin %s: %w: no signing secret", p.Name, event.ErrPermanent)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // a proxy would see every event; the target is dialled directly
	tr.MaxIdleConnsPerHost = 16
	if o.RootCAs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return &Deliverer{
		target: u,
		secret: slices.Clone(secret),
		client: &http.Client{
			Transport: tr,
			Timeout:   o.Timeout,
			// never followed: a redirect could lead an approved target's
			// events (and their signature) to any host
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// Body is e as a CloudEvents 1.0 structured JSON body.
func Body(e event.Event) ([]byte, error) {
	ce := cloudevents.NewEvent(cloudevents.VersionV1)
	ce.SetID(e.ID)
	ce.SetType(e.Type)
	ce.SetSource(e.Source)
	ce.SetSubject(e.Subject)
	ce.SetTime(e.Time)
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage(`{}`)
	}
	if err := ce.SetData(cloudevents.ApplicationJSON, []byte(data)); err != nil {
		return nil, err
	}
	if err := ce.Validate(); err != nil {
		return nil, fmt.Errorf("event %s: %w", e.ID, err)
	}
	return json.Marshal(ce)
}

// Sign returns the SignatureHeader value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a delivery's signature header against its body, in
// constant time.
func Verify(secret, body []byte, header string) error {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return errors.New("signature header is not sha256=<hex>")
	}
	sig, err := hex.DecodeString(got)
	if err != nil {
		return errors.New("signature header is not sha256=<hex>")
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	if !hmac.Equal(sig, m.Sum(nil)) {
		return errors.New("signature does not match the body")
	}
	return nil
}

// Deliver posts e. A 2xx answer delivers it; a network error, a timeout,
// 408, 429 or 5xx is retried; any other answer (a 4xx refusal, a
// redirect, which is never followed) fails the event for good.
func (d *Deliverer) Deliver(ctx context.Context, e event.Event) error {
	body, err := Body(e)
	if err != nil {
		return fmt.Errorf("%w: %w", event.ErrPermanent, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.target.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", event.ErrPermanent, err)
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set(SignatureHeader, Sign(d.secret, body))
	req.Header.Set("User-Agent", "streamspace-portal")
	resp, err := d.client.Do(req)
	if err != nil {
		// the client's error quotes the full URL; say only where
		return fmt.Errorf("post to %s: %s", redact(d.target), cause(err))
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return fmt.Errorf("%s answered %d%s", redact(d.target), c, quote(head))
	case c >= 300 && c < 400:
		return fmt.Errorf("%w: %s answered %d (redirects are not followed)", event.ErrPermanent, redact(d.target), c)
	default:
		return fmt.Errorf("%w: %s refused the event: %d%s", event.ErrPermanent, redact(d.target), c, quote(head))
	}
}

// cause is a client error without the URL it quotes.
func cause(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return "timed out"
		}
		return ue.Err.Error()
	}
	return err.Error()
}

// quote is the start of a response body, printable, for an error.
func quote(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, string(b))
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if len(s) > maxErrorText {
		s = s[:maxErrorText] + "…"
	}
	return ": " + s
}

// Close drops idle connections.
func (d *Deliverer) Close(context.Context) error {
	d.client.CloseIdleConnections()
	return nil
}
