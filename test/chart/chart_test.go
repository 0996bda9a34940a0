// Package chart tests the Helm chart in chart/: its copies of the generated
// manifests are fresh, it lints, its values schema refuses bad values with
// the schema's message, and, rendered with the values deploy/ hard-codes,
// it produces the same objects as deploy/ (kustomize) for everything deploy/
// contains, so the two install paths cannot drift apart.
package chart

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/streamspace/streamspace/agent/gitsync"
	"github.com/streamspace/streamspace/test/testenv"
)

// HelmVersion is the version `make helm` builds (HELM_VERSION in the
// Makefile).
const HelmVersion = "v4.3.2"

// helmBin is the binary `make helm` builds into the cache.
func helmBin(t *testing.T) string {
	t.Helper()
	bin, err := testenv.Tool("helm", HelmVersion, "helm")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func chartDir() string { return filepath.Join(testenv.RepoRoot(), "chart") }

// readChart reads every file of the chart so that `go test`'s cache reruns
// these tests when one changes (helm reads them in another process).
func readChart(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			_, _ = os.ReadFile(path)
		}
		return nil
	})
}

// helm runs helm with its own empty configuration (no repositories, no
// plugins, no cluster) and returns stdout, or stderr as the error.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	readChart(t, chartDir())
	home := t.TempDir()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// deployValues are what deploy/ hard-codes, as chart values: nfs-client
// homes and a webhook certificate from cert-manager; and a platform
// repository, which the chart requires and deploy/agent/gitsync.yaml
// leaves unset (its GitSync fails closed until the operator sets it).
var deployValues = []string{
	"--set", "gitSync.url=https://github.com/streamspace/streamspace.git",
	"--set", "agent.homes.storageClass=nfs-client",
	"--set", "webhook.certManager.enabled=true",
}

// render runs helm template for a release named streamspace in namespace
// streamspace (the names deploy/ uses) and decodes the objects.
func render(t *testing.T, dir string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm(t, append([]string{"template", "streamspace", dir, "--namespace", "streamspace", "--include-crds"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, out)
}

func decode(t *testing.T, manifests string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatalf("decode rendered chart: %v", err)
		}
		if m != nil {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}

func key(o *unstructured.Unstructured) string { return o.GetKind() + "/" + o.GetName() }

func index(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	m := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		m[key(o)] = o
	}
	return m
}

// TestChart_generatedCopiesAreFresh: the chart's CRDs, RBAC rules and
// webhook are byte-for-byte what controller-gen wrote into deploy/ (which
// test/generated checks against the markers).
func TestChart_generatedCopiesAreFresh(t *testing.T) {
	root := testenv.RepoRoot()
	pairs := map[string]string{
		"chart/generated/agent-role.yaml":  "deploy/rbac/role.yaml",
		"chart/generated/portal-role.yaml": "deploy/portal/rbac/role.yaml",
		"chart/generated/webhook.yaml":     "deploy/webhook/manifests.yaml",
		// hand-written in deploy/, read by the chart as it is
		"chart/generated/portal-networkpolicy.yaml": "deploy/portal/networkpolicy.yaml",
	}
	crds, _ := filepath.Glob(filepath.Join(root, "deploy/crd/bases/*.yaml"))
	charted, _ := filepath.Glob(filepath.Join(root, "chart/crds/*.yaml"))
	if len(crds) == 0 {
		t.Fatal("no CRDs in deploy/crd/bases")
	}
	for _, c := range crds {
		pairs["chart/crds/"+filepath.Base(c)] = "deploy/crd/bases/" + filepath.Base(c)
	}
	for _, c := range charted {
		if _, ok := pairs["chart/crds/"+filepath.Base(c)]; !ok {
			t.Errorf("chart/crds/%s is no longer generated: run `make generate-chart`", filepath.Base(c))
		}
	}
	for copied, source := range pairs {
		want, err := os.ReadFile(filepath.Join(root, source))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(root, copied))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is missing or stale (not %s): run `make generate-chart` and commit the result", copied, source)
		}
	}
}

// TestChart_lints: helm lint --strict with the default values plus a
// repository, and with each optional part switched on.
func TestChart_lints(t *testing.T) {
	base := []string{"lint", "--strict", chartDir(), "--set", "gitSync.url=https://git.example.com/platform.git"}
	for name, extra := range map[string][]string{
		"defaults":     nil,
		"cert-manager": {"--set", "webhook.certManager.enabled=true"},
		"ingress and apps domain": {"--set", "ingress.enabled=true", "--set", "portal.publicURL=https://portal.example.com",
			"--set", "portal.appsDomain=apps.example.com", "--set", "ingress.tlsSecretName=portal-tls", "--set", "ingress.appsTLSSecretName=apps-tls"},
		"postgres and autoscaling": {"--set", "portal.database.external=true", "--set", "portal.autoscaling.enabled=true"},
		"monitoring":               {"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.prometheusRule.enabled=true"},
	} {
		if out, err := helm(t, append(base, extra...)...); err != nil {
			t.Errorf("%s: %v\n%s", name, err, out)
		}
	}
}

