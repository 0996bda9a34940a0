package reconciler_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/streamspace/streamspace/agent/reconciler"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/testenv"
)

var (
	env *testenv.Env
	// watching is env's client as interceptor wraps it.
	watching client.WithWatch
)

// TestMain starts a real API server: what the shell's patches must
// survive (optimistic locks, merge patches of lists, the status
// subresource) is the API server's behaviour.
func TestMain(m *testing.M) {
	var err error
	if env, err = testenv.Start(false); err == nil {
		watching, err = client.NewWithWatch(env.Config, client.Options{Scheme: env.Client.Scheme()})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop envtest:", err)
	}
	os.Exit(code)
}

// requests counts what the shell sends.
type requests struct{ gets, patches, statusPatches atomic.Int32 }

func (r *requests) client() client.Client {
	return interceptor.NewClient(watching, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			r.gets.Add(1)
			return c.Get(ctx, key, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			r.patches.Add(1)
			return c.Patch(ctx, obj, p, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			r.statusPatches.Add(1)
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
	})
}

func (r *requests) String() string {
	return fmt.Sprintf("%d gets, %d patches, %d status patches", r.gets.Load(), r.patches.Load(), r.statusPatches.Load())
}

// newSession creates a Session and returns it as a reconcile reads it.
func newSession(t *testing.T) *streamv1.Session {
	t.Helper()
	ctx := context.Background()
	ns, err := env.Namespace(ctx, "patch")
	if err != nil {
		t.Fatal(err)
	}
	s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s"},
		Spec: streamv1.SessionSpec{User: "kim", Template: "light"}}
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// launch is what a session's first reconcile changes: its finalizer, the
// phase and image, a condition of its own.
func launch(s *streamv1.Session) {
	controllerutil.AddFinalizer(s, "stream.space/test")
	s.Status.Phase = streamv1.PhasePending
	s.Status.Image = "localhost/light:1"
	conditions.MarkTrue(s, streamv1.ConditionHomeReady, streamv1.ReasonHomeProvisioned, "Home volume home-kim")
}

// begin reads a new Session and begins its reconcile with a shell whose
// requests are counted.
func begin(t *testing.T) (*streamv1.Session, *requests, *reconciler.Run) {
	t.Helper()
	s := newSession(t)
	reqs := &requests{}
	return s, reqs, newShell(reqs).Begin(s)
}

func newShell(reqs *requests) *reconciler.Shell {
	return reconciler.NewShell("Session", reqs.client(), reconciler.Events{}, nil, streamv1.ConditionHomeReady)
}

func live(t *testing.T, s *streamv1.Session) *streamv1.Session {
	t.Helper()
	got := &streamv1.Session{}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(s), got); err != nil {
		t.Fatal(err)
	}
	return got
}

func wantLaunched(t *testing.T, got *streamv1.Session) {
	t.Helper()
	if !controllerutil.ContainsFinalizer(got, "stream.space/test") || got.Status.Phase != streamv1.PhasePending ||
		got.Status.Image != "localhost/light:1" || !conditions.IsTrue(got, streamv1.ConditionHomeReady) ||
		!conditions.IsTrue(got, streamv1.ConditionReady) || got.Status.ObservedGeneration != got.Generation {
		t.Errorf("the reconcile's changes are not all written: finalizers %v, phase %q, image %q, conditions %+v, observedGeneration %d of %d",
			got.Finalizers, got.Status.Phase, got.Status.Image, got.Status.Conditions, got.Status.ObservedGeneration, got.Generation)
	}
}

