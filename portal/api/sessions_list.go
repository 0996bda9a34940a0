package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gin-gonic/gin"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/quota"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal/auth"
)

// Pages of GET /api/v1/sessions: limit defaults to DefaultSessionPage, at
// most MaxSessionPage; limit=0 asks for the full list.
const (
	DefaultSessionPage = 100
	MaxSessionPage     = 1000
)

// SessionPage is the body of GET /api/v1/sessions.
type SessionPage struct {
	Sessions []SessionView `json:"sessions"`
	// Continue, when set, asks for the next page (?continue=), as in
	// Kubernetes. Pages follow the session name, so a page walk sees every
	// session that exists throughout it exactly once, whatever is created
	// or deleted meanwhile.
	Continue           string `json:"continue,omitempty"`
	RemainingItemCount int    `json:"remainingItemCount,omitempty"`
}

// sessionQuery is a list request once the caller's rights are applied.
type sessionQuery struct {
	user, state, template string // user is always set for a non-admin
	limit                 int    // 0: all
	after                 string // the last name of the previous page
	// foreign: a non-admin asked for another user's sessions, and gets
	// none (the filters combine with their own name).
	foreign bool
}

// key names the result set (not the page): a continue token carries it, so
// that a token only continues the query it came from, and never someone
// else's (a non-admin's queries always carry their own name).
func (q sessionQuery) key() string {
	h := sha256.Sum256([]byte(fmt.Sprintf("sessions/v1\x00%s\x00%s\x00%s\x00%t", q.user, q.state, q.template, q.foreign)))
	return hex.EncodeToString(h[:8])
}

func (q sessionQuery) matches(s *streamv1.Session) bool {
	return !q.foreign && (q.user == "" || s.Spec.User == q.user) &&
		(q.state == "" || string(s.DesiredState()) == q.state) &&
		(q.template == "" || s.Spec.Template == q.template) &&
		s.Name > q.after
}

type continueToken struct {
	After string `json:"a"`
	Query string `json:"q"`
}

func (q sessionQuery) continueAfter(name string) string {
	b, _ := json.Marshal(continueToken{After: name, Query: q.key()})
	return base64.RawURLEncoding.EncodeToString(b)
}

// parseSessionQuery reads limit, continue, user, state and template. A
// non-admin only ever lists their own sessions: asking for another user's
// gives an empty list, as the filters combine.
func parseSessionQuery(c *gin.Context, p *auth.Claims) (sessionQuery, error) {
	q := sessionQuery{user: c.Query("user"), state: c.Query("state"), template: c.Query("template"), limit: DefaultSessionPage}
	bad := map[string]string{}
	if !p.IsAdmin() {
		// (an empty name never stands for "everyone")
		q.foreign = p.Subject == "" || q.user != "" && q.user != p.Subject
		q.user = p.Subject
	}
	switch streamv1.SessionState(q.state) {
	case "", streamv1.StateRunning, streamv1.StateHibernated, streamv1.StateTerminated:
	default:
		bad["state"] = fmt.Sprintf("%q is not a state: running, hibernated or terminated", q.state)
	}
	if l, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 || n > MaxSessionPage {
			bad["limit"] = fmt.Sprintf("%q is not a page size: 1 to %d, or 0 for every session", l, MaxSessionPage)
		}
		q.limit = n
	}
	if tok := c.Query("continue"); tok != "" {
		var ct continueToken
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		switch {
		case err != nil || json.Unmarshal(raw, &ct) != nil || ct.After == "":
			bad["continue"] = "not a continue token of this API"
		case ct.Query != q.key():
			bad["continue"] = "the token continues another list (other filters or another user); start again without it"
		default:
			q.after = ct.After
		}
	}
	if len(bad) > 0 {
		return q, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "the request has invalid fields", Fields: bad}
	}
	return q, nil
}

