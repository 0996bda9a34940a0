package soak

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/manager"
	"github.com/streamspace/streamspace/agent/sessions"
	"github.com/streamspace/streamspace/agent/users"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/bench/benchenv"
	"github.com/streamspace/streamspace/test/bench/measure"
	"github.com/streamspace/streamspace/test/testenv"
)

// The API server is killed (SIGKILL) while 100 Sessions are being created
// concurrently and started again on the same etcd: every Session ends
// Running, or Failed with a reason; no child is orphaned, no Session has two
// Deployments, no home volume seen before the kill is lost.
func TestLaunches_surviveAPIServerRestart(t *testing.T) {
	t.Parallel() // each has its own control plane; the agent's build overlaps the other test
	const (
		ns          = "soak"
		n           = 100
		perUser     = 4 // several launches race for one home volume
		parallel    = 20
		killAfter   = n / 2
		outage      = 2 * time.Second
		settleLimit = 3 * time.Minute
	)
	env := startCluster(t, ns)
	stopAgent := startAgent(t, env, ns)
	startNodeSimulator(t, env, ns)
	ctx := context.Background()

	// The kill comes once half the sessions are created and the agent is
	// at work on them (some home volumes made), so it cuts creates, the
	// agent's writes and its watches; the creates go on through the
	// outage, retrying as the portal's caller would.
	var created atomic.Int32
	var failedTries atomic.Int32
	var homesBefore map[string]types.UID
	var restartErr error
	var restarted sync.WaitGroup
	restarted.Add(1)
	go func() {
		defer restarted.Done()
		restartErr = retry(ctx, 2*time.Minute, func() error {
			if created.Load() < killAfter {
				return errors.New("waiting for half the sessions")
			}
			var err error
			if homesBefore, err = homeVolumes(ctx, env.Client, ns); err != nil {
				return err
			}
			if len(homesBefore) < n/perUser/5 {
				return fmt.Errorf("waiting for the agent: %d home volumes", len(homesBefore))
			}
			return nil
		})
		if restartErr != nil {
			return
		}
		if restartErr = env.KillAPIServer(); restartErr != nil {
			return
		}
		t.Logf("kube-apiserver killed with %d sessions created and %d home volumes", created.Load(), len(homesBefore))
		time.Sleep(outage)
		restartErr = env.StartAPIServer(ctx)
	}()
	began := time.Now()
	err := measure.Parallel(n, parallel, func(i int) error {
		s := &streamv1.Session{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("s-%03d", i)},
			Spec:       streamv1.SessionSpec{User: fmt.Sprintf("user-%02d", i/perUser), Template: templateName},
		}
		// A create whose answer was lost may have been stored, hence
		// AlreadyExists counts as done.
		err := retry(ctx, 2*time.Minute, func() error {
			err := env.Client.Create(ctx, s.DeepCopy())
			if err != nil && !apierrors.IsAlreadyExists(err) {
				failedTries.Add(1)
				return err
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("create session %s: %w", s.Name, err)
		}
		created.Add(1)
		return nil
	})
	restarted.Wait()
	if restartErr != nil {
		t.Fatal(restartErr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("created %d sessions in %v (kube-apiserver down %v + its start; %d create attempts failed meanwhile)",
		n, time.Since(began).Round(time.Millisecond), outage, failedTries.Load())

	a, err := settle(ctx, env.Client, ns, homesBefore, true, settleLimit, func(a audit) bool {
		return a.sessions == n && a.running+len(a.failed) == n
	})
	t.Logf("after %v: faults injected 1 (kube-apiserver SIGKILL), %s", time.Since(began).Round(time.Millisecond), a)
	if err != nil {
		t.Fatal(err)
	}

	// The audit must see what it is there to see: with the agent stopped
	// (nothing repairs), plant each fault it looks for and expect it named.
	stopAgent()
	planted := plantFaults(t, env.Client, ns, homesBefore)
	a, err = auditNamespace(ctx, env.Client, ns, homesBefore, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("with planted faults: %s", a)
	for _, p := range planted {
		if !containsSub(p.in(a), p.want) {
			t.Errorf("%s: the audit did not report %q", p.what, p.want)
		}
	}
}

type plantedFault struct {
	what, want string
	in         func(audit) []string
}

// plantFaults breaks, behind the stopped agent's back, each protection the
// audit checks, and says what the audit must then report.
func plantFaults(t *testing.T, c client.Client, ns string, homes map[string]types.UID) []plantedFault {
	t.Helper()
	ctx := context.Background()
	get := func(obj client.Object, name string) {
		t.Helper()
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
			t.Fatal(err)
		}
	}
	patch := func(obj client.Object, p string) {
		t.Helper()
		if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(p))); err != nil {
			t.Fatalf("patch %s: %v", obj.GetName(), err)
		}
	}

	// The stopped agent serves no admission webhook any more.
	if err := c.Delete(ctx, &admissionv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "validating-webhook-configuration"}}); err != nil {
		t.Fatal(err)
	}

	// A Session deleted without its finalizer running: its Deployment and
	// Service stay behind (no garbage collector runs here).
	gone := &streamv1.Session{}
	get(gone, "s-000")
	patch(gone, `{"metadata":{"finalizers":null}}`)
	if err := c.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}

	// A second Deployment controlled by one Session.
	owner := &streamv1.Session{}
	get(owner, "s-001")
	orig := &appsv1.Deployment{}
	get(orig, sessions.ChildName(owner))
	dup := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "planted-duplicate",
		Labels: orig.Labels, OwnerReferences: orig.OwnerReferences}, Spec: orig.Spec}
	if err := c.Create(ctx, dup); err != nil {
		t.Fatal(err)
	}

	// A home volume deleted (the PVC protection finalizer keeps it
	// terminating, as a volume in use would be).
	var lostUser string
	for _, u := range sortedKeys(homes) {
		lostUser = u
		break
	}
	if lostUser == "" {
		t.Fatal("no home volume was seen before the restart")
	}
	pvc := &corev1.PersistentVolumeClaim{}
	get(pvc, streamv1.HomeVolumeNameFor(lostUser))
	if err := c.Delete(ctx, pvc); err != nil {
		t.Fatal(err)
	}

	// A Running session whose Deployment was scaled to zero, and one whose
	// Service is gone.
	scaled := &appsv1.Deployment{}
	get(scaled, "ss-s-050")
	patch(scaled, `{"spec":{"replicas":0}}`)
	svc := &corev1.Service{}
	get(svc, "ss-s-060")
	if err := c.Delete(ctx, svc); err != nil {
		t.Fatal(err)
	}

	orphans := func(a audit) []string { return a.orphans }
	return []plantedFault{
		{"finalizer skipped", "Deployment ss-s-000 belongs to Session s-000", orphans},
		{"finalizer skipped", "Service ss-s-000 belongs to Session s-000", orphans},
		{"second Deployment", "session s-001 has 2 Deployments", func(a audit) []string { return a.duplicates }},
		{"home volume deleted", streamv1.HomeVolumeNameFor(lostUser), func(a audit) []string { return a.lost }},
		{"scaled to zero", "session s-050: Running but its Deployment has 0 replicas", func(a audit) []string { return a.mismatches }},
		{"Service deleted", "session s-060: Running without a Service", func(a audit) []string { return a.mismatches }},
	}
}

