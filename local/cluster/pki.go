package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The certificates live in Dir/pki. They are made once and reused; a leaf
// that expires within renewBefore, or that the current CA did not sign, is
// made again.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 2 * 365 * 24 * time.Hour
	renewBefore  = 30 * 24 * time.Hour
)

// NodeName is the name the kubelet registers (and kwok's fake node has).
// The API server reaches the kubelet by this name (Hostname address type).
const NodeName = "localhost"

type certSpec struct {
	name     string // file stem in Dir/pki
	ca       string // stem of the signing CA
	cn       string
	orgs     []string
	dnsNames []string
	ips      []net.IP
	server   bool
	client   bool
}

func (c *Cluster) pki(name string) string { return filepath.Join(c.Dir, "pki", name) }

func (c *Cluster) certSpecs() []certSpec {
	loopback := []net.IP{net.ParseIP("127.0.0.1")}
	return []certSpec{
		{name: "apiserver", ca: "ca", cn: "kube-apiserver", server: true,
			dnsNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			ips:      c.apiserverIPs()},
		{name: "admin", ca: "ca", cn: "streamspace-admin", orgs: []string{"system:masters"}, client: true},
		{name: "controller-manager", ca: "ca", cn: "system:kube-controller-manager", client: true},
		{name: "scheduler", ca: "ca", cn: "system:kube-scheduler", client: true},
		{name: "kubelet", ca: "ca", cn: "system:node:" + NodeName, orgs: []string{"system:nodes"}, client: true},
		{name: "kubelet-serving", ca: "ca", cn: NodeName, dnsNames: []string{NodeName}, ips: loopback, server: true},
		{name: "apiserver-kubelet-client", ca: "ca", cn: apiserverKubeletUser, client: true},
		// bound to the built-in ClusterRole system:node-proxier
		{name: "kube-proxy", ca: "ca", cn: "system:kube-proxy", client: true},
		// bound to a read-only ClusterRole (netpol.go)
		{name: "kube-router", ca: "ca", cn: kubeRouterUser, client: true},
		// etcd has its own CA: a certificate of the cluster CA (a node's, say)
		// must not open etcd.
		{name: "etcd-server", ca: "etcd-ca", cn: "etcd", dnsNames: []string{"localhost"}, ips: loopback, server: true, client: true},
		{name: "apiserver-etcd-client", ca: "etcd-ca", cn: "kube-apiserver-etcd-client", client: true},
		// The aggregation layer: the API server proxies metrics.k8s.io to
		// metrics-server with this certificate, of a CA of its own (a
		// certificate of the cluster CA must not be able to assert any user
		// in X-Remote-User headers), named in --requestheader-allowed-names.
		{name: "front-proxy-client", ca: "front-proxy-ca", cn: frontProxyUser, client: true},
		// metrics-server: its client certificate (the API and the kubelet
		// know it as system:metrics-server) and its serving certificate, for
		// the name the aggregator checks (service.namespace.svc) and the
		// bridge's gateway it listens on.
		{name: "metrics-server", ca: "ca", cn: metricsServerUser, client: true},
		{name: "metrics-server-serving", ca: "ca", cn: "metrics-server", server: true,
			dnsNames: []string{metricsServerService + "." + metav1.NamespaceSystem + ".svc"}, ips: c.metricsServerIPs()},
	}
}

const (
	firstServiceIP       = "10.0.0.1"
	serviceCIDR          = "10.0.0.0/16"
	apiserverKubeletUser = "kube-apiserver-kubelet-client"
	frontProxyUser       = "front-proxy-client"
	metricsServerUser    = "system:metrics-server"
)

// ensurePKI makes the CAs, the leaf certificates and the service-account key
// pair that are missing or due.
func (c *Cluster) ensurePKI() error {
	if err := os.MkdirAll(filepath.Join(c.Dir, "pki"), 0o700); err != nil {
		return err
	}
	cas := map[string]*keyPair{}
	for _, name := range []string{"ca", "etcd-ca", "front-proxy-ca"} {
		kp, err := c.ensureCA(name)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		cas[name] = kp
	}
	for _, spec := range c.certSpecs() {
		if err := c.ensureLeaf(spec, cas[spec.ca]); err != nil {
			return fmt.Errorf("certificate %s: %w", spec.name, err)
		}
	}
	return c.ensureServiceAccountKey()
}

type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func (c *Cluster) loadKeyPair(name string) (*keyPair, error) {
	certPEM, err := os.ReadFile(c.pki(name + ".crt"))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(c.pki(name + ".key"))
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("key cannot sign")
	}
	return &keyPair{cert: cert, key: signer}, nil
}