// List returns a page of the caller's sessions (an admin: everyone's),
// sorted by name, filtered by user, state and template. The page carries
// an ETag; a client sending it back in If-None-Match gets 304 until a
// session on the page, or the page's boundaries, change.
//
// With a cache (as the portal runs), the sessions are sorted and each one
// encoded once per change of the cache, not per request, and every page
// asked for is kept until the next change: a request that finds its page
// costs a map lookup, whether 5 sessions exist or 1,000.
func (a *SessionsAPI) List(c *gin.Context) {
	q, err := parseSessionQuery(c, auth.Principal(c))
	if err != nil {
		Fail(c, err)
		return
	}
	snap, err := a.sessionSnapshot(c, q)
	if err != nil {
		Fail(c, err)
		return
	}
	// Per person: a shared cache must not keep it, a browser asks again.
	c.Header("Cache-Control", "private, no-cache")
	inm := c.GetHeader("If-None-Match")
	if p := snap.page(q); p != nil {
		c.Header("ETag", p.etag)
		if etagMatches(inm, p.etag) {
			c.Status(http.StatusNotModified)
			return
		}
		c.Data(http.StatusOK, "application/json; charset=utf-8", p.body)
		return
	}
	picked, remaining := snap.pick(q)
	next := ""
	if remaining > 0 {
		next = q.continueAfter(picked[len(picked)-1].name)
	}
	p := &encodedPage{etag: pageETag(q, picked, remaining)}
	c.Header("ETag", p.etag)
	if etagMatches(inm, p.etag) {
		c.Status(http.StatusNotModified) // the body is not built
		return
	}
	p.body = encodePage(picked, next, remaining)
	snap.keep(q, p)
	c.Data(http.StatusOK, "application/json; charset=utf-8", p.body)
}

// pageETag names what a page shows: the query, each session's resource
// version and where the next page starts. It is derived from the objects,
// not from this process, so every replica of the portal, and the portal
// after a restart, gives a page the same tag.
func pageETag(q sessionQuery, picked []*sessionEntry, remaining int) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d", q.key(), q.after, q.limit, remaining)
	for _, e := range picked {
		h.Write([]byte("\x00" + e.name + "\x00" + e.rv))
	}
	return `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
}

// encodePage writes a SessionPage from the sessions' encodings, as
// json.Marshal would.
func encodePage(picked []*sessionEntry, next string, remaining int) []byte {
	n := len(`{"sessions":[],"continue":"","remainingItemCount":}`) + len(next) + 20
	for _, e := range picked {
		n += len(e.json) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"sessions":[`...)
	for i, e := range picked {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e.json...)
	}
	b = append(b, ']')
	if next != "" {
		b = append(b, `,"continue":`...)
		b = strconv.AppendQuote(b, next) // base64url: nothing to escape
	}
	if remaining > 0 {
		b = append(b, `,"remainingItemCount":`...)
		b = strconv.AppendInt(b, int64(remaining), 10)
	}
	return append(b, '}')
}

// etagMatches reads If-None-Match: a list of ETags, or *.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// sessionList is what List keeps between requests: a snapshot of the
// sessions, rebuilt when the cache's informer reports a change.
type sessionList struct {
	gen      atomic.Uint64 // bumped by every event of the informer
	watching atomic.Bool   // the event handler is registered
	mu       sync.Mutex    // one rebuild at a time
	snap     atomic.Pointer[sessionSnapshot]
}

// sessionEntry is one session as the list needs it: what the filters
// compare, and its view, encoded once.
type sessionEntry struct {
	name, user, template, state, rv string
	json                            []byte
}

// sessionSnapshot is every session of the namespace at one generation of
// the cache, sorted by name, and the pages asked of it so far. It is never
// changed once built, but for its page store.
type sessionSnapshot struct {
	gen    uint64
	all    []*sessionEntry            // by name
	byUser map[string][]*sessionEntry // by name
	byName map[string]*sessionEntry
	// cached: pages are kept (a snapshot built for one request keeps none)
	cached bool

	mu    sync.Mutex
	pages map[sessionQuery]*encodedPage
	bytes int
}

type encodedPage struct {
	etag string
	body []byte
}

// Pages kept per snapshot: at most pageCacheBytes in all (with a bound on
// their count, as a query of an unknown template costs bytes but little),
// none bigger than a quarter of it.
const (
	pageCacheBytes = 16 << 20
	pageCacheCount = 4096
)

