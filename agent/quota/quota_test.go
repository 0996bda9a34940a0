package quota

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

func q(name string, spec streamv1.QuotaSpec) streamv1.Quota {
	return streamv1.Quota{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
}

func TestPick_mostSpecificWins(t *testing.T) {
	quotas := []streamv1.Quota{
		q("default", streamv1.QuotaSpec{Default: true}),
		q("designers", streamv1.QuotaSpec{Groups: []string{"designers"}}),
		q("developers", streamv1.QuotaSpec{Groups: []string{"developers"}}),
		q("zed-alice", streamv1.QuotaSpec{Users: []string{"alice"}}),
	}
	cases := []struct {
		user   string
		groups []string
		want   string
		reason string
	}{
		{"alice", []string{"developers"}, "zed-alice", "user"},
		{"bob", []string{"developers", "designers"}, "designers", "group designers"}, // first by quota name
		{"carol", []string{"developers"}, "developers", "group developers"},
		{"dave", nil, "default", "default"},
	}
	for _, c := range cases {
		got := Pick(quotas, c.user, c.groups)
		if got.Name != c.want || got.Reason != c.reason {
			t.Errorf("Pick(%s, %v) = %s (%s), want %s (%s)", c.user, c.groups, got.Name, got.Reason, c.want, c.reason)
		}
	}
	if got := Pick(nil, "eve", nil); got.Name != "" || got.Reason != "none" {
		t.Errorf("no quotas: got %+v, want unlimited", got)
	}
}

func TestCheck_errorNamesLimitUseAndMax(t *testing.T) {
	mem := resource.MustParse("2Gi")
	tpl := &streamv1.Template{Spec: streamv1.TemplateSpec{DefaultResources: streamv1.Resources{Memory: &mem}}}
	s := &streamv1.Session{Spec: streamv1.SessionSpec{State: streamv1.StateRunning}}
	res := Resolved{Name: "default", Limits: streamv1.QuotaLimits{MaxRunningSessions: ptr.To[int32](3)}}
	err := Check(res, Usage{RunningSessions: 3}, Start{Session: s, Template: tpl})
	var ex *ExceededError
	if !errors.As(err, &ex) {
		t.Fatalf("want *ExceededError, got %v", err)
	}
	if ex.Limit != "maxRunningSessions" || ex.Used != "3 running" || ex.Max != "3" {
		t.Errorf("got %+v", ex)
	}
	if err := Check(res, Usage{RunningSessions: 2}, Start{Session: s, Template: tpl}); err != nil {
		t.Errorf("2 of 3 running: want allowed, got %v", err)
	}
	hib := &streamv1.Session{Spec: streamv1.SessionSpec{State: streamv1.StateHibernated}}
	if err := Check(res, Usage{RunningSessions: 3}, Start{Session: hib, Template: tpl, NewSession: true}); err != nil {
		t.Errorf("a hibernated session does not count as running: %v", err)
	}
}
