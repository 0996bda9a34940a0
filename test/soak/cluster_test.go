package soak

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"go.uber.org/zap/zapcore"

	"github.com/streamspace/streamspace/agent/manager"
	"github.com/streamspace/streamspace/test/bench/benchenv"
	"github.com/streamspace/streamspace/test/testenv"
)

func TestMain(m *testing.M) {
	// Quiet: the API server restart makes the in-process agent log
	// connection errors by design. TEST_AGENT_LOGS=1 shows everything.
	ctrl.SetLogger(zap.New(zap.Level(zapLevel())))
	os.Exit(m.Run())
}

func zapLevel() zapcore.Level {
	if os.Getenv("TEST_AGENT_LOGS") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.DPanicLevel
}

// templateName is benchenv.LightTemplate's.
const templateName = "light"

// startCluster starts a control plane with the session webhook configured,
// the namespace ns and the light Template, and stops it when the test ends.
func startCluster(t *testing.T, ns string) *testenv.Env {
	t.Helper()
	env, err := testenv.Start(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	mustCreate(t, env.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	mustCreate(t, env.Client, benchenv.LightTemplate(ns))
	return env
}

func mustCreate(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// startNodeSimulator does for Deployments what kube-controller-manager and
// a kubelet would, which envtest does not run: a Deployment's replicas are
// reported available as soon as it asks for them, and gone when it is
// scaled to zero. It is a controller of its own, so it survives the API
// server restart the way the agent must (re-list, retry with backoff).
func startNodeSimulator(t *testing.T, env *testenv.Env, ns string) {
	t.Helper()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:  manager.Scheme(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{
			SkipNameValidation: ptr.To(true), // one per test, in one process
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = ctrl.NewControllerManagedBy(mgr).Named("node-simulator").For(&appsv1.Deployment{}).
		Complete(nodeSimulator{mgr.GetClient(), ns})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node simulator: %v", err)
		}
	})
}

type nodeSimulator struct {
	client.Client
	ns string
}

func (n nodeSimulator) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if req.Namespace != n.ns {
		return ctrl.Result{}, nil
	}
	d := &appsv1.Deployment{}
	if err := n.Get(ctx, req.NamespacedName, d); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r := ptr.Deref(d.Spec.Replicas, 1)
	want := appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: r, UpdatedReplicas: r, ReadyReplicas: r, AvailableReplicas: r}
	if equality.Semantic.DeepEqual(d.Status, want) {
		return ctrl.Result{}, nil
	}
	d.Status = want
	err := n.Status().Update(ctx, d)
	if apierrors.IsNotFound(err) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, err
}

// retry calls f until it succeeds, sleeping between tries, for at most
// limit: the API server or the agent's webhook may be down for a while.
func retry(ctx context.Context, limit time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %v: %w", limit, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