// TestChart_matchesDeploy renders the chart with deploy/'s values and
// builds deploy/ with the agent's own kustomize build. Every object deploy/
// has must be in the chart and equal, apart from what only Helm adds
// (its labels, image pull policy, keep annotations) and the namespace
// kustomize stamps where Helm installs into the release namespace.
func TestChart_matchesDeploy(t *testing.T) {
	deployed, err := gitsync.Build(testenv.RepoRoot(), "deploy")
	if err != nil {
		t.Fatal(err)
	}
	charted := index(render(t, chartDir(), deployValues...))
	// Helm creates the release namespace (--create-namespace) rather than
	// owning it: an uninstall must not delete the namespace holding homes.
	onlyInDeploy := map[string]bool{"Namespace/streamspace": true}
	compared := 0
	for _, want := range deployed {
		k := key(want)
		got, ok := charted[k]
		if !ok {
			if !onlyInDeploy[k] {
				t.Errorf("deploy/ has %s, the chart does not: add it to chart/templates", k)
			}
			continue
		}
		compared++
		a, b := comparable(t, want), comparable(t, got)
		if _, set, _ := unstructured.NestedString(a, "spec", "url"); want.GetKind() == "GitSync" && !set {
			unstructured.RemoveNestedField(b, "spec", "url") // deploy/'s placeholder: see deployValues
		}
		for _, p := range labelPaths {
			if missing := missingLabels(want, got, p...); len(missing) > 0 {
				t.Errorf("%s: the chart's %s lack deploy/'s %v", k, strings.Join(p, "."), missing)
			}
		}
		if d := diffPaths("", a, b); len(d) > 0 {
			t.Errorf("%s differs between deploy/ and the chart:\n  %s", k, strings.Join(d, "\n  "))
		}
	}
	if compared < 20 {
		t.Errorf("only %d objects compared: deploy/ or the chart renders less than expected", compared)
	}
	var extra []string
	deployedKeys := index(deployed)
	for k := range charted {
		if deployedKeys[k] == nil {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	t.Logf("compared %d objects; only in the chart: %v", compared, extra)
}

// labelPaths hold label maps: the chart's must include deploy/'s (it adds
// Helm's instance, version and chart labels).
var labelPaths = [][]string{
	{"metadata", "labels"},
	{"metadata", "annotations"},
	{"spec", "selector"},
	{"spec", "selector", "matchLabels"},
	{"spec", "template", "metadata", "labels"},
}

func missingLabels(want, got *unstructured.Unstructured, path ...string) []string {
	w, _, _ := unstructured.NestedStringMap(want.Object, path...)
	g, _, _ := unstructured.NestedStringMap(got.Object, path...)
	var missing []string
	for k, v := range w {
		if g[k] != v {
			missing = append(missing, k+"="+v)
		}
	}
	sort.Strings(missing)
	return missing
}

// comparable is the object through JSON (one number type for both
// decoders) without the label maps (compared as subsets), the namespace,
// and the containers' imagePullPolicy that only the chart sets.
func comparable(t *testing.T, o *unstructured.Unstructured) map[string]any {
	t.Helper()
	data, err := json.Marshal(o.Object)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	for _, p := range labelPaths {
		unstructured.RemoveNestedField(u.Object, p...)
	}
	unstructured.RemoveNestedField(u.Object, "metadata", "namespace")
	if containers, ok, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers"); ok {
		for _, c := range containers {
			delete(c.(map[string]any), "imagePullPolicy")
		}
		_ = unstructured.SetNestedSlice(u.Object, containers, "spec", "template", "spec", "containers")
	}
	return u.Object
}

// diffPaths lists where a (deploy/) and b (the chart) differ, as field
// paths with both values.
func diffPaths(path string, a, b any) []string {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		var out []string
		for k := range keys {
			out = append(out, diffPaths(path+"."+k, av[k], bv[k])...)
		}
		sort.Strings(out)
		return out
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			break
		}
		var out []string
		for i := range av {
			out = append(out, diffPaths(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i])...)
		}
		return out
	}
	if reflect.DeepEqual(a, b) {
		return nil
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return []string{fmt.Sprintf("%s: deploy/ %s, chart %s", path, ja, jb)}
}

