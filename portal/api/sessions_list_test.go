package api

import (
	"encoding/json"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

func sessionsNamed(rv string, names ...string) []streamv1.Session {
	var out []streamv1.Session
	for i, n := range names {
		now := metav1.Now()
		out = append(out, streamv1.Session{
			ObjectMeta: metav1.ObjectMeta{Name: n, ResourceVersion: rv, CreationTimestamp: now},
			Spec:       streamv1.SessionSpec{User: fmt.Sprintf("u%d", i%2), Template: "t<&>"},
			Status:     streamv1.SessionStatus{Phase: streamv1.PhaseRunning, URL: "/sessions/" + n + "?a=<b>", LastActivity: &now},
		})
	}
	return out
}

// A page put together from the sessions' encodings is byte for byte what
// json.Marshal makes of the same SessionPage (HTML escaping included).
func TestEncodePage_isJSONMarshalOfThePage(t *testing.T) {
	items := sessionsNamed("1", "c", "a", "b", "d")
	snap, err := buildSnapshot(nil, items, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []sessionQuery{{}, {limit: 2}, {limit: 1, after: "b"}, {user: "u1"}, {foreign: true, user: "u0"}, {template: "none"}} {
		picked, remaining := snap.pick(q)
		next := ""
		want := SessionPage{Sessions: []SessionView{}, RemainingItemCount: remaining}
		if remaining > 0 {
			next = q.continueAfter(picked[len(picked)-1].name)
			want.Continue = next
		}
		for _, e := range picked {
			for i := range items {
				if items[i].Name == e.name {
					want.Sessions = append(want.Sessions, view(&items[i]))
				}
			}
		}
		wantBody, _ := json.Marshal(want)
		if got := encodePage(picked, next, remaining); string(got) != string(wantBody) {
			t.Errorf("%+v:\n got %s\nwant %s", q, got, wantBody)
		}
	}
	if p, _ := snap.pick(sessionQuery{}); len(p) != 4 || p[0].name != "a" || p[3].name != "d" {
		t.Errorf("not sorted by name: %v", p)
	}
}

// A rebuilt snapshot encodes again only the sessions whose resource
// version changed, and drops the deleted ones.
func TestBuildSnapshot_reusesUnchangedEncodings(t *testing.T) {
	first, err := buildSnapshot(nil, sessionsNamed("1", "a", "b", "c"), 1, true)
	if err != nil {
		t.Fatal(err)
	}
	items := sessionsNamed("1", "a", "b")
	items[1].ResourceVersion, items[1].Status.Phase = "2", streamv1.PhaseHibernated
	second, err := buildSnapshot(first, items, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	if second.byName["a"] != first.byName["a"] {
		t.Error("a did not change, yet was encoded again")
	}
	if second.byName["b"] == first.byName["b"] || second.byName["b"].rv != "2" {
		t.Error("b changed, yet its old encoding is served")
	}
	var v SessionView
	_ = json.Unmarshal(second.byName["b"].json, &v)
	if v.Phase != string(streamv1.PhaseHibernated) {
		t.Errorf("b's encoding says phase %q", v.Phase)
	}
	if len(second.all) != 2 || second.byName["c"] != nil {
		t.Errorf("c was deleted, yet listed: %d sessions", len(second.all))
	}
}
