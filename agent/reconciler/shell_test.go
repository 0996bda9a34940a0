package reconciler

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fluxcd/pkg/runtime/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// TestSummarize_decidesResultAndConditions_perOutcome: the one place where
// a step's result becomes conditions and what controller-runtime does.
func TestSummarize_decidesResultAndConditions_perOutcome(t *testing.T) {
	boom := errors.New("connection refused")
	tests := []struct {
		name        string
		res         ctrl.Result
		err         error
		wantRequeue time.Duration
		wantErr     bool
		// Ready status and reason; Reconciling and Stalled presence.
		ready       metav1.ConditionStatus
		readyReason string
		reconciling bool
		stalled     bool
	}{
		{name: "success keeps the steps' Ready", res: ctrl.Result{RequeueAfter: time.Hour},
			wantRequeue: time.Hour, ready: metav1.ConditionTrue, readyReason: streamv1.ReasonStreamReady},
		{name: "stalled: no retry, no error, but the steps' own requeue stands",
			res: ctrl.Result{RequeueAfter: time.Hour}, err: Stall(streamv1.ReasonTemplateNotFound, "Template %q not found", "x"),
			wantRequeue: time.Hour, ready: metav1.ConditionFalse, readyReason: streamv1.ReasonTemplateNotFound, stalled: true},
		{name: "stalled with a recheck sooner than the steps' requeue",
			res: ctrl.Result{RequeueAfter: time.Hour}, err: &StalledError{Reason: streamv1.ReasonQuotaExceeded, Message: "over", Recheck: time.Minute},
			wantRequeue: time.Minute, ready: metav1.ConditionFalse, readyReason: streamv1.ReasonQuotaExceeded, stalled: true},
		{name: "waiting: requeue with a condition, no error",
			err:         fmt.Errorf("start: %w", Wait(5*time.Second, streamv1.ReasonWaitingForHome, "home volume home-kim: not visible")),
			wantRequeue: 5 * time.Second, ready: metav1.ConditionFalse, readyReason: streamv1.ReasonWaitingForHome, reconciling: true},
		{name: "failure with a reason: retried with backoff", err: Fail(streamv1.ReasonFetchFailed, boom),
			wantErr: true, ready: metav1.ConditionFalse, readyReason: streamv1.ReasonFetchFailed, reconciling: true},
		{name: "plain error", res: ctrl.Result{RequeueAfter: time.Hour}, err: boom,
			wantErr: true, ready: metav1.ConditionFalse, readyReason: streamv1.ReasonReconciliationFailed, reconciling: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &streamv1.Session{}
			// What an earlier run left: a stall and a Ready of its own.
			conditions.MarkStalled(s, "Earlier", "earlier")
			conditions.MarkTrue(s, streamv1.ConditionReady, streamv1.ReasonStreamReady, "Stream ready")

			res, err := summarize(s, tt.res, tt.err)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %t", err, tt.wantErr)
			}
			if res.RequeueAfter != tt.wantRequeue {
				t.Errorf("RequeueAfter = %s, want %s", res.RequeueAfter, tt.wantRequeue)
			}
			ready := conditions.Get(s, streamv1.ConditionReady)
			if ready.Status != tt.ready || ready.Reason != tt.readyReason {
				t.Errorf("Ready = %s/%s, want %s/%s", ready.Status, ready.Reason, tt.ready, tt.readyReason)
			}
			if got := conditions.IsReconciling(s); got != tt.reconciling {
				t.Errorf("Reconciling = %t, want %t", got, tt.reconciling)
			}
			if got := conditions.IsStalled(s); got != tt.stalled {
				t.Errorf("Stalled = %t, want %t", got, tt.stalled)
			}
		})
	}
}

func TestEvents_cutsLongMessages(t *testing.T) {
	rec := &fakeRecorder{}
	long := make([]byte, 3000)
	for i := range long {
		long[i] = 'x'
	}
	Events{Recorder: rec}.Eventf(&streamv1.GitSync{}, "Normal", streamv1.ReasonApplied, "Sync", "Applied: %s", long)
	if n := len(rec.note); n > 1024 {
		t.Fatalf("event message of %d bytes; the API refuses more than 1024", n)
	}
	Events{}.Eventf(&streamv1.GitSync{}, "Normal", streamv1.ReasonApplied, "Sync", "no recorder: no panic")

	// A cut at the limit must not split a character (an object name or a
	// message from Git may be anything).
	Events{Recorder: rec}.Eventf(&streamv1.GitSync{}, "Normal", streamv1.ReasonApplied, "Sync", "x%s", strings.Repeat("é", 700))
	if !utf8.ValidString(rec.note) {
		t.Fatalf("cut event message is not valid UTF-8: %q", rec.note[len(rec.note)-8:])
	}
}

// fakeRecorder keeps the last note, formatted as the API server would get it.
type fakeRecorder struct{ note string }

func (f *fakeRecorder) Eventf(_, _ runtime.Object, _, _, _, note string, args ...any) {
	f.note = fmt.Sprintf(note, args...)
}

func (f *fakeRecorder) AnnotatedEventf(_, _ runtime.Object, _ map[string]string, _, _, _, note string, args ...any) {
	f.note = fmt.Sprintf(note, args...)
}