// TestChart_schemaRefusesBadValues: a value the schema does not allow fails
// `helm template` and `helm install` with the schema's words, naming the
// value; the chart's own checks fail with a message saying what to set.
func TestChart_schemaRefusesBadValues(t *testing.T) {
	repo := []string{"--set", "gitSync.url=https://git.example.com/platform.git"}
	for _, c := range []struct {
		name string
		args []string
		want []string // every one must be in the error
	}{
		{"drift mode outside the enum", []string{"--set", "gitSync.driftMode=fix"}, []string{"/gitSync/driftMode", "value must be one of", "'warn'", "'correct'"}},
		{"replicas not a number", []string{"--set", "agent.replicas=two"}, []string{"/agent/replicas", "got string, want integer"}},
		{"zero agents", []string{"--set", "agent.replicas=0"}, []string{"/agent/replicas", "minimum"}},
		{"misspelt value", []string{"--set", "portal.replica=2"}, []string{"/portal", "additional properties 'replica' not allowed"}},
		{"repository URL without a scheme", []string{"--set", "gitSync.url=github.com/example/platform"}, []string{"/gitSync/url", "does not match pattern"}},
		{"path leaving the repository", []string{"--set", "gitSync.path=../etc"}, []string{"/gitSync/path"}},
		{"apps domain with a wildcard", []string{"--set", "portal.appsDomain=*.apps.example.com"}, []string{"/portal/appsDomain", "does not match pattern"}},
		{"service type", []string{"--set", "portal.service.type=Public"}, []string{"/portal/service/type", "value must be one of"}},
		{"duration", []string{"--set", "gitSync.interval=5 minutes"}, []string{"/gitSync/interval"}},
		{"no repository", []string{"--set", "gitSync.url="}, []string{"gitSync.url is required", "platform repository"}},
		{"two portals on SQLite", []string{"--set", "portal.replicas=2"}, []string{"portal.database.external=true", "postgres://"}},
		{"apps domain without the portal URL", []string{"--set", "portal.appsDomain=apps.example.com"}, []string{"portal.appsDomain needs portal.publicURL"}},
		{"ingress without a host", []string{"--set", "ingress.enabled=true"}, []string{"ingress.enabled needs portal.publicURL"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string{"template", "streamspace", chartDir()}, repo...), c.args...)
			_, err := helm(t, args...)
			if err == nil {
				t.Fatalf("helm template %v succeeded", c.args)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	// helm install checks the same schema before it talks to a cluster.
	_, err := helm(t, append(append([]string{"install", "streamspace", chartDir(), "--dry-run=client"}, repo...), "--set", "gitSync.driftMode=fix")...)
	if err == nil || !strings.Contains(err.Error(), "/gitSync/driftMode") {
		t.Errorf("helm install with a bad value: %v", err)
	}
	// And the same values, corrected, pass: the refusals above are about
	// the values, not the chart.
	out, err := helm(t, append(append([]string{"install", "streamspace", chartDir(), "--dry-run=client", "--namespace", "vdi"}, repo...),
		"--set", "gitSync.driftMode=correct", "--set", "portal.replicas=2", "--set", "portal.database.external=true",
		"--set", "portal.publicURL=https://portal.example.com", "--set", "portal.appsDomain=apps.example.com")...)
	if err != nil {
		t.Fatalf("good values refused: %v", err)
	}
	// NOTES.txt says where to sign in and where the first password is.
	notes := out
	if i := strings.Index(out, "NOTES:"); i >= 0 {
		notes = out[i:]
	}
	for _, want := range []string{"https://portal.example.com", "kubectl -n vdi logs -l app.kubernetes.io/name=streamspace-portal,app.kubernetes.io/instance=streamspace", "grep 'Bootstrap admin'"} {
		if !strings.Contains(notes, want) {
			t.Errorf("the install notes lack %q:\n%s", want, notes)
		}
	}
}

// TestChart_webhookCertificate: without cert-manager the chart makes a CA
// and a serving certificate for the webhook Service's DNS names, and the
// webhook configuration trusts exactly that CA; with cert-manager it makes
// none and asks cert-manager to inject the CA.
func TestChart_webhookCertificate(t *testing.T) {
	objs := index(render(t, chartDir(), "--set", "gitSync.url=https://git.example.com/platform.git"))
	secret := objs["Secret/streamspace-agent-webhook-tls"]
	vwc := objs["ValidatingWebhookConfiguration/streamspace-agent"]
	if secret == nil || vwc == nil {
		t.Fatalf("no webhook Secret or configuration rendered")
	}
	data, _, _ := unstructured.NestedStringMap(secret.Object, "data")
	caPEM, _ := base64.StdEncoding.DecodeString(data["ca.crt"])
	crtPEM, _ := base64.StdEncoding.DecodeString(data["tls.crt"])
	webhooks, _, _ := unstructured.NestedSlice(vwc.Object, "webhooks")
	if len(webhooks) == 0 {
		t.Fatal("no webhooks")
	}
	for _, w := range webhooks {
		bundle, _, _ := unstructured.NestedString(w.(map[string]any), "clientConfig", "caBundle")
		if bundle != data["ca.crt"] {
			t.Errorf("webhook %v: caBundle is not the Secret's ca.crt", w.(map[string]any)["name"])
		}
		// each webhook keeps its own path: vsession.stream.space is served
		// at /validate-stream-space-v1alpha1-session, and so on
		name, _ := w.(map[string]any)["name"].(string)
		path := "/validate-stream-space-v1alpha1-" + strings.TrimSuffix(strings.TrimPrefix(name, "v"), ".stream.space")
		svc, _, _ := unstructured.NestedStringMap(w.(map[string]any), "clientConfig", "service")
		if svc["name"] != "streamspace-agent-webhook" || svc["namespace"] != "streamspace" || svc["path"] != path {
			t.Errorf("webhook %s: service %v, want streamspace-agent-webhook in streamspace at %s", name, svc, path)
		}
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt is not a PEM certificate")
	}
	block, _ := pem.Decode(crtPEM)
	if block == nil {
		t.Fatal("tls.crt is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"streamspace-agent-webhook.streamspace.svc", "streamspace-agent-webhook.streamspace.svc.cluster.local"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("serving certificate for %s: %v", name, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "evil.example.com", Roots: roots}); err == nil {
		t.Error("the serving certificate is valid for any name")
	}

	objs = index(render(t, chartDir(), deployValues...))
	if objs["Secret/streamspace-agent-webhook-tls"] != nil {
		t.Error("with cert-manager the chart still makes the certificate")
	}
	vwc = objs["ValidatingWebhookConfiguration/streamspace-agent"]
	if vwc.GetAnnotations()["cert-manager.io/inject-ca-from"] != "streamspace/streamspace-agent-webhook" || objs["Certificate/streamspace-agent-webhook"] == nil {
		t.Errorf("cert-manager mode: annotation %v", vwc.GetAnnotations())
	}
}

// TestChart_portalNetworkPolicyNarrowed: the portal's egress beyond the
// cluster goes to the CIDRs the operator gives, and only those; the rules
// inside the cluster (DNS, session stream ports) stay as deploy/ has them.
func TestChart_portalNetworkPolicyNarrowed(t *testing.T) {
	objs := index(render(t, chartDir(), "--set", "gitSync.url=https://git.example.com/platform.git",
		"--set", "portal.networkPolicy.apiAndIdentityCIDRs={10.0.0.10/32,140.82.112.0/20}",
		"--set", "portal.networkPolicy.databaseCIDRs={10.1.2.3/32}"))
	np := objs["NetworkPolicy/streamspace-portal"]
	if np == nil {
		t.Fatal("no portal NetworkPolicy")
	}
	egress, _, _ := unstructured.NestedSlice(np.Object, "spec", "egress")
	var peers []string
	for _, r := range egress {
		for _, to := range r.(map[string]any)["to"].([]any) {
			if cidr, ok, _ := unstructured.NestedString(to.(map[string]any), "ipBlock", "cidr"); ok {
				ports := r.(map[string]any)["ports"].([]any)
				peers = append(peers, fmt.Sprintf("%s:%v", cidr, ports[0].(map[string]any)["port"]))
			}
		}
	}
	want := []string{"10.0.0.10/32:443", "140.82.112.0/20:443", "10.1.2.3/32:5432"}
	if !reflect.DeepEqual(peers, want) {
		t.Errorf("egress beyond the cluster %v, want %v", peers, want)
	}
	if len(egress) != 4 {
		t.Errorf("%d egress rules, want deploy/'s 4", len(egress))
	}
	_, err := helm(t, "template", "streamspace", chartDir(), "--set", "gitSync.url=https://git.example.com/platform.git", "--set", "portal.networkPolicy.databaseCIDRs={db.example.com}")
	if err == nil || !strings.Contains(err.Error(), "/portal/networkPolicy/databaseCIDRs/0") {
		t.Errorf("a host name as a CIDR: %v", err)
	}
}

// TestChart_rulesAndDashboardsFromFiles: files/rules/*.yaml become
// PrometheusRules and files/dashboards/*.json ConfigMaps labelled for
// Grafana's sidecar, whatever files there are; a rules file that is not
// one fails the render naming it.
func TestChart_rulesAndDashboardsFromFiles(t *testing.T) {
	dir := copyChart(t)
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("files/rules/test_drift.yaml", "groups:\n  - name: drift\n    rules:\n      - alert: Drifted\n        expr: sum(streamspace_gitsync_drifted) > 0\n        annotations:\n          summary: '{{ $labels.gitsync }} drifted'\n")
	write("files/dashboards/test-overview.json", `{"title": "Test overview", "panels": []}`)
	objs := index(render(t, dir, "--set", "gitSync.url=https://git.example.com/platform.git",
		"--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.serviceMonitor.enabled=true"))
	rule := objs["PrometheusRule/streamspace-test-drift"]
	if rule == nil {
		t.Fatalf("no PrometheusRule for files/rules/test_drift.yaml")
	}
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	summary := groups[0].(map[string]any)["rules"].([]any)[0].(map[string]any)["annotations"].(map[string]any)["summary"]
	if summary != "{{ $labels.gitsync }} drifted" {
		t.Errorf("the rule's Prometheus template was changed: %q", summary)
	}
	cm := objs["ConfigMap/streamspace-dashboard-test-overview"]
	if cm == nil {
		t.Fatal("no dashboard ConfigMap")
	}
	if cm.GetLabels()["grafana_dashboard"] != "1" {
		t.Errorf("dashboard labels %v", cm.GetLabels())
	}
	if d, _, _ := unstructured.NestedString(cm.Object, "data", "test-overview.json"); d != `{"title": "Test overview", "panels": []}` {
		t.Errorf("dashboard JSON %q", d)
	}
	for _, c := range []string{"agent", "portal"} {
		if objs["ServiceMonitor/streamspace-"+c] == nil {
			t.Errorf("no ServiceMonitor for the %s", c)
		}
	}

	write("files/rules/promtool_test.yaml", "rule_files: [drift.yaml]\ntests: []\n")
	_, err := helm(t, "template", "streamspace", dir, "--set", "gitSync.url=https://git.example.com/platform.git", "--set", "metrics.prometheusRule.enabled=true")
	if err == nil || !strings.Contains(err.Error(), "files/rules/promtool_test.yaml is not a Prometheus rule file") {
		t.Errorf("a file without groups: %v", err)
	}
}

// TestChart_scrapeJobsAreTheRulesJobs: the alert rules find the agent and
// the portal by job name; whatever a release is called, its ServiceMonitors
// must give its targets exactly those names, or the "down" alerts fire for
// a platform that is up.
func TestChart_scrapeJobsAreTheRulesJobs(t *testing.T) {
	rules, err := os.ReadFile(filepath.Join(chartDir(), "files", "rules", "streamspace.rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := helm(t, "template", "edu", chartDir(), "--set", "gitSync.url=https://git.example.com/platform.git", "--set", "metrics.serviceMonitor.enabled=true")
	if err != nil {
		t.Fatal(err)
	}
	objs := index(decode(t, out))
	for _, c := range []string{"agent", "portal"} {
		job := "streamspace-" + c
		if !strings.Contains(string(rules), `job="`+job+`"`) {
			t.Fatalf("the rules no longer name the job %s: update this test and the ServiceMonitors together", job)
		}
		sm := objs["ServiceMonitor/edu-streamspace-"+c]
		if sm == nil {
			t.Fatalf("no ServiceMonitor for the %s in release edu; rendered %v", c, keys(objs))
		}
		endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		got := ""
		for _, e := range endpoints {
			relabelings, _, _ := unstructured.NestedSlice(e.(map[string]any), "relabelings")
			for _, r := range relabelings {
				if r := r.(map[string]any); r["targetLabel"] == "job" {
					got, _ = r["replacement"].(string)
				}
			}
		}
		if got != job {
			t.Errorf("release edu's %s targets are scraped as job %q, the rules look for %q", c, got, job)
		}
	}
}

func keys(objs map[string]*unstructured.Unstructured) []string {
	var out []string
	for k := range objs {
		out = append(out, k)
	}
	return out
}

// copyChart copies chart/ into a temporary folder, to add files to it.
func copyChart(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "chart")
	src := chartDir()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"files/rules", "files/dashboards"} {
		if err := os.MkdirAll(filepath.Join(dst, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
