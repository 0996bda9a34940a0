// Package quota resolves which Quota applies to a user and checks a session
// start against it. The admission webhook, the session reconciler (defence
// in depth) and the portal's pre-check all call the same Check, so they can
// never disagree.
package quota

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// UserField is the selectable field (and cache index) of Session.spec.user.
const UserField = "spec.user"

// Resolved is the quota that applies to a user and why.
type Resolved struct {
	// Name of the Quota object; empty when no Quota applies (unlimited).
	Name string
	// Reason says how it was chosen: "user", "user-override", "group <g>",
	// "default" or "none".
	Reason string
	Limits streamv1.QuotaLimits
}

// Resolve finds the Quota that applies to user in namespace. The most
// specific wins: the User's explicit quota, then a Quota naming the user,
// then one naming one of the user's groups (first by Quota name), then the
// default. A user without a User object has no groups.
func Resolve(ctx context.Context, r client.Reader, namespace, user string) (Resolved, *streamv1.User, error) {
	var u *streamv1.User
	obj := &streamv1.User{}
	switch err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: user}, obj); {
	case err == nil:
		u = obj
	case !apierrors.IsNotFound(err):
		return Resolved{}, nil, fmt.Errorf("get user %s: %w", user, err)
	}

	if u != nil && u.Spec.Quota != "" {
		q := &streamv1.Quota{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: u.Spec.Quota}, q); err != nil {
			return Resolved{}, u, fmt.Errorf("get quota %s named by user %s: %w", u.Spec.Quota, user, err)
		}
		return overridden(q), u, nil
	}

	var quotas streamv1.QuotaList
	if err := r.List(ctx, &quotas, client.InNamespace(namespace)); err != nil {
		return Resolved{}, u, fmt.Errorf("list quotas: %w", err)
	}
	return Pick(quotas.Items, user, groupsOf(u)), u, nil
}

// ResolveIn is Resolve over quotas already listed, for a user with the
// given User object (nil when there is none). It reports false when the
// User names a Quota that is not in the list.
func ResolveIn(quotas []streamv1.Quota, user string, u *streamv1.User) (Resolved, bool) {
	if u != nil && u.Spec.Quota != "" {
		for i := range quotas {
			if quotas[i].Name == u.Spec.Quota {
				return overridden(&quotas[i]), true
			}
		}
		return Resolved{}, false
	}
	return Pick(quotas, user, groupsOf(u)), true
}

func overridden(q *streamv1.Quota) Resolved {
	return Resolved{Name: q.Name, Reason: "user-override", Limits: q.Spec.Limits}
}

// Pick chooses among quotas for a user with the given groups; see Resolve.
func Pick(quotas []streamv1.Quota, user string, groups []string) Resolved {
	sort.Slice(quotas, func(i, j int) bool { return quotas[i].Name < quotas[j].Name })
	inGroup := make(map[string]bool, len(groups))
	for _, g := range groups {
		inGroup[g] = true
	}
	var byGroup, byDefault *Resolved
	for i := range quotas {
		q := &quotas[i]
		if contains(q.Spec.Users, user) {
			return Resolved{Name: q.Name, Reason: "user", Limits: q.Spec.Limits}
		}
		if byGroup == nil {
			for _, g := range q.Spec.Groups {
				if inGroup[g] {
					byGroup = &Resolved{Name: q.Name, Reason: "group " + g, Limits: q.Spec.Limits}
					break
				}
			}
		}
		if byDefault == nil && q.Spec.Default {
			byDefault = &Resolved{Name: q.Name, Reason: "default", Limits: q.Spec.Limits}
		}
	}
	switch {
	case byGroup != nil:
		return *byGroup
	case byDefault != nil:
		return *byDefault
	}
	return Resolved{Reason: "none"}
}

// Usage is what a user's sessions consume.
type Usage struct {
	Sessions        int32
	RunningSessions int32
	Memory          resource.Quantity
	CPU             resource.Quantity
}

// UsageOf sums the sessions of user in namespace that count against a
// quota. A terminated session counts for nothing; a hibernated one counts as
// a session but not as running. skip excludes sessions (the one being
// checked, or those started after it).
func UsageOf(ctx context.Context, r client.Reader, namespace, user string, skip func(*streamv1.Session) bool) (Usage, error) {
	var sessions streamv1.SessionList
	if err := r.List(ctx, &sessions, client.InNamespace(namespace), client.MatchingFields{UserField: user}); err != nil {
		return Usage{}, fmt.Errorf("list sessions of user %s: %w", user, err)
	}
	return sum(ctx, r, namespace, sessions.Items, skip)
}

// sum is UsageOf over sessions already read; r reads their templates. A
// session without a template name carries its effective resources.
func sum(ctx context.Context, r client.Reader, namespace string, sessions []streamv1.Session, skip func(*streamv1.Session) bool) (Usage, error) {
	var u Usage
	templates := map[string]*streamv1.Template{}
	for i := range sessions {
		s := &sessions[i]
		if !counts(s) || (skip != nil && skip(s)) {
			continue
		}
		u.Sessions++
		if s.DesiredState() != streamv1.StateRunning || isQuotaFailed(s) {
			continue
		}
		u.RunningSessions++
		t, ok := templates[s.Spec.Template]
		if !ok && s.Spec.Template != "" {
			t = &streamv1.Template{}
			if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: s.Spec.Template}, t); err != nil {
				t = nil // a session whose template vanished still counts as a session, with its own resources only
			}
			templates[s.Spec.Template] = t
		}
		res := EffectiveResources(s, t)
		if res.Memory != nil {
			u.Memory.Add(*res.Memory)
		}
		if res.CPU != nil {
			u.CPU.Add(*res.CPU)
		}
	}
	return u, nil
}

