// Package webhooktest is a real HTTPS receiver of webhook plugin
// deliveries for tests and benchmarks: one endpoint per plugin
// (/<plugin>), checking what a real receiver must — the HMAC-SHA256 of the
// raw body under that plugin's secret, compared in constant time, then
// the CloudEvents attributes as the CloudEvents SDK reads the request —
// with its own code, not plugins/webhook's.
package webhooktest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// Got is one delivery as the receiver accepted it.
type Got struct {
	ID, Type, Subject, Source string
	// Time is the event's time attribute; At when it arrived.
	Time, At time.Time
	Data     map[string]any
}

// Receiver answers 204 to a signed CloudEvent, 401 to a bad signature,
// 400 to anything else; 503 while Failing; Refuse maps a plugin to a
// status it always answers.
type Receiver struct {
	srv *httptest.Server
	// Roots trust the receiver's certificate (self-signed, 127.0.0.1).
	Roots *x509.CertPool
	// CA is that certificate in PEM (for SSL_CERT_FILE).
	CA []byte

	Failing  atomic.Bool
	Refusals atomic.Int64 // 503s answered while Failing
	BadSigs  atomic.Int64
	NotCE    atomic.Int64

	mu      sync.Mutex
	secrets map[string][]byte
	refuse  map[string]int
	got     map[string][]Got
}

// Start starts a receiver on loopback.
func Start() (*Receiver, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "webhooktest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	r := &Receiver{Roots: x509.NewCertPool(), CA: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		secrets: map[string][]byte{}, refuse: map[string]int{}, got: map[string][]Got{}}
	r.Roots.AddCert(cert)
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	r.srv.StartTLS()
	return r, nil
}

// WriteCA writes the receiver's certificate to path, e.g. for
// SSL_CERT_FILE.
func (r *Receiver) WriteCA(path string) error { return os.WriteFile(path, r.CA, 0o600) }

// Close stops the receiver.
func (r *Receiver) Close() { r.srv.Close() }

// URL is the endpoint of a plugin.
func (r *Receiver) URL(plugin string) string { return r.srv.URL + "/" + plugin }

// Expect makes the receiver verify plugin's deliveries with secret.
func (r *Receiver) Expect(plugin string, secret []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets[plugin] = secret
}

// Refuse makes the receiver answer every delivery to plugin with status.
func (r *Receiver) Refuse(plugin string, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refuse[plugin] = status
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	plugin := strings.TrimPrefix(req.URL.Path, "/")
	r.mu.Lock()
	secret, refuse := r.secrets[plugin], r.refuse[plugin]
	r.mu.Unlock()
	if refuse != 0 {
		http.Error(w, "schema mismatch: no field subject", refuse)
		return
	}
	if r.Failing.Load() {
		r.Refusals.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if len(secret) == 0 || !hmac.Equal([]byte(want), []byte(req.Header.Get("X-StreamSpace-Signature"))) {
		r.BadSigs.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	e, err := cehttp.NewEventFromHTTPRequest(req)
	if err != nil || e.SpecVersion() != "1.0" || e.DataContentType() != "application/json" || e.Time().IsZero() || e.ID() == "" {
		r.NotCE.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var data map[string]any
	_ = e.DataAs(&data)
	g := Got{ID: e.ID(), Type: e.Type(), Subject: e.Subject(), Source: e.Source(), Time: e.Time(), At: time.Now(), Data: data}
	r.mu.Lock()
	r.got[plugin] = append(r.got[plugin], g)
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Got returns what plugin received, in arrival order, duplicates included.
func (r *Receiver) Got(plugin string) []Got {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got[plugin])
}

// Unique is what a receiver deduplicating by id keeps, in arrival order.
func Unique(got []Got) []Got {
	seen := map[string]bool{}
	var out []Got
	for _, g := range got {
		if !seen[g.ID] {
			seen[g.ID] = true
			out = append(out, g)
		}
	}
	return out
}
