package cluster

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"k8s.io/client-go/tools/clientcmd"
)

func TestPKIAndKubeconfigs(t *testing.T) {
	c := &Cluster{Dir: t.TempDir()}
	if err := c.resolve(); err != nil {
		t.Fatal(err)
	}
	if err := c.ensurePKI(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(c.pki("admin.crt"))
	if err := c.ensurePKI(); err != nil { // reused, not remade
		t.Fatal(err)
	}
	after, _ := os.ReadFile(c.pki("admin.crt"))
	if string(before) != string(after) {
		t.Error("a second ensurePKI remade the admin certificate")
	}

	ca := load(t, c.pki("ca.crt"))
	etcdCA := load(t, c.pki("etcd-ca.crt"))
	frontProxyCA := load(t, c.pki("front-proxy-ca.crt"))
	for name, want := range map[string]struct {
		cn, org string
		by      *x509.Certificate
	}{
		"admin":                    {"streamspace-admin", "system:masters", ca},
		"kubelet":                  {"system:node:localhost", "system:nodes", ca},
		"controller-manager":       {"system:kube-controller-manager", "", ca},
		"scheduler":                {"system:kube-scheduler", "", ca},
		"apiserver-kubelet-client": {apiserverKubeletUser, "", ca},
		"apiserver-etcd-client":    {"kube-apiserver-etcd-client", "", etcdCA},
		"front-proxy-client":       {frontProxyUser, "", frontProxyCA},
		"metrics-server":           {metricsServerUser, "", ca},
	} {
		cert := load(t, c.pki(name+".crt"))
		if cert.Subject.CommonName != want.cn || (want.org != "" && (len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != want.org)) {
			t.Errorf("%s: subject %v", name, cert.Subject)
		}
		if err := cert.CheckSignatureFrom(want.by); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := load(t, c.pki("apiserver-etcd-client.crt")).CheckSignatureFrom(ca); err == nil {
		t.Error("the cluster CA must not sign etcd's client certificate")
	}
	// An extension API server trusts X-Remote-User only from a certificate
	// of the front-proxy CA: one of the cluster CA (a node's, metrics-
	// server's own) must not pass as the front proxy.
	for _, name := range []string{"admin", "kubelet", "metrics-server"} {
		if err := load(t, c.pki(name+".crt")).CheckSignatureFrom(frontProxyCA); err == nil {
			t.Errorf("the front-proxy CA signed %s", name)
		}
	}
	if err := load(t, c.pki("front-proxy-client.crt")).CheckSignatureFrom(ca); err == nil {
		t.Error("the cluster CA must not sign the front-proxy client certificate")
	}
	if err := load(t, c.pki("metrics-server-serving.crt")).VerifyHostname("metrics-server.kube-system.svc"); err != nil {
		t.Errorf("metrics-server's serving certificate, for the name the aggregator checks: %v", err)
	}
	apiserver := load(t, c.pki("apiserver.crt"))
	for _, host := range []string{"127.0.0.1", "localhost", "10.0.0.1", "kubernetes.default.svc"} {
		if err := apiserver.VerifyHostname(host); err != nil {
			t.Errorf("apiserver certificate: %v", err)
		}
	}
	if err := load(t, c.pki("kubelet-serving.crt")).VerifyHostname("localhost"); err != nil {
		t.Error(err)
	}

	if err := c.writeKubeconfigs(); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(c.Dir, "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://127.0.0.1:16443" || len(cfg.CertData) == 0 || len(cfg.CAData) == 0 {
		t.Errorf("admin kubeconfig: host %s", cfg.Host)
	}
}

func load(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestSubnetPicking(t *testing.T) {
	c := &Cluster{Bridge: "ssbr-unit"}
	for _, r := range routes() {
		if ones, _ := r.dst.Mask.Size(); ones == 0 {
			continue
		}
		s := (&net.IPNet{IP: r.dst.IP, Mask: net.CIDRMask(16, 32)}).String()
		if c.subnetUsable(s) {
			t.Errorf("%s overlaps the route %s on %s but counts as usable", s, r.dst, r.iface)
		}
	}
	got, err := c.pickSubnet()
	if err != nil {
		t.Skip(err)
	}
	if !c.subnetUsable(got) {
		t.Errorf("picked %s, which is not usable", got)
	}
}

func TestHelpers(t *testing.T) {
	if got := unescapeMount(`/a\040b/c`); got != "/a b/c" {
		t.Errorf("unescape: %q", got)
	}
	id := "8a4df45f9d0818fe231fa8cdea4e5d20848cc7d4e8bf7b1d173e0c3f32ea36d4"
	if m := cniCacheFile.FindStringSubmatch("streamspace-" + id + "-eth0"); m == nil || m[1] != "streamspace" {
		t.Errorf("cni cache name: %v", m)
	}
	if m := cniCacheFile.FindStringSubmatch("streamspace-test-" + id + "-eth0"); m == nil || m[1] != "streamspace-test" {
		t.Errorf("cni cache name: %v", m)
	}
}

func TestWriteImageIsReproducible(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "hello")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var sums [2]string
	for i := range sums {
		layer := filepath.Join(dir, "layer.tar")
		if err := writeSingleFileTar(layer, bin, "hello", 0o755); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "img.tar")
		if err := WriteImage(out, "localhost/streamspace/hello:1", layer, v1.Config{Entrypoint: []string{"/hello"}}); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(out)
		sums[i] = string(data)
	}
	if sums[0] != sums[1] {
		t.Error("the same layer gave two different image tarballs")
	}
}

// TestMetricsServerVersion: the version Cluster runs from the cache is the
// one hack/metrics-server.sh and the Makefile build.
func TestMetricsServerVersion(t *testing.T) {
	for file, want := range map[string]string{
		"../../hack/metrics-server.sh": "METRICS_SERVER_VERSION:-" + MetricsServerVersion + "}",
		"../../Makefile":               "METRICS_SERVER_VERSION ?= " + MetricsServerVersion,
	} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), want) {
			t.Errorf("%s does not say %q: keep the version there and in metrics.go the same", file, want)
		}
	}
	c := &Cluster{Bins: "/cache/streamspace/kube-" + KubeVersion}
	if got, want := c.MetricsServerBin(), "/cache/streamspace/tools-metrics-server-"+MetricsServerVersion+"/metrics-server"; got != want {
		t.Errorf("MetricsServerBin %s, want %s (where the Makefile builds it)", got, want)
	}
}

// Ports the kernel hands to outgoing connections, or that NetworkPolicy
// enforcement exempts, are refused by name; the defaults pass.
func TestPorts_refusesEphemeralAndNodePorts(t *testing.T) {
	if err := DefaultPorts.validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Skip("no ip_local_port_range here")
	}
	var low, high int
	if _, err := fmt.Sscan(string(data), &low, &high); err != nil {
		t.Fatal(err)
	}
	p := DefaultPorts
	p.EtcdPeer = low + (high-low)/2
	if err := p.validate(); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("etcd peer port %d is in this machine's ephemeral port range", p.EtcdPeer)) {
		t.Errorf("etcd peer in the ephemeral range: %v", err)
	}
	p = DefaultPorts
	p.APIServer = 31443
	if err := p.validate(); err == nil || !strings.Contains(err.Error(), "kube-apiserver port 31443 is in Kubernetes' NodePort range") {
		t.Errorf("API server in the NodePort range: %v", err)
	}
}
