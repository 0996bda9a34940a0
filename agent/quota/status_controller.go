package quota

import (
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/api/equality"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/streamspace/streamspace/agent/reconciler"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// +kubebuilder:rbac:groups=stream.space,resources=quotas/status,verbs=get;update;patch,namespace=streamspace

// StatusReconciler keeps each Quota's status.users: who the quota applies
// to and what they use now, for the admins' quota view. It only reads and
// reports; the limits are enforced by Check.
type StatusReconciler struct {
	client.Client
}

// SetupWithManager registers the controller. Sessions are indexed by user
// (IndexSessionUser) by the session controller's setup. Any Quota or User
// change may move users between quotas (the most specific one wins), so it
// reconciles every Quota of the namespace; a session change only its
// user's.
func (r *StatusReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("quota-status").
		Watches(&streamv1.Quota{}, handler.EnqueueRequestsFromMapFunc(reconciler.AllInNamespace(r.Client, &streamv1.QuotaList{})),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&streamv1.User{}, handler.EnqueueRequestsFromMapFunc(reconciler.AllInNamespace(r.Client, &streamv1.QuotaList{})),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&streamv1.Session{}, handler.EnqueueRequestsFromMapFunc(r.quotaOfSession),
			builder.WithPredicates(reconciler.ChangedBy(usageKey))).
		Complete(r)
}

// Reconcile recomputes one Quota's users and their use, and patches the
// status only when it changed.
func (r *StatusReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	q := &streamv1.Quota{}
	if err := r.Get(ctx, req.NamespacedName, q); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	var quotas streamv1.QuotaList
	if err := r.List(ctx, &quotas, client.InNamespace(q.Namespace)); err != nil {
		return ctrl.Result{}, fmt.Errorf("list quotas: %w", err)
	}
	people, err := r.people(ctx, q.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	applies := []streamv1.QuotaUser{}
	for _, name := range sortedKeys(people) {
		res, ok := ResolveIn(quotas.Items, name, people[name])
		if !ok || res.Name != q.Name {
			continue
		}
		used, err := UsageOf(ctx, r.Client, q.Namespace, name, nil)
		if err != nil {
			return ctrl.Result{}, err
		}
		applies = append(applies, userStatus(name, res.Reason, used, q.Spec.Limits))
	}

	want := streamv1.QuotaStatus{ObservedGeneration: q.Generation, Users: applies}
	if len(want.Users) == 0 {
		want.Users = nil
	}
	if equality.Semantic.DeepEqual(q.Status, want) {
		return ctrl.Result{}, nil
	}
	before := q.DeepCopy()
	q.Status = want
	if err := r.Status().Patch(ctx, q, client.MergeFrom(before), client.FieldOwner(reconciler.AgentName)); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, nil
}

// people are the users a quota can apply to: those with a User object
// (nil for the others) and those with a session that counts.
func (r *StatusReconciler) people(ctx context.Context, namespace string) (map[string]*streamv1.User, error) {
	var users streamv1.UserList
	if err := r.List(ctx, &users, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	var sessions streamv1.SessionList
	if err := r.List(ctx, &sessions, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	people := map[string]*streamv1.User{}
	for i := range users.Items {
		people[users.Items[i].Name] = &users.Items[i]
	}
	for i := range sessions.Items {
		s := &sessions.Items[i]
		if _, known := people[s.Spec.User]; !known && counts(s) {
			people[s.Spec.User] = nil
		}
	}
	return people, nil
}

// userStatus is one user's line: use, and the limits reached (at which the
// next session, or the next running one, would be refused).
func userStatus(name, via string, used Usage, l streamv1.QuotaLimits) streamv1.QuotaUser {
	u := streamv1.QuotaUser{Name: name, Via: via, Sessions: used.Sessions, RunningSessions: used.RunningSessions}
	if !used.Memory.IsZero() {
		m := used.Memory.DeepCopy()
		u.Memory = &m
	}
	if !used.CPU.IsZero() {
		c := used.CPU.DeepCopy()
		u.CPU = &c
	}
	if l.MaxSessions != nil && used.Sessions >= *l.MaxSessions {
		u.AtLimit = append(u.AtLimit, "maxSessions")
	}
	if l.MaxRunningSessions != nil && used.RunningSessions >= *l.MaxRunningSessions {
		u.AtLimit = append(u.AtLimit, "maxRunningSessions")
	}
	if l.Memory != nil && used.Memory.Cmp(*l.Memory) >= 0 {
		u.AtLimit = append(u.AtLimit, "memory")
	}
	if l.CPU != nil && used.CPU.Cmp(*l.CPU) >= 0 {
		u.AtLimit = append(u.AtLimit, "cpu")
	}
	return u
}

func (r *StatusReconciler) quotaOfSession(ctx context.Context, o client.Object) []reconcile.Request {
	res, _, err := Resolve(ctx, r.Client, o.GetNamespace(), o.(*streamv1.Session).Spec.User)
	if err != nil || res.Name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: res.Name}}}
}

// usageKey is what of a session UsageOf counts.
func usageKey(s *streamv1.Session) string {
	return fmt.Sprintf("%s|%t|%t|%v|%v", s.DesiredState(), s.DeletionTimestamp.IsZero(), isQuotaFailed(s), s.Spec.Resources.Memory, s.Spec.Resources.CPU)
}

// counts reports whether a session counts against a quota at all.
func counts(s *streamv1.Session) bool {
	return s.DesiredState() != streamv1.StateTerminated && s.DeletionTimestamp.IsZero()
}

func sortedKeys(m map[string]*streamv1.User) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
