package observe

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/sessions"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/freeport"
	"github.com/streamspace/streamspace/test/syncbuf"
	"github.com/streamspace/streamspace/test/testenv"
)

// notification is the part of an Alertmanager webhook body the test reads.
type notification struct {
	Alerts []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

// TestAlerts_realPrometheusAndAlertmanager: two agent replicas and a portal
// against a real API server, syncing this project's own catalog from a real
// Git server, scraped by a real Prometheus with the chart's rules, which
// notifies a real Alertmanager, which delivers to a webhook receiver here.
// A kubectl-edit of a Git-managed Template must reach that receiver as
// StreamSpaceDriftDetected, a GitSync of a missing repository as
// StreamSpaceSyncFailing; then every dashboard panel's query runs against
// that Prometheus.
func TestAlerts_realPrometheusAndAlertmanager(t *testing.T) {
	prometheus := needTool(t, "prometheus", prometheusVersion)
	alertmanager := needTool(t, "alertmanager", alertmanagerVersion)
	g := NewWithT(t)
	ctx := context.Background()
	ns, err := env.Namespace(ctx, "observe")
	g.Expect(err).NotTo(HaveOccurred())
	dir := t.TempDir()

	// The receiver Alertmanager delivers to.
	received := make(chan notification, 100)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n notification
		if err := json.NewDecoder(r.Body).Decode(&n); err == nil {
			received <- n
		}
	}))
	defer hook.Close()

	agents := []*agent{startAgent(t, "a", ns), startAgent(t, "b", ns)}
	portal := startPortal(t, ns)

	amPort, promPort := freeport.For(t), freeport.For(t)
	writeFile(t, filepath.Join(dir, "alertmanager.yaml"), fmt.Sprintf(`route:
  receiver: test
  group_by: [alertname, namespace, name]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: %s/
`, hook.URL))
	startServer(t, "alertmanager", alertmanager, "--config.file="+filepath.Join(dir, "alertmanager.yaml"),
		"--storage.path="+filepath.Join(dir, "am"), "--web.listen-address=127.0.0.1:"+strconv.Itoa(amPort), "--cluster.listen-address=")

	writeFile(t, filepath.Join(dir, "rules.yaml"), string(testRules(t)))
	var agentTargets []string
	for _, a := range agents {
		agentTargets = append(agentTargets, strconv.Quote(strings.TrimSuffix(strings.TrimPrefix(a.metrics, "http://"), "/metrics")))
	}
	writeFile(t, filepath.Join(dir, "prometheus.yaml"), fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yaml]
alerting:
  alertmanagers:
    - static_configs: [{targets: ["127.0.0.1:%d"]}]
scrape_configs:
  - job_name: streamspace-agent
    static_configs: [{targets: [%s]}]
  - job_name: streamspace-portal
    static_configs: [{targets: [%q]}]
