package quota

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// The admission webhook reads a user's Sessions from the agent's informer
// cache (a per-user index: its cost is the user's sessions, not the
// namespace's), but a cache lags: a create admitted a moment ago may not
// be in it yet, and every agent replica serves the webhook with a cache of
// its own. So each admitted start is also written, before it is admitted,
// to a ledger the API server serialises: one Lease per user whose
// annotation lists the starts admitted in the last ledgerTTL. The write
// carries the resourceVersion the check read, so of two admissions racing
// for the same user — in one replica or in two — one fails with a conflict
// and checks again, now seeing the other's start. A start the cache shows
// is counted from the cache; one it does not show yet, from the ledger,
// unless the cache saw that session deleted (gone): a user who deletes a
// session and starts another is not refused for the ledger's lifetime.

// ledgerAnnotation holds the Lease's JSON list of admitted starts.
const ledgerAnnotation = "stream.space/admitted-starts"

// LedgerUserAnnotation names the user a ledger Lease is for (its name is
// a hash, as a user name need not be a valid object name).
const LedgerUserAnnotation = "stream.space/user"

// LedgerLabel marks the ledger Leases (value "quota-ledger").
const LedgerLabel = "app.kubernetes.io/component"

// ledgerTTL is how long an admitted start stays in the ledger. It must
// outlast the request that carries it (the API server's request timeout,
// 60 s) and the time every replica's cache takes to show it; a start that
// was admitted but then failed keeps its place this long (the safe side).
const ledgerTTL = 2 * time.Minute

// start is one admitted start, as the ledger keeps it.
type start struct {
	Name string `json:"name"`
	// UID is the session's: the API server assigns it before validating
	// admission, so a delete the cache saw can be told from a create it
	// has not seen yet, whatever the name is reused for.
	UID types.UID `json:"uid,omitempty"`
	// Running is true for a start that runs: a create in state running,
	// or a wake.
	Running bool `json:"running,omitempty"`
	// Before is, for a wake, the session's resourceVersion before it: the
	// wake is in a cache once that shows another version.
	Before string             `json:"before,omitempty"`
	Memory *resource.Quantity `json:"memory,omitempty"`
	CPU    *resource.Quantity `json:"cpu,omitempty"`
	At     metav1.Time        `json:"at"`
}

// LedgerName is the name of user's ledger Lease.
func LedgerName(user string) string {
	sum := sha256.Sum256([]byte(user))
	return "quota-ledger-" + hex.EncodeToString(sum[:10])
}

// readLedger reads user's ledger from the API server (never a cache: the
// resourceVersion it returns is what the write is conditioned on). A user
// with none yet gets a new, unsaved Lease.
func readLedger(ctx context.Context, r client.Reader, namespace, user string) (*coordinationv1.Lease, []start, error) {
	l := &coordinationv1.Lease{}
	switch err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: LedgerName(user)}, l); {
	case apierrors.IsNotFound(err):
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: LedgerName(user),
			Labels:      map[string]string{LedgerLabel: "quota-ledger"},
			Annotations: map[string]string{LedgerUserAnnotation: user}}}, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("read quota ledger of user %s: %w", user, err)
	}
	var starts []start
	if raw := l.Annotations[ledgerAnnotation]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &starts); err != nil {
			// Never admit on a ledger that cannot be read: that would
			// forget the starts it holds.
			return nil, nil, fmt.Errorf("quota ledger %s of user %s: %w", l.Name, user, err)
		}
	}
	return l, starts, nil
}