// TestFinish_launch_writesStatusAndConditionsInOneRequest: what the launch
// of a Session changed costs one status patch and one metadata patch, no
// read, and leaves the object at the version the server holds.
func TestFinish_launch_writesStatusAndConditionsInOneRequest(t *testing.T) {
	s, reqs, run := begin(t)
	launch(s)
	if _, err := run.Finish(context.Background(), ctrl.Result{}, nil); err != nil {
		t.Fatal(err)
	}
	if reqs.gets.Load() != 0 || reqs.patches.Load() != 1 || reqs.statusPatches.Load() != 1 {
		t.Errorf("sent %s; want one status patch and one metadata patch, no read", reqs)
	}
	got := live(t, s)
	wantLaunched(t, got)
	if s.ResourceVersion != got.ResourceVersion {
		t.Errorf("the reconciled object is at version %s, the server at %s", s.ResourceVersion, got.ResourceVersion)
	}

	// Nothing changed since: nothing is sent.
	reqs = &requests{}
	run = newShell(reqs).Begin(got)
	if _, err := run.Finish(context.Background(), ctrl.Result{}, nil); err != nil {
		t.Fatal(err)
	}
	if reqs.patches.Load()+reqs.statusPatches.Load() != 0 {
		t.Errorf("an unchanged object sent %s", reqs)
	}
}

// TestFinish_writtenSinceRead_keepsWhatOthersWrote is the reason for the
// lock: between the reconcile's read and its patch the portal records
// activity, another controller sets a condition of its own and someone
// labels the session. A merge patch replaces the whole conditions list, so
// without the lock theirs would be lost; with it the write is redone on the
// object as it is now, and both survive.
func TestFinish_writtenSinceRead_keepsWhatOthersWrote(t *testing.T) {
	ctx := context.Background()
	s, reqs, run := begin(t)

	// Someone else, after the read.
	theirs := live(t, s)
	activity := metav1.NewTime(time.Now().Truncate(time.Second))
	theirs.Status.LastActivity = &activity
	conditions.MarkTrue(theirs, "Delivering", "Delivered", "written by another controller")
	if err := env.Client.Status().Update(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	labelled := live(t, s)
	labelled.Labels = map[string]string{"team": "blue"}
	if err := env.Client.Update(ctx, labelled); err != nil {
		t.Fatal(err)
	}

	launch(s)
	if _, err := run.Finish(ctx, ctrl.Result{}, nil); err != nil {
		t.Fatal(err)
	}
	got := live(t, s)
	wantLaunched(t, got)
	if got.Status.LastActivity == nil || !got.Status.LastActivity.Equal(&activity) {
		t.Errorf("lastActivity written by the portal was lost: %v", got.Status.LastActivity)
	}
	if !conditions.IsTrue(got, "Delivering") {
		t.Errorf("another controller's condition was lost: %+v", got.Status.Conditions)
	}
	if got.Labels["team"] != "blue" {
		t.Errorf("a label written since the read was lost: %v", got.Labels)
	}
	if reqs.gets.Load() == 0 {
		t.Errorf("sent %s: the lost lock was not followed by a read of the object as it is now", reqs)
	}
}

// TestProgressThenFinish_secondWriteLocksOnTheFirst: a long reconcile
// (a Git sync) reports progress, then finishes; the second write builds
// on the version the first left, with no conflict and no read.
func TestProgressThenFinish_secondWriteLocksOnTheFirst(t *testing.T) {
	ctx := context.Background()
	s, reqs, run := begin(t)
	if err := run.Progress(ctx, "Fetching %s", "main"); err != nil {
		t.Fatal(err)
	}
	if got := live(t, s); !conditions.IsReconciling(got) {
		t.Errorf("progress not written: %+v", got.Status.Conditions)
	}
	launch(s)
	if _, err := run.Finish(ctx, ctrl.Result{}, nil); err != nil {
		t.Fatal(err)
	}
	got := live(t, s)
	wantLaunched(t, got)
	if conditions.IsReconciling(got) {
		t.Errorf("Reconciling left after success: %+v", got.Status.Conditions)
	}
	if reqs.gets.Load() != 0 || reqs.statusPatches.Load() != 2 || reqs.patches.Load() != 1 {
		t.Errorf("sent %s; want two status patches and one metadata patch, no read", reqs)
	}
}