`, amPort, strings.Join(agentTargets, ", "), strings.TrimPrefix(portal, "http://")))
	startServer(t, "prometheus", prometheus, "--config.file="+filepath.Join(dir, "prometheus.yaml"),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address=127.0.0.1:"+strconv.Itoa(promPort))
	prom := fmt.Sprintf("http://127.0.0.1:%d", promPort)

	// Every target is scraped.
	g.Eventually(func(g Gomega) {
		g.Expect(promQuery(g, prom, `sum(up)`)).To(ConsistOf(HaveField("Value", "3")))
	}, 60*time.Second, time.Second).Should(Succeed())

	// The platform from this project's own catalog and policies (driftMode
	// warn), one ConfigMap in driftMode correct, and a GitSync of a
	// repository that does not exist.
	repo := newRepo(t, ns)
	created := time.Now()
	for _, gs := range []*streamv1.GitSync{
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "platform"},
			Spec: streamv1.GitSyncSpec{URL: repo, Path: "environments/test", Prune: true, Interval: metav1.Duration{Duration: time.Minute}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "corrected"},
			Spec: streamv1.GitSyncSpec{URL: repo, Path: "environments/corrected", Prune: true, Interval: metav1.Duration{Duration: time.Minute}, DriftMode: streamv1.DriftCorrect}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "broken"},
			Spec: streamv1.GitSyncSpec{URL: git.URL + "/no-such-repository.git", Path: "environments/test", Prune: true, Interval: metav1.Duration{Duration: time.Minute}}},
	} {
		g.Expect(env.Client.Create(ctx, gs)).To(Succeed())
	}
	for _, name := range []string{"platform", "corrected"} {
		g.Eventually(func(g Gomega) {
			gs := &streamv1.GitSync{}
			g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, gs)).To(Succeed())
			g.Expect(apimeta.IsStatusConditionTrue(gs.Status.Conditions, "Ready")).To(BeTrue(), "%s GitSync: %v", name, gs.Status.Conditions)
		}, 2*time.Minute, time.Second).Should(Succeed())
	}

	// Sessions through their lifecycle (envtest has no kubelet: the test
	// reports the Deployments available or gone, as the sessions tests do):
	// launched, one hibernated and woken, one terminated by its user.
	for _, s := range []struct{ name, user string }{{"mia-1", "mia"}, {"max-1", "max"}, {"zoe-1", "zoe"}} {
		g.Expect(env.Client.Create(ctx, &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: s.name},
			Spec: streamv1.SessionSpec{User: s.user, Template: "firefox"}})).To(Succeed())
		setDeployment(t, ns, s.name, 1)
		waitPhase(t, ns, s.name, streamv1.PhaseRunning)
	}
	setState(t, ns, "max-1", streamv1.StateHibernated)
	setDeployment(t, ns, "max-1", 0)
	waitPhase(t, ns, "max-1", streamv1.PhaseHibernated)
	setState(t, ns, "max-1", streamv1.StateRunning)
	setDeployment(t, ns, "max-1", 1)
	waitPhase(t, ns, "max-1", streamv1.PhaseRunning)
	setState(t, ns, "zoe-1", streamv1.StateTerminated)
	waitPhase(t, ns, "zoe-1", streamv1.PhaseTerminated)

	// Pushes: one signed, one forged (the webhook panel's series).
	push(t, agents[0].receiver, repo, pushSecret, http.StatusAccepted)
	push(t, agents[1].receiver, repo, "not-the-secret", http.StatusUnauthorized)
	// Portal traffic: a page and a refused API call.
	for _, path := range []string{"/healthz", "/api/v1/sessions"} {
		resp, err := http.Get(portal + path)
		g.Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
	}

	// kubectl edit of a Template Git manages (and of the ConfigMap the
	// agent reverts).
	edited := time.Now()
	tpl := &streamv1.Template{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "firefox"}}
	g.Expect(env.Client.Patch(ctx, tpl, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"displayName":"Firefox (edited live)"}}`)),
		client.FieldOwner("kubectl-edit"))).To(Succeed())
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "observe-corrected"}}
	g.Expect(env.Client.Patch(ctx, cm, client.RawPatch(types.MergePatchType, []byte(`{"data":{"mode":"edited live"}}`)),
		client.FieldOwner("kubectl-edit"))).To(Succeed())

	// What must arrive, and since when it is measured.
	want := map[string]string{"StreamSpaceDriftDetected": "platform", "StreamSpaceSyncFailing": "broken"}
	since := map[string]time.Time{"StreamSpaceDriftDetected": edited, "StreamSpaceSyncFailing": created}
	what := map[string]string{"StreamSpaceDriftDetected": "the kubectl edit", "StreamSpaceSyncFailing": "the GitSync was created"}
	deadline := time.After(3 * time.Minute)
	for len(want) > 0 {
		select {
		case n := <-received:
			for _, a := range n.Alerts {
				name := a.Labels["alertname"]
				if gs, ok := want[name]; ok && a.Status == "firing" && a.Labels["name"] == gs && a.Labels["namespace"] == ns {
					t.Logf("%s for GitSync %s delivered by Alertmanager %s after %s", name, gs, time.Since(since[name]).Round(100*time.Millisecond), what[name])
					delete(want, name)
				}
			}
		case <-deadline:
			t.Fatalf("not delivered within 3 minutes: %v; firing in Prometheus: %v", want, promQueryNoFail(prom, `ALERTS{alertstate="firing"}`))
		}
	}

	// Every dashboard panel's query parses and returns series, except the
	// stream panels and the real-use ones: no stream runs here and envtest
	// has no session pod and no metrics.k8s.io, so those only have to parse.
	queries := dashboardQueries(t)
	g.Eventually(func(g Gomega) {
		for _, q := range queries {
			expr := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "15s").Replace(q.expr)
			res := promQuery(g, prom, expr)
			if !strings.Contains(expr, "streamspace_portal_stream_") && !strings.Contains(expr, "streamspace_session_resource_used") {
				g.Expect(res).NotTo(BeEmpty(), "%s / %s: %s", q.dashboard, q.panel, expr)
			}
		}
	}, 90*time.Second, 2*time.Second).Should(Succeed())
	t.Logf("%d panel queries of %d dashboards parse and return series", len(queries), 3)
}

// setDeployment does what kube-controller-manager would for a session's
// Deployment: reports its replicas available (1) or gone (0).
func setDeployment(t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		d := &appsv1.Deployment{}
		g.Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: sessions.ChildName(&streamv1.Session{ObjectMeta: metav1.ObjectMeta{Name: name}})}, d)).To(Succeed())
		g.Expect(*d.Spec.Replicas).To(Equal(replicas))
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: replicas, UpdatedReplicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas}
		g.Expect(env.Client.Status().Update(context.Background(), d)).To(Succeed())
	}, 30*time.Second, 200*time.Millisecond).Should(Succeed())
}

