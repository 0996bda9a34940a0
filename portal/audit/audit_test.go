package audit_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/streamspace/streamspace/portal/audit"
	"github.com/streamspace/streamspace/portal/store"
)

type writer func(store.AuditEvent) error

func (w writer) Audit(_ context.Context, e store.AuditEvent) error { return w(e) }

func TestLog_failedWriteIsLoggedAndCounted(t *testing.T) {
	var logged strings.Builder
	log := funcr.New(func(_, args string) { logged.WriteString(args) }, funcr.Options{})
	reg := prometheus.NewRegistry()
	l, err := audit.NewLog(writer(func(store.AuditEvent) error { return errors.New("database is locked") }), log, reg)
	if err != nil {
		t.Fatal(err)
	}
	l.Record(context.Background(), store.AuditEvent{Actor: "bob", Action: audit.SessionWake, Target: "bob-firefox-1"}, "requestID", "req-7")
	for _, want := range []string{"Audit record lost", "database is locked", `"action"="session.wake"`, `"actor"="bob"`, `"target"="bob-firefox-1"`, `"requestID"="req-7"`} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("log lacks %s: %s", want, logged.String())
		}
	}
	if n := testutil.ToFloat64(l.Failures); n != 1 {
		t.Errorf("failures counted: %v", n)
	}
}

func TestLog_writesTheEvent_nilLogRecordsNothing(t *testing.T) {
	var got []store.AuditEvent
	l := &audit.Log{Writer: writer(func(e store.AuditEvent) error { got = append(got, e); return nil })}
	l.Record(context.Background(), store.AuditEvent{Actor: "alice", Action: audit.Login, Detail: "local"})
	if len(got) != 1 || got[0].Action != "login" || got[0].Actor != "alice" {
		t.Errorf("written: %+v", got)
	}
	var none *audit.Log
	none.Record(context.Background(), store.AuditEvent{Action: audit.Login}) // must not panic
}

// A write that meets the database unreachable (a restart) is retried and
// lands, stamped with when it happened; a write the database refuses is
// not retried; one still unreachable after RetryFor is lost, and said so.
func TestLog_unreachableDatabaseIsRetried_otherErrorsAreNot(t *testing.T) {
	unreachable := fmt.Errorf("failed to connect: %w", syscall.ECONNREFUSED)
	var attempts []store.AuditEvent
	reg := prometheus.NewRegistry()
	l, err := audit.NewLog(writer(func(e store.AuditEvent) error {
		if attempts = append(attempts, e); len(attempts) < 3 {
			return unreachable
		}
		return nil
	}), logr.Discard(), reg)
	if err != nil {
		t.Fatal(err)
	}
	l.Record(context.Background(), store.AuditEvent{Actor: "bob", Action: audit.SessionCreate})
	if len(attempts) != 3 || testutil.ToFloat64(l.Failures) != 0 {
		t.Errorf("attempts %d, lost %v: want the third attempt to land", len(attempts), testutil.ToFloat64(l.Failures))
	}
	if at := attempts[0].At; at.IsZero() || !attempts[2].At.Equal(at) {
		t.Errorf("retries stamped %v then %v: want the time of the first attempt", at, attempts[2].At)
	}

	attempts = nil
	l.Writer = writer(func(e store.AuditEvent) error { attempts = append(attempts, e); return errors.New("value too long") })
	l.Record(context.Background(), store.AuditEvent{Actor: "bob", Action: audit.SessionCreate})
	if len(attempts) != 1 {
		t.Errorf("a refused write was tried %d times", len(attempts))
	}

	attempts = nil
	l.Writer = writer(func(e store.AuditEvent) error { attempts = append(attempts, e); return unreachable })
	l.RetryFor = 300 * time.Millisecond
	l.Record(context.Background(), store.AuditEvent{Actor: "bob", Action: audit.SessionCreate})
	if len(attempts) < 2 || testutil.ToFloat64(l.Failures) != 2 {
		t.Errorf("attempts %d, lost %v: want retries, then the record counted lost", len(attempts), testutil.ToFloat64(l.Failures))
	}
}
