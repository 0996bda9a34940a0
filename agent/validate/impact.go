package validate

import (
	"context"
	"fmt"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cliobject "github.com/fluxcd/cli-utils/pkg/object"

	"github.com/streamspace/streamspace/agent/gitsync"
	"github.com/streamspace/streamspace/agent/quota"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// Impact is what merging a platform repository's content would do to a
// live platform, GitSync by GitSync.
type Impact struct {
	GitSyncs []SyncImpact `json:"gitSyncs"`
}

// SyncImpact is what the next sync of one GitSync would do.
type SyncImpact struct {
	GitSync         string           `json:"gitSync"` // namespace/name
	Path            string           `json:"path"`
	Templates       []TemplateImpact `json:"templates"`
	Quotas          []ObjectChange   `json:"quotas"`
	OverQuota       []Overage        `json:"overQuota"`
	NetworkPolicies []ObjectChange   `json:"networkPolicies"`
	Prune           []PruneImpact    `json:"prune"`
}

// ObjectChange is one object added, changed (with the fields) or removed.
type ObjectChange struct {
	Name   string   `json:"name"`
	Change string   `json:"change"` // added, changed or removed
	Fields []string `json:"fields,omitempty"`
}

// TemplateImpact is a template change and the live sessions using it.
type TemplateImpact struct {
	ObjectChange
	Sessions []SessionUse `json:"sessions"`
}

// SessionUse is a running or hibernated session.
type SessionUse struct {
	Name  string `json:"name"`
	User  string `json:"user"`
	State string `json:"state"`
}

// Overage is a user whose current use breaks the limits of the quota that
// would apply to them after the merge.
type Overage struct {
	User  string `json:"user"`
	Quota string `json:"quota"` // the quota that would apply
	Limit string `json:"limit"` // maxSessions, maxRunningSessions, memory or cpu
	Used  string `json:"used"`
	Max   string `json:"max"`
	Over  string `json:"over"` // by how much
}

// PruneImpact is an object that left Git: prune deletes it unless
// BlockedBy names who still uses it.
type PruneImpact struct {
	Kind      string   `json:"kind"`
	Name      string   `json:"name"`
	BlockedBy []string `json:"blockedBy,omitempty"`
}

var (
	templateGK = schema.GroupKind{Group: streamv1.GroupVersion.Group, Kind: "Template"}
	quotaGK    = schema.GroupKind{Group: streamv1.GroupVersion.Group, Kind: "Quota"}
	netpolGK   = schema.GroupKind{Group: networkingv1.GroupName, Kind: "NetworkPolicy"}
)

// ImpactOf forecasts, for every GitSync the API server holds (in namespace,
// or everywhere when it is empty), what a sync of the repository at root
// would do: each GitSync's spec.path is built as the agent builds it and
// compared with the live objects it manages (its inventory and the objects
// carrying its owner labels). Nothing is written: changes are found by
// server-side apply dry-runs.
func ImpactOf(ctx context.Context, c client.Client, root, namespace string) (*Impact, error) {
	var syncs streamv1.GitSyncList
	if err := c.List(ctx, &syncs, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("list GitSyncs: %w", err)
	}
	if len(syncs.Items) == 0 {
		where := "any namespace"
		if namespace != "" {
			where = "namespace " + namespace
		}
		return nil, fmt.Errorf("no GitSync in %s: nothing applies this repository, so merging it changes nothing", where)
	}
	sort.Slice(syncs.Items, func(i, j int) bool {
		a, b := syncs.Items[i], syncs.Items[j]
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	out := &Impact{GitSyncs: []SyncImpact{}}
	for i := range syncs.Items {
		si, err := syncImpact(ctx, c, root, &syncs.Items[i])
		if err != nil {
			return nil, fmt.Errorf("GitSync %s/%s: %w", syncs.Items[i].Namespace, syncs.Items[i].Name, err)
		}
		out.GitSyncs = append(out.GitSyncs, *si)
	}
	return out, nil
}

func syncImpact(ctx context.Context, c client.Client, root string, gs *streamv1.GitSync) (*SyncImpact, error) {
	ns := gs.Namespace
	si := &SyncImpact{GitSync: ns + "/" + gs.Name, Path: gs.Spec.Path,
		Templates: []TemplateImpact{}, Quotas: []ObjectChange{}, OverQuota: []Overage{}, NetworkPolicies: []ObjectChange{}, Prune: []PruneImpact{}}
	objs, err := gitsync.Build(root, gs.Spec.Path)
	if err == nil {
		// The agent's allow-list is its own flag; the default one is what
		// it ships with. Validate also puts every object in ns.
		err = gitsync.DefaultAllowed.Validate(objs, ns)
	}
	if err != nil {
		return nil, err
	}
	gitsync.SetOwner(objs, gs)

	sessions, err := liveSessions(ctx, c, ns)
	if err != nil {
		return nil, err
	}
	desired := map[string]bool{}
	var newQuotas []streamv1.Quota
	quotaChanged := map[string]bool{}
	for _, o := range objs {
		desired[gitsync.ID(o)] = true
		gk := o.GroupVersionKind().GroupKind()
		if gk == quotaGK {
			var q streamv1.Quota
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &q); err != nil {
				return nil, fmt.Errorf("Quota %s: %w", o.GetName(), err)
			}
			newQuotas = append(newQuotas, q)
		}
		if gk != templateGK && gk != quotaGK && gk != netpolGK {
			continue
		}
		change, fields, err := gitsync.DiffLive(ctx, c, o)
		if err != nil {
			return nil, err
		}
		if change == gitsync.Unchanged {
			continue
		}
		oc := ObjectChange{Name: o.GetName(), Change: string(change), Fields: fields}
		switch gk {
		case templateGK:
			si.Templates = append(si.Templates, TemplateImpact{ObjectChange: oc, Sessions: usersOfTemplate(sessions, oc.Name)})
		case quotaGK:
			si.Quotas = append(si.Quotas, oc)
			quotaChanged[oc.Name] = true
		case netpolGK:
			si.NetworkPolicies = append(si.NetworkPolicies, oc)
		}
	}

	stale, err := managedNotDesired(ctx, c, gs, desired)
	if err != nil {
		return nil, err
	}
	blockers, err := gitsync.PruneBlockers(ctx, c, ns)
	if err != nil {
		return nil, err
	}
	keptQuotas := map[string]bool{} // left Git but prune keeps them: still in force
	for _, m := range stale {
		p := PruneImpact{Kind: m.GroupKind.Kind, Name: m.Name, BlockedBy: blockers(m.String())}
		si.Prune = append(si.Prune, p)
		oc := ObjectChange{Name: m.Name, Change: "removed"}
		switch m.GroupKind {
		case templateGK:
			si.Templates = append(si.Templates, TemplateImpact{ObjectChange: oc, Sessions: usersOfTemplate(sessions, m.Name)})
		case quotaGK:
			si.Quotas = append(si.Quotas, oc)
			quotaChanged[m.Name] = true
			keptQuotas[m.Name] = len(p.BlockedBy) > 0
		case netpolGK:
			si.NetworkPolicies = append(si.NetworkPolicies, oc)
		}
	}
	if len(quotaChanged) > 0 {
		if si.OverQuota, err = overQuota(ctx, c, ns, sessions, newQuotas, keptQuotas, desired); err != nil {
			return nil, err
		}
	}
	return si, nil
}

// liveSessions are the sessions that hold what they use: running or
// hibernated, not being deleted (prune's rule).
func liveSessions(ctx context.Context, c client.Reader, ns string) ([]streamv1.Session, error) {
	var list streamv1.SessionList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	var live []streamv1.Session
	for _, s := range list.Items {
		if s.DesiredState() != streamv1.StateTerminated && s.DeletionTimestamp.IsZero() {
			live = append(live, s)
		}
	}
	sort.Slice(live, func(i, j int) bool { return live[i].Name < live[j].Name })
	return live, nil
}

func usersOfTemplate(sessions []streamv1.Session, template string) []SessionUse {
	use := []SessionUse{}
	for _, s := range sessions {
		if s.Spec.Template == template {
			use = append(use, SessionUse{Name: s.Name, User: s.Spec.User, State: string(s.DesiredState())})
		}
	}
	return use
}

// managedNotDesired lists what gs manages now (its inventory, and live
// Templates, Quotas and NetworkPolicies with its owner labels) that the
// new build no longer holds: what its prune would delete.
func managedNotDesired(ctx context.Context, c client.Reader, gs *streamv1.GitSync, desired map[string]bool) ([]cliobject.ObjMetadata, error) {
	seen := map[string]bool{}
	var out []cliobject.ObjMetadata
	add := func(id string) {
		if desired[id] || seen[id] {
			return
		}
		seen[id] = true
		if m, err := cliobject.ParseObjMetadata(id); err == nil {
			out = append(out, m)
		}
	}
	for _, e := range gs.Status.Inventory {
		add(e.ID)
	}
	owned := client.MatchingLabels{gitsync.OwnerNameLabel: gs.Name, gitsync.OwnerNamespaceLabel: gs.Namespace}
	for _, gvk := range []schema.GroupVersionKind{
		templateGK.WithVersion(streamv1.GroupVersion.Version),
		quotaGK.WithVersion(streamv1.GroupVersion.Version),
		netpolGK.WithVersion("v1"),
	} {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.List(ctx, list, client.InNamespace(gs.Namespace), owned); err != nil {
			return nil, fmt.Errorf("list %ss: %w", gvk.Kind, err)
		}
		for i := range list.Items {
			add(gitsync.ID(&list.Items[i]))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

// overQuota finds the users with live sessions whose current use (as the
// quota package counts it) breaks the limits of the quota that would
// apply to them once the new quotas are in force. Only users whose quota
// or its limits change are reported: the others are no news.
func overQuota(ctx context.Context, c client.Client, ns string, sessions []streamv1.Session, built []streamv1.Quota, kept, desired map[string]bool) ([]Overage, error) {
	var live streamv1.QuotaList
	if err := c.List(ctx, &live, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("list quotas: %w", err)
	}
	// After the merge: the built quotas, the live ones this sync does not
	// touch, and the removed ones prune has to keep.
	after := append([]streamv1.Quota{}, built...)
	for _, q := range live.Items {
		id := cliobject.ObjMetadata{Namespace: ns, Name: q.Name, GroupKind: quotaGK}.String()
		if blocked, removed := kept[q.Name]; (!removed || blocked) && !desired[id] {
			after = append(after, q)
		}
	}
	users := map[string]bool{}
	for _, s := range sessions {
		users[s.Spec.User] = true
	}
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	out := []Overage{}
	for _, name := range names {
		var u *streamv1.User
		obj := &streamv1.User{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err == nil {
			u = obj
		} else if client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("get user %s: %w", name, err)
		}
		before, _ := quota.ResolveIn(live.Items, name, u)
		now, ok := quota.ResolveIn(after, name, u)
		if !ok {
			continue // the User names a quota that would be gone: the webhook refuses starts, nothing to compare
		}
		if before.Name == now.Name && equalLimits(before.Limits, now.Limits) {
			continue
		}
		used, err := quota.UsageOf(ctx, c, ns, name, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, exceeded(name, now, used)...)
	}
	return out, nil
}

func equalLimits(a, b streamv1.QuotaLimits) bool {
	return fmt.Sprint(deref32(a.MaxSessions), deref32(a.MaxRunningSessions), qty(a.Memory), qty(a.CPU)) ==
		fmt.Sprint(deref32(b.MaxSessions), deref32(b.MaxRunningSessions), qty(b.Memory), qty(b.CPU))
}

func deref32(p *int32) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

func qty(q *resource.Quantity) string {
	if q == nil {
		return "-"
	}
	return q.String()
}

// exceeded compares a user's use with each limit of q.
func exceeded(user string, q quota.Resolved, used quota.Usage) []Overage {
	var out []Overage
	l := q.Limits
	count := func(limit string, n int32, max *int32, unit string) {
		if max != nil && n > *max {
			out = append(out, Overage{User: user, Quota: q.Name, Limit: limit, Used: fmt.Sprintf("%d %s", n, unit), Max: fmt.Sprint(*max), Over: fmt.Sprint(n - *max)})
		}
	}
	count("maxSessions", used.Sessions, l.MaxSessions, "sessions")
	count("maxRunningSessions", used.RunningSessions, l.MaxRunningSessions, "running")
	amount := func(limit string, n resource.Quantity, max *resource.Quantity) {
		if max != nil && n.Cmp(*max) > 0 {
			over := n.DeepCopy()
			over.Sub(*max)
			out = append(out, Overage{User: user, Quota: q.Name, Limit: limit, Used: n.String() + " running", Max: max.String(), Over: over.String()})
		}
	}
	amount("memory", used.Memory, l.Memory)
	amount("cpu", used.CPU, l.CPU)
	return out
}

// String renders the impact for a person, one GitSync after another.
func (im *Impact) String() string {
	var b strings.Builder
	for _, s := range im.GitSyncs {
		fmt.Fprintf(&b, "GitSync %s (%s):\n", s.GitSync, s.Path)
		n := b.Len()
		for _, t := range s.Templates {
			fmt.Fprintf(&b, "  Template %s %s%s", t.Name, t.Change, fieldList(t.Fields))
			if len(t.Sessions) > 0 {
				var who []string
				for _, u := range t.Sessions {
					who = append(who, fmt.Sprintf("%s (%s, %s)", u.Name, u.User, u.State))
				}
				fmt.Fprintf(&b, "; used by %d session(s): %s", len(t.Sessions), strings.Join(who, ", "))
			}
			b.WriteString("\n")
		}
		for _, q := range s.Quotas {
			fmt.Fprintf(&b, "  Quota %s %s%s\n", q.Name, q.Change, fieldList(q.Fields))
		}
		for _, o := range s.OverQuota {
			fmt.Fprintf(&b, "  user %s would be over quota %s: %s %s, limit %s (%s over)\n", o.User, o.Quota, o.Limit, o.Used, o.Max, o.Over)
		}
		for _, p := range s.NetworkPolicies {
			fmt.Fprintf(&b, "  NetworkPolicy %s %s%s\n", p.Name, p.Change, fieldList(p.Fields))
		}
		for _, p := range s.Prune {
			if len(p.BlockedBy) > 0 {
				fmt.Fprintf(&b, "  prune would keep %s/%s while in use by %s\n", p.Kind, p.Name, strings.Join(p.BlockedBy, ", "))
			} else {
				fmt.Fprintf(&b, "  prune would delete %s/%s\n", p.Kind, p.Name)
			}
		}
		if b.Len() == n {
			b.WriteString("  no change\n")
		}
	}
	return b.String()
}

func fieldList(fields []string) string {
	if len(fields) == 0 {
		return ""
	}
	return " (" + strings.Join(fields, ", ") + ")"
}
