package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/streamspace/streamspace/portal/store"
)

func record(t *testing.T, s store.Store, typ, subject, key string) *store.OutboxEvent {
	t.Helper()
	e := &store.OutboxEvent{Type: typ, Subject: subject, At: time.Now(), Data: []byte(`{"subject":"` + subject + `"}`), Key: key}
	ok, err := s.RecordEvent(ctx, e)
	must(t, err)
	if !ok {
		t.Fatalf("event %s %s (key %q) not recorded", typ, subject, key)
	}
	return e
}

// outbox: events get growing ids, a key records once (even racing), and
// readers get them by id and type.
func outbox(t *testing.T, s store.Store) {
	if head, err := s.LastEventID(ctx); err != nil || head != 0 {
		t.Fatalf("empty outbox head: %d %v", head, err)
	}
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	first := &store.OutboxEvent{Type: "session.created", Subject: "s1", At: at, Data: []byte(`{"session":"s1"}`), Key: "s1/created"}
	ok, err := s.RecordEvent(ctx, first)
	must(t, err)
	if !ok || first.ID == 0 || first.RecordedAt.IsZero() {
		t.Fatalf("first record: ok %v, %+v", ok, first)
	}
	again := &store.OutboxEvent{Type: "session.created", Subject: "s1", At: at, Data: []byte(`{}`), Key: "s1/created"}
	if ok, err := s.RecordEvent(ctx, again); err != nil || ok || again.ID != 0 {
		t.Errorf("the same key recorded twice: ok %v, id %d, %v", ok, again.ID, err)
	}
	login1 := record(t, s, "user.login", "alice", "")
	login2 := record(t, s, "user.login", "alice", "") // no key: a new event each time
	started := record(t, s, "session.started", "s1", "s1/started")
	if !(first.ID < login1.ID && login1.ID < login2.ID && login2.ID < started.ID) {
		t.Errorf("ids not growing: %d %d %d %d", first.ID, login1.ID, login2.ID, started.ID)
	}

	got, err := s.EventsAfter(ctx, 0, []string{"session.created", "session.started"}, 10)
	must(t, err)
	if len(got) != 2 || got[0].ID != first.ID || got[1].ID != started.ID {
		t.Fatalf("session events: %+v", got)
	}
	if g := got[0]; g.Type != "session.created" || g.Subject != "s1" || !g.At.Equal(at) || string(g.Data) != `{"session":"s1"}` || g.Key != "s1/created" {
		t.Errorf("read back %+v", g)
	}
	got, err = s.EventsAfter(ctx, first.ID, []string{"user.login", "session.created", "session.started"}, 2)
	must(t, err)
	if len(got) != 2 || got[0].ID != login1.ID || got[1].ID != login2.ID {
		t.Errorf("after %d, limit 2: %+v", first.ID, got)
	}
	if got, err := s.EventsAfter(ctx, 0, nil, 10); err != nil || len(got) != 0 {
		t.Errorf("no types: %v %v", got, err)
	}
	if head, err := s.LastEventID(ctx); err != nil || head != started.ID {
		t.Errorf("head %d %v, want %d", head, err, started.ID)
	}

	// a batch: one transaction; a key recorded before, or twice in the
	// batch, is left with id 0
	batch := []*store.OutboxEvent{
		{Type: "user.login", Subject: "bob", At: at, Data: []byte(`{}`)},
		{Type: "session.started", Subject: "s1", At: at, Data: []byte(`{}`), Key: "s1/started"},
		{Type: "session.stopped", Subject: "s1", At: at, Data: []byte(`{}`), Key: "s1/stopped"},
		{Type: "session.stopped", Subject: "s1", At: at, Data: []byte(`{}`), Key: "s1/stopped"},
	}
	must(t, s.RecordEvents(ctx, batch))
	if !(batch[0].ID > started.ID && batch[1].ID == 0 && batch[2].ID > batch[0].ID && batch[3].ID == 0) || batch[2].RecordedAt.IsZero() {
		t.Errorf("batch ids %d %d %d %d", batch[0].ID, batch[1].ID, batch[2].ID, batch[3].ID)
	}

	// racing recorders of one key (two replicas, a replay): one wins
	var mu sync.Mutex
	won := race(t, 8, errLost, func(int) error {
		ok, err := s.RecordEvent(ctx, &store.OutboxEvent{Type: "session.deleted", Subject: "s1", At: at, Data: []byte(`{}`), Key: "s1/deleted"})
		mu.Lock()
		defer mu.Unlock()
		if err == nil && !ok {
			return errLost
		}
		return err
	})
	if won != 1 {
		t.Errorf("%d racing records of one key succeeded, want exactly 1", won)
	}
}

