package reconciler

import (
	"errors"
	"fmt"
	"time"
)

// The three ways a step can fail to finish, after Flux source-controller's
// internal/error package. A step returns one of them (or a plain error,
// which is a retry); Finish turns it into conditions and a result.

// StalledError means the controller gives up until the spec (or something
// the object depends on, through a watch) changes: Stalled=True, Ready=False,
// no retry, no error log.
type StalledError struct {
	Reason  string
	Message string
	// Recheck, when set, looks again after this long even if nothing
	// watched changes: for a refusal whose cause is not watched, e.g. a
	// quota that other sessions free.
	Recheck time.Duration
}

func (e *StalledError) Error() string { return e.Message }

// Stall returns a StalledError.
func Stall(reason, format string, args ...any) *StalledError {
	return &StalledError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// WaitingError means an expected wait: the object is progressing and the
// controller comes back after RequeueAfter (or earlier, on a watch event):
// Reconciling=True and Ready=False with the reason, no error log.
type WaitingError struct {
	Reason  string
	Message string
	// RequeueAfter is the latest moment to look again; zero leaves it to
	// the watches.
	RequeueAfter time.Duration
}

func (e *WaitingError) Error() string { return e.Message }

// Wait returns a WaitingError.
func Wait(after time.Duration, reason, format string, args ...any) *WaitingError {
	return &WaitingError{Reason: reason, Message: fmt.Sprintf(format, args...), RequeueAfter: after}
}

// FailedError is an error with the reason Ready should carry, e.g.
// FetchFailed. It is retried with backoff like any plain error.
type FailedError struct {
	Reason string
	Err    error
}

func (e *FailedError) Error() string { return e.Err.Error() }
func (e *FailedError) Unwrap() error { return e.Err }

// Fail wraps err with the reason Ready should carry; nil stays nil.
func Fail(reason string, err error) error {
	if err == nil {
		return nil
	}
	return &FailedError{Reason: reason, Err: err}
}

// Outcome is how a reconcile ended, as the duration metric labels it.
type Outcome string

const (
	OutcomeSuccess Outcome = "success"
	OutcomeStalled Outcome = "stalled"
	OutcomeWaiting Outcome = "waiting"
	OutcomeError   Outcome = "error"
)

func outcomeOf(err error) Outcome {
	var stalled *StalledError
	var waiting *WaitingError
	switch {
	case err == nil:
		return OutcomeSuccess
	case errors.As(err, &stalled):
		return OutcomeStalled
	case errors.As(err, &waiting):
		return OutcomeWaiting
	}
	return OutcomeError
}

// sooner returns d if it is set and earlier than the requeue of current.
func sooner(current, d time.Duration) time.Duration {
	if d > 0 && (current == 0 || d < current) {
		return d
	}
	return current
}