// isQuotaFailed reports whether the reconciler refused to start s for quota:
// such a session has no pod and consumes nothing.
func isQuotaFailed(s *streamv1.Session) bool {
	return s.Status.Phase == streamv1.PhaseFailed && readyReason(s) == streamv1.ReasonQuotaExceeded
}

func readyReason(s *streamv1.Session) string {
	for _, c := range s.Status.Conditions {
		if c.Type == streamv1.ConditionReady {
			return c.Reason
		}
	}
	return ""
}

// EffectiveResources returns the session's resources, each falling back to
// the template's default. t may be nil.
func EffectiveResources(s *streamv1.Session, t *streamv1.Template) streamv1.Resources {
	res := streamv1.Resources{Memory: s.Spec.Resources.Memory, CPU: s.Spec.Resources.CPU}
	if t != nil {
		if res.Memory == nil {
			res.Memory = t.Spec.DefaultResources.Memory
		}
		if res.CPU == nil {
			res.CPU = t.Spec.DefaultResources.CPU
		}
	}
	return res
}

// ExceededError says which limit a start would break, with the current use
// and the limit, so a person can act on it.
type ExceededError struct {
	Quota string
	Limit string
	Used  string
	Max   string
	Hint  string
}

func (e *ExceededError) Error() string {
	msg := fmt.Sprintf("quota %q exceeded: %s: %s, limit %s", e.Quota, e.Limit, e.Used, e.Max)
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// Start describes a session that wants to exist or run.
type Start struct {
	Session  *streamv1.Session
	Template *streamv1.Template
	// NewSession is true on create: the session adds to maxSessions.
	NewSession bool
}

// Check returns an *ExceededError when starting st would break the quota
// that applies to its user, given usage that excludes st itself.
func Check(q Resolved, used Usage, st Start) error {
	l := q.Limits
	if st.NewSession && l.MaxSessions != nil && used.Sessions+1 > *l.MaxSessions {
		return &ExceededError{Quota: q.Name, Limit: "maxSessions", Used: fmt.Sprintf("%d sessions", used.Sessions), Max: fmt.Sprint(*l.MaxSessions),
			Hint: "terminate a session to create another"}
	}
	if st.Session.Spec.MaxSessionDuration != nil && l.MaxSessionDuration != nil && st.Session.Spec.MaxSessionDuration.Duration > l.MaxSessionDuration.Duration {
		return &ExceededError{Quota: q.Name, Limit: "maxSessionDuration", Used: st.Session.Spec.MaxSessionDuration.Duration.String() + " requested",
			Max: l.MaxSessionDuration.Duration.String()}
	}
	if st.Session.DesiredState() != streamv1.StateRunning {
		return nil
	}
	if l.MaxRunningSessions != nil && used.RunningSessions+1 > *l.MaxRunningSessions {
		return &ExceededError{Quota: q.Name, Limit: "maxRunningSessions", Used: fmt.Sprintf("%d running", used.RunningSessions), Max: fmt.Sprint(*l.MaxRunningSessions),
			Hint: "hibernate or terminate a running session to start another"}
	}
	res := EffectiveResources(st.Session, st.Template)
	if l.Memory != nil && res.Memory != nil {
		total := used.Memory.DeepCopy()
		total.Add(*res.Memory)
		if total.Cmp(*l.Memory) > 0 {
			return &ExceededError{Quota: q.Name, Limit: "memory", Used: fmt.Sprintf("%s running + %s requested", used.Memory.String(), res.Memory.String()), Max: l.Memory.String()}
		}
	}
	if l.CPU != nil && res.CPU != nil {
		total := used.CPU.DeepCopy()
		total.Add(*res.CPU)
		if total.Cmp(*l.CPU) > 0 {
			return &ExceededError{Quota: q.Name, Limit: "cpu", Used: fmt.Sprintf("%s running + %s requested", used.CPU.String(), res.CPU.String()), Max: l.CPU.String()}
		}
	}
	return nil
}

// MaxSessionDuration returns the session's own limit, else the quota's; 0
// means unlimited.
func MaxSessionDuration(s *streamv1.Session, q Resolved) time.Duration {
	if s.Spec.MaxSessionDuration != nil {
		return s.Spec.MaxSessionDuration.Duration
	}
	if q.Limits.MaxSessionDuration != nil {
		return q.Limits.MaxSessionDuration.Duration
	}
	return 0
}

func groupsOf(u *streamv1.User) []string {
	if u == nil {
		return nil
	}
	return u.Spec.Groups
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// IndexSessionUser indexes Sessions by spec.user in a cache, so that
// MatchingFields{UserField: …} works on it as on the API server. The
// session controller and the admission webhook both need the index; a
// cache refuses a second index of the same name, so the second call for
// the same indexer does nothing.
func IndexSessionUser(ctx context.Context, idx client.FieldIndexer) error {
	if reflect.TypeOf(idx).Comparable() {
		if _, done := indexed.LoadOrStore(idx, true); done {
			return nil
		}
	}
	if err := idx.IndexField(ctx, &streamv1.Session{}, UserField, func(o client.Object) []string {
		return []string{o.(*streamv1.Session).Spec.User}
	}); err != nil {
		indexed.Delete(idx)
		return fmt.Errorf("index sessions by user: %w", err)
	}
	return nil
}

// indexed holds the indexers IndexSessionUser has indexed.
var indexed sync.Map
