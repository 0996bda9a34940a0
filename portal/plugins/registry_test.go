package plugins

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/event"
	"github.com/streamspace/streamspace/plugins/manifest"
)

func TestEventTypes_matchManifestEvents(t *testing.T) {
	if !slices.Equal(event.Types, manifest.Events) {
		t.Errorf("event.Types %v and manifest.Events %v differ: a plugin could subscribe to an event never produced, or miss one", event.Types, manifest.Events)
	}
}

func plugin(enabled bool, events, asks, approved []string) *streamv1.Plugin {
	m, _ := json.Marshal(manifest.Manifest{Name: "p", Version: "1.0.0", Type: manifest.TypeWebhook, Events: events, Permissions: asks,
		Entry: manifest.Entry{Webhook: &manifest.WebhookEntry{URL: "https://hooks.example.com/"}}})
	p := &streamv1.Plugin{ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: 2},
		Spec:   streamv1.PluginSpec{Enabled: enabled, ApprovedPermissions: approved},
		Status: streamv1.PluginStatus{Manifest: &apiextensionsv1.JSON{Raw: m}, Revision: "main@sha1:abc"}}
	p.Status.Conditions = []metav1.Condition{{Type: streamv1.ConditionReady, Status: metav1.ConditionTrue, ObservedGeneration: 2, Reason: streamv1.ReasonInstalled}}
	return p
}

// Desired: only enabled plugins Ready for their current spec receive, and
// only the types they subscribed to AND were granted (asked for in the
// manifest and approved).
func TestDesired(t *testing.T) {
	all := event.Types
	both := []string{manifest.PermSessionEvents, manifest.PermUserEvents}
	session := []string{manifest.PermSessionEvents}
	for _, c := range []struct {
		name string
		p    *streamv1.Plugin
		want []string // nil: receives nothing
		why  string
	}{
		{"everything granted", plugin(true, all, both, both), sorted(all), ""},
		{"disabled", plugin(false, all, both, both), nil, "disabled"},
		{"user events not approved", plugin(true, all, both, session), sorted(all[:6]), ""},
		{"user events approved but never asked for", plugin(true, all, session, both), sorted(all[:6]), ""},
		{"subscribed to one", plugin(true, []string{event.UserLogin}, both, both), []string{event.UserLogin}, ""},
		{"unknown type ignored", plugin(true, []string{"session.exploded", event.SessionCreated}, session, session), []string{event.SessionCreated}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, why := Desired(c.p)
			if c.want == nil {
				if w != nil || why != c.why {
					t.Errorf("got %+v, why %q; want nothing because %q", w, why, c.why)
				}
				return
			}
			if w == nil || !slices.Equal(w.Types, c.want) {
				t.Fatalf("got %+v (%s), want types %v", w, why, c.want)
			}
		})
	}
	p := plugin(true, all, both, both)
	p.Status.Conditions[0].Status = metav1.ConditionFalse
	if w, why := Desired(p); w != nil || why != "not Ready" {
		t.Errorf("not Ready: %v %q", w, why)
	}
	p = plugin(true, all, both, both)
	p.Generation = 3 // a config edit the agent has not checked yet
	if w, why := Desired(p); w != nil || why != "Ready is for an older generation" {
		t.Errorf("stale Ready: %v %q", w, why)
	}
	a, _ := Desired(plugin(true, all, both, both))
	changed := plugin(true, all, both, both)
	changed.Spec.Config = &apiextensionsv1.JSON{Raw: []byte(`{"url":"https://other.example.com/"}`)}
	b, _ := Desired(changed)
	if a.Fingerprint == b.Fingerprint {
		t.Error("a config change keeps the fingerprint: the runtime would not be rebuilt")
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestBackoff_delay(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 5 * time.Second, Attempts: 10}
	var got []time.Duration
	for a := 1; a <= 5; a++ {
		got = append(got, b.delay(a))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("delays %v, want %v", got, want)
	}
}

// The tracker's place moves only over ids that are all done, whatever
// order the lanes finish them in.
func TestTracker_throughOnlyOverDone(t *testing.T) {
	var tr tracker
	tr.reset(10)
	for _, id := range []int64{11, 14, 15, 20} {
		tr.add(id)
	}
	at := time.Now()
	steps := []struct {
		id      int64
		ok      bool
		through int64
	}{
		{15, true, 10}, // 11 and 14 still out
		{11, true, 13}, // 12, 13 are not this plugin's types
		{20, false, 13},
		{14, true, 20},
	}
	for _, s := range steps {
		tr.finish(s.id, s.ok, 1, "", at)
		p, _ := tr.take()
		if p.Through != s.through {
			t.Errorf("after %d: through %d, want %d", s.id, p.Through, s.through)
		}
	}
	if fetched, limit := tr.room(); fetched != 20 || limit != maxFetch {
		t.Errorf("next read after %d, up to %d events; want after 20, up to %d (nothing in flight)", fetched, limit, maxFetch)
	}
}

// A worker holding maxInFlight events reads nothing until the lanes have
// finished half of them, and then is told once (lanes do not wake it for
// every event they finish).
func TestTracker_fullWaitsForHalfTheRoom(t *testing.T) {
	var tr tracker
	tr.reset(0)
	for id := int64(1); id <= maxInFlight; id++ {
		tr.add(id)
	}
	if _, limit := tr.room(); limit != 0 {
		t.Fatalf("room %d with %d in flight, want 0", limit, maxInFlight)
	}
	at := time.Now()
	woken := 0
	for id := int64(1); id <= maxInFlight; id++ {
		if tr.finish(id, true, 1, "", at) {
			woken++
			if left := maxInFlight - id; left != maxInFlight/2 {
				t.Errorf("woken with %d in flight, want %d", left, maxInFlight/2)
			}
		}
	}
	if woken != 1 {
		t.Errorf("the reader was woken %d times, want once", woken)
	}
}