func containsSub(items []string, sub string) bool {
	for _, s := range items {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// startAgent runs the agent in this process, as the controller tests do:
// the session controller and its webhook against env. It returns what
// stops it (the test's cleanup stops it too).
func startAgent(t *testing.T, env *testenv.Env, ns string) (stop func()) {
	t.Helper()
	wh := env.WebhookInstallOptions
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := manager.New(ctx, env.Config, manager.Config{
		Namespace:      ns,
		MetricsAddr:    "0",
		ProbeAddr:      "0",
		WebhookHost:    wh.LocalServingHost,
		WebhookPort:    wh.LocalServingPort,
		WebhookCertDir: wh.LocalServingCertDir,
		Registry:       prometheus.NewRegistry(),
		Sessions: sessions.Options{
			Home:      users.HomeOptions{DefaultSize: resource.MustParse("10Gi")},
			PortalURL: "https://streamspace.test",
		},
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("agent cache did not sync")
	}
	if err := benchenv.Ready(ctx, env.Client, ns, templateName); err != nil {
		t.Fatal(err)
	}
	return stop
}

// settle audits ns until done says the run has settled and the audit is
// clean, or limit passes; it returns the last audit, and an error unless it
// settled clean.
func settle(ctx context.Context, c client.Reader, ns string, homes map[string]types.UID, allowFailed bool, limit time.Duration, done func(audit) bool) (audit, error) {
	deadline := time.Now().Add(limit)
	for {
		a, err := auditNamespace(ctx, c, ns, homes, allowFailed)
		if err == nil && done(a) && a.clean() {
			return a, nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return a, err
			}
			return a, errors.New("not settled clean within " + limit.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// homeVolumes maps each user to the UID of their home volume in ns.
func homeVolumes(ctx context.Context, c client.Reader, ns string) (map[string]types.UID, error) {
	var pl corev1.PersistentVolumeClaimList
	if err := c.List(ctx, &pl, client.InNamespace(ns), client.HasLabels{users.LabelHome}); err != nil {
		return nil, err
	}
	homes := map[string]types.UID{}
	for _, p := range pl.Items {
		homes[p.Labels[users.LabelUser]] = p.UID
	}
	return homes, nil
}