// writeLedger saves starts (those younger than ledgerTTL at now, plus add)
// into l, conditioned on the resourceVersion it was read at: a conflict
// (or, for a new Lease, AlreadyExists) means another admission wrote
// first.
func writeLedger(ctx context.Context, w client.Writer, l *coordinationv1.Lease, starts []start, add start, now time.Time) error {
	keep := append(live(starts, now), add)
	raw, err := json.Marshal(keep)
	if err != nil {
		return err
	}
	if l.Annotations == nil {
		l.Annotations = map[string]string{}
	}
	l.Annotations[ledgerAnnotation] = string(raw)
	if l.ResourceVersion == "" {
		return w.Create(ctx, l)
	}
	return w.Update(ctx, l) // Update sends the resourceVersion: optimistic concurrency
}

func live(starts []start, now time.Time) []start {
	var out []start
	for _, s := range starts {
		if now.Sub(s.At.Time) < ledgerTTL {
			out = append(out, s)
		}
	}
	return out
}

// overlay returns the user's sessions as cached, with the admitted starts
// the cache does not show yet added (a create) or applied (a wake); a start
// of a session the cache saw deleted counts no more.
func overlay(cached []streamv1.Session, starts []start, gone func(types.UID) bool, now time.Time) []streamv1.Session {
	byName := make(map[string]int, len(cached))
	out := append([]streamv1.Session(nil), cached...)
	for i := range out {
		byName[out[i].Name] = i
	}
	for _, st := range live(starts, now) {
		i, inCache := byName[st.Name]
		switch {
		case inCache && st.Before == "":
			continue // a create the cache shows: counted as it is now
		case inCache && out[i].ResourceVersion != st.Before:
			continue // a wake the cache shows (or a later change)
		case !inCache && st.UID != "" && gone(st.UID):
			continue // deleted since: it holds no place
		}
		state := streamv1.StateHibernated
		if st.Running {
			state = streamv1.StateRunning
		}
		// The resources recorded are the effective ones (template
		// defaults applied), so the template is not needed to count it.
		s := streamv1.Session{ObjectMeta: metav1.ObjectMeta{Name: st.Name},
			Spec: streamv1.SessionSpec{State: state, Resources: streamv1.Resources{Memory: st.Memory, CPU: st.CPU}}}
		if inCache {
			out[i] = s
		} else {
			byName[st.Name] = len(out)
			out = append(out, s)
		}
	}
	return out
}

// limited reports whether q limits anything a start's usage counts
// against; when it does not, no usage needs reading.
func limited(q Resolved) bool {
	l := q.Limits
	return l.MaxSessions != nil || l.MaxRunningSessions != nil || l.Memory != nil || l.CPU != nil
}

// userLocks serialises one process's admissions per user, so that they
// do not conflict on the ledger among themselves (the ledger's
// resourceVersion is what serialises replicas).
type userLocks struct {
	mu    sync.Mutex
	locks map[string]*userLock
}

type userLock struct {
	sync.Mutex
	users int
}

func (l *userLocks) lock(key string) func() {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*userLock{}
	}
	ul := l.locks[key]
	if ul == nil {
		ul = &userLock{}
		l.locks[key] = ul
	}
	ul.users++
	l.mu.Unlock()
	ul.Lock()
	return func() {
		ul.Unlock()
		l.mu.Lock()
		if ul.users--; ul.users == 0 {
			delete(l.locks, key)
		}
		l.mu.Unlock()
	}
}

// deletions remembers, for ledgerTTL, the UIDs of the Sessions the cache
// saw deleted: a ledger start is counted while the cache does not show
// its session, which is also true once that session is gone.
type deletions struct {
	mu     sync.Mutex
	seen   map[types.UID]time.Time
	pruned time.Time
}

func (d *deletions) add(uid types.UID, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen == nil {
		d.seen = map[types.UID]time.Time{}
	}
	if now.Sub(d.pruned) >= ledgerTTL/4 { // not per delete: a mass delete stays linear
		for u, at := range d.seen {
			if now.Sub(at) >= ledgerTTL {
				delete(d.seen, u)
			}
		}
		d.pruned = now
	}
	d.seen[uid] = now
}

func (d *deletions) has(uid types.UID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.seen[uid]
	return ok
}