// sessionSnapshot returns the sessions to answer q from. With a cache it
// is the snapshot of the cache's latest generation, built at most once per
// generation; without one (an uncached client) a snapshot of what q can
// show is built for this request alone.
func (a *SessionsAPI) sessionSnapshot(ctx context.Context, q sessionQuery) (*sessionSnapshot, error) {
	l := &a.list
	if a.Cache == nil {
		// read-only: the objects are viewed, never changed, so they
		// need not be copied
		opts := []client.ListOption{client.InNamespace(a.Namespace), client.UnsafeDisableDeepCopy}
		if q.user != "" {
			opts = append(opts, client.MatchingFields{quota.UserField: q.user})
		}
		var list streamv1.SessionList
		if err := a.Client.List(ctx, &list, opts...); err != nil {
			return nil, err
		}
		return buildSnapshot(nil, list.Items, 0, false)
	}
	if s := l.snap.Load(); s != nil && l.watching.Load() && s.gen == l.gen.Load() {
		return s, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.watching.Load() {
		// Registered before the first list, so that no change can fall
		// between the list and the handler.
		inf, err := a.Cache.GetInformer(ctx, &streamv1.Session{})
		if err != nil {
			return nil, err
		}
		bump := func(any) { l.gen.Add(1) }
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: bump, DeleteFunc: bump,
			UpdateFunc: func(old, cur any) {
				// a resync repeats what the cache holds: nothing changed
				o, ok1 := old.(client.Object)
				n, ok2 := cur.(client.Object)
				if !ok1 || !ok2 || o.GetResourceVersion() != n.GetResourceVersion() {
					l.gen.Add(1)
				}
			}}); err != nil {
			return nil, err
		}
		l.watching.Store(true)
	}
	// The generation is read before the list: a change that lands during
	// the list bumps it again, and the next request rebuilds.
	gen := l.gen.Load()
	prev := l.snap.Load()
	if prev != nil && prev.gen == gen {
		return prev, nil
	}
	var list streamv1.SessionList
	if err := a.Cache.List(ctx, &list, client.InNamespace(a.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	s, err := buildSnapshot(prev, list.Items, gen, true)
	if err != nil {
		return nil, err
	}
	l.snap.Store(s)
	return s, nil
}

// buildSnapshot sorts items and encodes each one's view, reusing prev's
// encoding of a session whose resource version did not change.
func buildSnapshot(prev *sessionSnapshot, items []streamv1.Session, gen uint64, cached bool) (*sessionSnapshot, error) {
	s := &sessionSnapshot{gen: gen, cached: cached, all: make([]*sessionEntry, 0, len(items)),
		byUser: map[string][]*sessionEntry{}, byName: make(map[string]*sessionEntry, len(items))}
	for i := range items {
		o := &items[i]
		e := (*sessionEntry)(nil)
		if prev != nil {
			e = prev.byName[o.Name]
		}
		if e == nil || e.rv != o.ResourceVersion || o.ResourceVersion == "" {
			b, err := json.Marshal(view(o))
			if err != nil {
				return nil, err
			}
			e = &sessionEntry{name: o.Name, user: o.Spec.User, template: o.Spec.Template,
				state: string(o.DesiredState()), rv: o.ResourceVersion, json: b}
		}
		s.all = append(s.all, e)
		s.byName[e.name] = e
	}
	slices.SortFunc(s.all, func(x, y *sessionEntry) int { return strings.Compare(x.name, y.name) })
	for _, e := range s.all {
		s.byUser[e.user] = append(s.byUser[e.user], e)
	}
	return s, nil
}

// pick returns q's page and how many sessions follow it.
func (s *sessionSnapshot) pick(q sessionQuery) (picked []*sessionEntry, remaining int) {
	if q.foreign {
		return nil, 0
	}
	from := s.all
	if q.user != "" {
		from = s.byUser[q.user]
	}
	from = from[sort.Search(len(from), func(i int) bool { return from[i].name > q.after }):]
	for _, e := range from {
		switch {
		case q.state != "" && e.state != q.state, q.template != "" && e.template != q.template:
		case q.limit == 0 || len(picked) < q.limit:
			picked = append(picked, e)
		default:
			remaining++
		}
	}
	return picked, remaining
}

// page is q's page if it was asked for since the snapshot was built. The
// key is the whole query once the caller's rights are applied: a
// non-admin's always carries their own name, so a page kept for one user
// is found only by the same user's query or an admin's.
func (s *sessionSnapshot) page(q sessionQuery) *encodedPage {
	if !s.cached {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pages[q]
}

func (s *sessionSnapshot) keep(q sessionQuery, p *encodedPage) {
	size := len(p.body) + len(p.etag) + len(q.user) + len(q.state) + len(q.template) + len(q.after) + 128
	if !s.cached || size > pageCacheBytes/4 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pages == nil {
		s.pages = map[sessionQuery]*encodedPage{}
	}
	if _, ok := s.pages[q]; ok || s.bytes+size > pageCacheBytes || len(s.pages) >= pageCacheCount {
		return // full until the next change: pages are still served, built each time
	}
	s.pages[q] = p
	s.bytes += size
}