func fresh(cert *x509.Certificate) bool {
	return time.Now().Add(renewBefore).Before(cert.NotAfter)
}

func (c *Cluster) ensureCA(name string) (*keyPair, error) {
	if kp, err := c.loadKeyPair(name); err == nil && fresh(kp.cert) {
		return kp, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "streamspace-local-" + name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	if err := c.writeKeyPair(name, der, key); err != nil {
		return nil, err
	}
	return c.loadKeyPair(name)
}

// apiserverIPs are the API server certificate's addresses: loopback, the
// first service IP (pods call the kubernetes Service) and, on a real node,
// the bridge's gateway it listens on.
func (c *Cluster) apiserverIPs() []net.IP {
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(firstServiceIP)}
	if ip := net.ParseIP(c.apiAddress); ip != nil {
		ips = append(ips, ip)
	}
	return ips
}

func (c *Cluster) ensureLeaf(spec certSpec, ca *keyPair) error {
	if kp, err := c.loadKeyPair(spec.name); err == nil && fresh(kp.cert) && kp.cert.CheckSignatureFrom(ca.cert) == nil && coversIPs(kp.cert, spec.ips) {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: spec.cn, Organization: spec.orgs},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		DNSNames:     spec.dnsNames,
		IPAddresses:  spec.ips,
	}
	if spec.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if spec.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return err
	}
	return c.writeKeyPair(spec.name, der, key)
}

func (c *Cluster) writeKeyPair(name string, der []byte, key crypto.Signer) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFile(c.pki(name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeFile(c.pki(name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// ensureServiceAccountKey makes the RSA key pair that signs and verifies
// service-account tokens (sa.key, sa.pub).
func (c *Cluster) ensureServiceAccountKey() error {
	if _, err := os.Stat(c.pki("sa.key")); err == nil {
		if _, err := os.Stat(c.pki("sa.pub")); err == nil {
			return nil
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := writeFile(c.pki("sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	return writeFile(c.pki("sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	return n
}

// writeFile writes atomically (temp file + rename), so a reader never sees
// half a certificate.
func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Kubeconfig is the admin kubeconfig's path (user streamspace-admin in
// system:masters).
func (c *Cluster) Kubeconfig() string { return filepath.Join(c.Dir, "kubeconfig") }

func (c *Cluster) componentKubeconfig(name string) string {
	return filepath.Join(c.Dir, "kubeconfigs", name+".kubeconfig")
}

// coversIPs: cert names every address of ips (a cluster whose API server
// moved to a new address needs a certificate naming it).
func coversIPs(cert *x509.Certificate, ips []net.IP) bool {
	for _, want := range ips {
		if !slices.ContainsFunc(cert.IPAddresses, want.Equal) {
			return false
		}
	}
	return true
}

// apiHost is the address the API server listens on.
func (c *Cluster) apiHost() string {
	if c.apiAddress != "" {
		return c.apiAddress
	}
	return "127.0.0.1"
}

// Server is the API server's URL: on loopback, or on a real node at the
// bridge's gateway (this machine's own address on the bridge, which pods
// reach too).
func (c *Cluster) Server() string {
	return "https://" + net.JoinHostPort(c.apiHost(), strconv.Itoa(c.Ports.APIServer))
}

// writeKubeconfigs writes the admin kubeconfig and one per component, each
// with its client certificate embedded.
func (c *Cluster) writeKubeconfigs() error {
	caPEM, err := os.ReadFile(c.pki("ca.crt"))
	if err != nil {
		return err
	}
	files := map[string]string{
		"admin":              c.Kubeconfig(),
		"controller-manager": c.componentKubeconfig("controller-manager"),
		"scheduler":          c.componentKubeconfig("scheduler"),
		"kubelet":            c.componentKubeconfig("kubelet"),
		"kube-proxy":         c.componentKubeconfig("kube-proxy"),
		"kube-router":        c.componentKubeconfig("kube-router"),
		"metrics-server":     c.componentKubeconfig("metrics-server"),
	}
	for cert, path := range files {
		certPEM, err := os.ReadFile(c.pki(cert + ".crt"))
		if err != nil {
			return err
		}
		keyPEM, err := os.ReadFile(c.pki(cert + ".key"))
		if err != nil {
			return err
		}
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters["streamspace-local"] = &clientcmdapi.Cluster{Server: c.Server(), CertificateAuthorityData: caPEM}
		cfg.AuthInfos[cert] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
		cfg.Contexts["streamspace-local"] = &clientcmdapi.Context{Cluster: "streamspace-local", AuthInfo: cert}
		cfg.CurrentContext = "streamspace-local"
		data, err := clientcmd.Write(*cfg)
		if err != nil {
			return err
		}
		if err := writeFile(path, data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
