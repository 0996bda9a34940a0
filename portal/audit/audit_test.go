package audit_test

import (
	"context"
	"errors"
	"strings"
	"testing"

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
