package api

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
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
		q.foreign = q.user != "" && q.user != p.Subject
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
// session on the page, or the page's boundaries, change. The encoded pages
// are kept by ETag, so a page asked for again is not encoded again.
func (a *SessionsAPI) List(c *gin.Context) {
	q, err := parseSessionQuery(c, auth.Principal(c))
	if err != nil {
		Fail(c, err)
		return
	}
	// read-only: the cache's objects are viewed, never changed, so they
	// need not be copied (the copy was half the cost of a large list)
	opts := []client.ListOption{client.InNamespace(a.Namespace), client.UnsafeDisableDeepCopy}
	if q.user != "" {
		opts = append(opts, client.MatchingFields{quota.UserField: q.user})
	}
	var list streamv1.SessionList
	if err := a.Client.List(c, &list, opts...); err != nil {
		Fail(c, err)
		return
	}
	picked := make([]*streamv1.Session, 0, len(list.Items))
	for i := range list.Items {
		if q.matches(&list.Items[i]) {
			picked = append(picked, &list.Items[i])
		}
	}
	sort.Slice(picked, func(i, j int) bool { return picked[i].Name < picked[j].Name })
	page := SessionPage{}
	if q.limit > 0 && len(picked) > q.limit {
		page.RemainingItemCount = len(picked) - q.limit
		picked = picked[:q.limit]
		page.Continue = q.continueAfter(picked[len(picked)-1].Name)
	}

	// The ETag names what the page shows: the query, each session's
	// resource version and where the next page starts.
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d", q.key(), q.after, q.limit, page.RemainingItemCount)
	for _, s := range picked {
		fmt.Fprintf(h, "\x00%s\x00%s", s.Name, s.ResourceVersion)
	}
	etag := `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
	c.Header("ETag", etag)
	// Per person: a shared cache must not keep it, a browser asks again.
	c.Header("Cache-Control", "private, no-cache")
	if etagMatches(c.GetHeader("If-None-Match"), etag) {
		c.Status(http.StatusNotModified)
		return
	}
	body, ok := a.pages.get(etag)
	if !ok {
		page.Sessions = make([]SessionView, 0, len(picked))
		for _, s := range picked {
			page.Sessions = append(page.Sessions, view(s))
		}
		if body, err = json.Marshal(page); err != nil {
			Fail(c, err)
			return
		}
		a.pages.put(etag, body)
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

// etagMatches reads If-None-Match: a list of ETags, or *.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// pageCache keeps encoded pages by ETag, oldest out first past maxBytes.
// An ETag covers the query (the caller's own name for a non-admin), so a
// page is only ever served to a request that would have built the same.
type pageCache struct {
	mu    sync.Mutex
	pages map[string][]byte
	order []string
	bytes int
}

const pageCacheBytes = 16 << 20

func (p *pageCache) get(etag string) ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.pages[etag]
	return b, ok
}

func (p *pageCache) put(etag string, body []byte) {
	if len(body) > pageCacheBytes/4 {
		return // one huge full list must not push every page out
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pages == nil {
		p.pages = map[string][]byte{}
	}
	if _, ok := p.pages[etag]; ok {
		return
	}
	p.pages[etag] = body
	p.order = append(p.order, etag)
	p.bytes += len(body)
	for p.bytes > pageCacheBytes && len(p.order) > 0 {
		old := p.order[0]
		p.order = p.order[1:]
		p.bytes -= len(p.pages[old])
		delete(p.pages, old)
	}
}