var errLost = errors.New("recorded before")

// outboxBatches: a large batch mixing new events, keys recorded before
// and keys repeated within it gets ids that grow along the batch, each
// id naming its own event (read back by id).
func outboxBatches(t *testing.T, s store.Store) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	before := record(t, s, "session.created", "s-6", "s-6/created")
	var batch []*store.OutboxEvent
	for i := range 1500 { // more than one INSERT's rows
		e := &store.OutboxEvent{Type: "session.created", Subject: fmt.Sprintf("s-%d", i), At: at, Data: []byte(fmt.Sprintf(`{"i":%d}`, i))}
		switch i % 3 {
		case 0:
			e.Key = e.Subject + "/created"
		case 1:
			e.Type = "user.login" // no key
		case 2:
			e.Key = fmt.Sprintf("s-%d/created", i-2) // the key of the event two before
		}
		batch = append(batch, e)
	}
	must(t, s.RecordEvents(ctx, batch))
	byID := map[int64]*store.OutboxEvent{}
	last := before.ID
	for i, e := range batch {
		switch {
		case i%3 == 2 || i == 6: // repeated in the batch; s-6/created recorded before
			if e.ID != 0 {
				t.Fatalf("event %d (key %s, recorded before) got id %d", i, e.Key, e.ID)
			}
		case e.ID <= last:
			t.Fatalf("event %d got id %d, not above %d: ids do not grow along the batch", i, e.ID, last)
		default:
			last = e.ID
			byID[e.ID] = e
		}
	}
	got, err := s.EventsAfter(ctx, before.ID, []string{"session.created", "user.login"}, 2000)
	must(t, err)
	if len(got) != len(byID) {
		t.Fatalf("read back %d events, recorded %d", len(got), len(byID))
	}
	for _, g := range got {
		e := byID[g.ID]
		if e == nil || g.Subject != e.Subject || g.Type != e.Type || string(g.Data) != string(e.Data) || g.Key != e.Key {
			t.Fatalf("id %d holds %s %s %s key %q, the batch gave it to %+v", g.ID, g.Type, g.Subject, g.Data, g.Key, e)
		}
	}
}

// outboxConcurrentTail: recorders on several connections (replicas) write
// batches at once while a reader tails the outbox by id, as the
// dispatcher does. Whatever commits first, the reader never sees an id
// before every lower id is visible: at the end it has read every event,
// none skipped for good.
func outboxConcurrentTail(t *testing.T, s store.Store) {
	const writers, batches, size = 6, 40, 5
	at := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				var es []*store.OutboxEvent
				for i := range size {
					es = append(es, &store.OutboxEvent{Type: "user.login", Subject: fmt.Sprintf("w%d-%d-%d", w, b, i), At: at, Data: []byte(`{}`)})
				}
				if err := s.RecordEvents(ctx, es); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[string]bool{}
	var after int64
	tail := func() {
		got, err := s.EventsAfter(ctx, after, []string{"user.login"}, 1000)
		must(t, err)
		for _, g := range got {
			seen[g.Subject] = true
			after = g.ID
		}
	}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		tail()
	}
	tail()
	if len(seen) != writers*batches*size {
		t.Errorf("the tailing reader saw %d of %d events: it moved past ids that committed after higher ones", len(seen), writers*batches*size)
	}
}