func setState(t *testing.T, ns, name string, state streamv1.SessionState) {
	t.Helper()
	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	patch := fmt.Sprintf(`{"spec":{"state":%q}}`, state)
	if err := env.Client.Patch(context.Background(), s, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

func waitPhase(t *testing.T, ns, name string, phase streamv1.SessionPhase) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		s := &streamv1.Session{}
		g.Expect(env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s)).To(Succeed())
		g.Expect(s.Status.Phase).To(Equal(phase), "session %s: %v", name, s.Status.Conditions)
	}, 30*time.Second, 200*time.Millisecond).Should(Succeed())
}

// testRules is the chart's rule file with every alert's `for:` set to 0s:
// the test waits for evaluation, not for durations meant for production.
// Expressions, labels and annotations are the chart's own.
func testRules(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "chart", "files", "rules", "streamspace.rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string           `yaml:"name"`
			Rules []map[string]any `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	for _, grp := range file.Groups {
		for _, r := range grp.Rules {
			if _, ok := r["for"]; ok {
				r["for"] = "0s"
			}
		}
	}
	out, err := yaml.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type panelQuery struct{ dashboard, panel, expr string }

// dashboardQueries reads every target of every panel of the generated
// dashboards.
func dashboardQueries(t *testing.T) []panelQuery {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "chart", "files", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in chart/files/dashboards: %v", err)
	}
	var out []panelQuery
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Title  string `json:"title"`
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				out = append(out, panelQuery{d.Title, p.Title, tg.Expr})
			}
		}
	}
	return out
}

type promSample struct {
	Metric map[string]string
	Value  string
}

// promQuery runs an instant query; a query that does not parse fails.
func promQuery(g Gomega, prom, expr string) []promSample {
	out, err := query(prom, expr)
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred(), expr)
	return out
}

func promQueryNoFail(prom, expr string) []promSample {
	out, _ := query(prom, expr)
	return out
}

func query(prom, expr string) ([]promSample, error) {
	resp, err := http.Get(prom + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", expr, body.Error)
	}
	var out []promSample
	for _, r := range body.Data.Result {
		s := promSample{Metric: r.Metric}
		if len(r.Value) == 2 {
			s.Value, _ = r.Value[1].(string)
		}
		out = append(out, s)
	}
	return out, nil
}

// startServer runs a Prometheus or Alertmanager until the test ends and
// waits until it is ready.
func startServer(t *testing.T, name, bin string, args ...string) {
	t.Helper()
	log := &syncbuf.Buffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, tail(log.String(), 40))
		}
	})
	var addr string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--web.listen-address="); ok {
			addr = v
		}
	}
	NewWithT(t).Eventually(func() error {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s not ready: %d", name, resp.StatusCode)
		}
		return nil
	}, 60*time.Second, 200*time.Millisecond).Should(Succeed(), "%s log:\n%s", name, log)
}

// startPortal runs the portal binary on SQLite until the test ends and
// returns its base URL (its /metrics is scraped).
func startPortal(t *testing.T, ns string) string {
	t.Helper()
	port := freeport.For(t)
	log := &syncbuf.Buffer{}
	cmd := exec.Command(portalBin, "--addr", "127.0.0.1:"+strconv.Itoa(port), "--namespace", ns,
		"--state-dir", t.TempDir(), "--secure-cookies=false")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("portal log:\n%s", tail(log.String(), 40))
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	NewWithT(t).Eventually(func() error {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}, 60*time.Second, 200*time.Millisecond).Should(Succeed(), "portal log:\n%s", log)
	return base
}

// push sends a generic push notification signed with secret and expects
// code back.
func push(t *testing.T, receiver, repo, secret string, code int) {
	t.Helper()
	body := fmt.Sprintf(`{"repository": %q, "ref": "refs/heads/main"}`, repo)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	req, _ := http.NewRequest(http.MethodPost, receiver+"/hook/generic", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != code {
		t.Fatalf("push to %s: %d %s, want %d", receiver, resp.StatusCode, msg, code)
	}
}

// newRepo publishes this project's catalog/, policies/ and environments/
// with an overlay that puts them in namespace ns, and one ConfigMap for
// driftMode correct; it returns the repository's URL.
func newRepo(t *testing.T, ns string) string {
	t.Helper()
	r := git.NewRepo(t, ns)
	for _, d := range []string{"catalog", "policies", "environments"} {
		r.CopyDir(filepath.Join(testenv.RepoRoot(), d), d)
	}
	r.Write("environments/test/kustomization.yaml", fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: %s
resources: [../local]
`, ns))
	r.Write("environments/corrected/kustomization.yaml", fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: %s
resources: [configmap.yaml]
`, ns))
	r.Write("environments/corrected/configmap.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: observe-corrected
data:
  mode: from git
`)
	r.Push("platform")
	return r.URL
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
