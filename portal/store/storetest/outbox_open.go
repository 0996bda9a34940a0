package storetest

import (
	"testing"
	"time"

	"github.com/streamspace/streamspace/portal/store"
)

// openEvents: what was opened and not closed, within the window, by id;
// a closing event found only by its key (a same-subject event of another
// kind, or a close of another subject, does not close it).
func openEvents(t *testing.T, s store.Store) {
	now := time.Now().UTC()
	old := &store.OutboxEvent{Type: "session.created", Subject: "old", At: now.Add(-2 * time.Hour), Data: []byte(`{}`), Key: "old/created"}
	if _, err := s.RecordEvent(ctx, old); err != nil {
		t.Fatal(err)
	}
	record(t, s, "session.created", "a", "a/created")
	record(t, s, "session.created", "b", "b/created")
	record(t, s, "session.created", "c", "c/created")
	record(t, s, "session.started", "a", "a/launch/1")
	record(t, s, "session.deleted", "b", "b/deleted")
	record(t, s, "user.deleted", "c", "") // a user named like the session
	record(t, s, "session.deleted", "cc", "cc/deleted")

	got, err := s.OpenEvents(ctx, "session.created", "/deleted", now.Add(-time.Hour))
	must(t, err)
	var subjects []string
	for _, e := range got {
		subjects = append(subjects, e.Subject)
		if e.Type != "session.created" || string(e.Data) != `{"subject":"`+e.Subject+`"}` {
			t.Errorf("open event read back as %+v", e)
		}
	}
	if len(subjects) != 2 || subjects[0] != "a" || subjects[1] != "c" {
		t.Errorf("open since an hour ago: %v, want [a c] (b deleted, old before the window)", subjects)
	}
	got, err = s.OpenEvents(ctx, "session.created", "/deleted", now.Add(-3*time.Hour))
	must(t, err)
	if len(got) != 3 || got[0].Subject != "old" {
		t.Errorf("open since three hours ago: %+v, want old, a, c", got)
	}
}