// pluginDeliveries: a plugin starts at the newest event, keeps its place
// across starts while on, restarts at the head after being off, counts
// what is pending of its types only.
func pluginDeliveries(t *testing.T, s store.Store) {
	ds, err := s.PluginDeliveries(ctx)
	if err != nil || len(ds) != 0 {
		t.Fatalf("no plugins: %v %v", ds, err)
	}
	before := record(t, s, "session.created", "s1", "")
	types := []string{"session.created", "user.login"}
	done, err := s.StartPluginDelivery(ctx, "audit", types)
	must(t, err)
	if done != before.ID {
		t.Errorf("a new plugin starts at %d, want the head %d (no replay of what came before)", done, before.ID)
	}
	e1 := record(t, s, "session.created", "s2", "")
	record(t, s, "session.started", "s2", "") // not its type
	e3 := record(t, s, "user.login", "bob", "")
	pending := func(want int64) *store.PluginDelivery {
		t.Helper()
		ds, err := s.PluginDeliveries(ctx)
		must(t, err)
		if len(ds) != 1 || ds[0].Plugin != "audit" {
			t.Fatalf("deliveries %+v", ds)
		}
		if ds[0].Pending != want {
			t.Errorf("pending %d, want %d", ds[0].Pending, want)
		}
		return &ds[0]
	}
	pending(2)

	at := time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC)
	must(t, s.SavePluginDelivery(ctx, "audit", store.DeliveryProgress{Through: e1.ID, Delivered: 1, LastAttempt: &at, LastSuccess: &at}))
	later := at.Add(time.Minute)
	must(t, s.SavePluginDelivery(ctx, "audit", store.DeliveryProgress{Through: e1.ID, Attempts: 3, LastError: "receiver said 503", LastAttempt: &later}))
	d := pending(1)
	if d.Delivered != 1 || d.Failed != 0 || d.Attempts != 3 || d.LastError != "receiver said 503" ||
		d.LastAttempt == nil || !d.LastAttempt.Equal(later) || d.LastSuccess == nil || !d.LastSuccess.Equal(at) {
		t.Errorf("state %+v", d)
	}
	must(t, s.SavePluginDelivery(ctx, "audit", store.DeliveryProgress{Through: e3.ID, Failed: 1}))
	must(t, s.SavePluginDelivery(ctx, "audit", store.DeliveryProgress{Through: e1.ID})) // late, older save
	d = pending(0)
	if d.Failed != 1 || d.Delivered != 1 || d.Attempts != 0 || d.LastError != "" {
		t.Errorf("state %+v", d)
	}
	if err := s.SavePluginDelivery(ctx, "ghost", store.DeliveryProgress{Through: 1}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("saving for a plugin never started: %v, want ErrNotFound", err)
	}

	// started again while on (a portal restart): same place
	record(t, s, "user.login", "carol", "")
	if done, err := s.StartPluginDelivery(ctx, "audit", types); err != nil || done != e3.ID {
		t.Errorf("restart: place %d %v, want %d", done, err, e3.ID)
	}
	pending(1)
	// off: nothing pending; what happens while off is skipped when on again
	must(t, s.StopPluginDelivery(ctx, "audit"))
	pending(0)
	whileOff := record(t, s, "user.login", "dave", "")
	if done, err := s.StartPluginDelivery(ctx, "audit", types); err != nil || done != whileOff.ID {
		t.Errorf("re-enabled: place %d %v, want the head %d", done, err, whileOff.ID)
	}
	d = pending(0)
	if d.Delivered != 1 || d.Failed != 1 {
		t.Errorf("counts lost across disable: %+v", d)
	}
	must(t, s.ForgetPlugin(ctx, "audit"))
	if ds, err := s.PluginDeliveries(ctx); err != nil || len(ds) != 0 {
		t.Errorf("after forget: %v %v", ds, err)
	}
}

// pruneEvents: old events every plugin is done with go; a plugin behind
// keeps its events unless the cap is passed; ids are never reused.
func pruneEvents(t *testing.T, s store.Store) {
	_, err := s.StartPluginDelivery(ctx, "slow", []string{"user.login"})
	must(t, err)
	var ids []int64
	for i := range 10 {
		ids = append(ids, record(t, s, "user.login", fmt.Sprint("u", i), "").ID)
	}
	must(t, s.SavePluginDelivery(ctx, "slow", store.DeliveryProgress{Through: ids[3]}))
	future := time.Now().Add(time.Hour)
	n, err := s.PruneEvents(ctx, time.Now().Add(-time.Hour), 1000)
	must(t, err)
	if n != 0 {
		t.Errorf("pruned %d events recorded within the retention", n)
	}
	n, err = s.PruneEvents(ctx, future, 1000)
	must(t, err)
	if n != 4 {
		t.Errorf("pruned %d, want the 4 the plugin is done with", n)
	}
	left, err := s.EventsAfter(ctx, 0, []string{"user.login"}, 100)
	must(t, err)
	if len(left) != 6 || left[0].ID != ids[4] {
		t.Errorf("left %+v, want 6 from id %d", left, ids[4])
	}
	// the cap: only the newest 2 ids stay, whatever the plugin received
	n, err = s.PruneEvents(ctx, time.Now().Add(-time.Hour), 2)
	must(t, err)
	if n != 4 {
		t.Errorf("cap pruned %d, want 4", n)
	}
	must(t, s.StopPluginDelivery(ctx, "slow"))
	_, err = s.PruneEvents(ctx, future, 1000)
	must(t, err)
	if head, err := s.LastEventID(ctx); err != nil || head != 0 {
		t.Errorf("emptied outbox: head %d %v", head, err)
	}
	if next := record(t, s, "user.login", "again", ""); next.ID <= ids[9] {
		t.Errorf("id %d reused after pruning (last was %d)", next.ID, ids[9])
	}
}
