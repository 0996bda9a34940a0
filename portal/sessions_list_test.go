package portal_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/quota"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal"
)

// page is one GET /api/v1/sessions answer.
type page struct {
	status   int
	etag     string
	names    []string
	users    []string
	cont     string
	remain   int
	errField map[string]any
}

// lister is a portal whose session list is under test.
type lister struct {
	base string
	// settle waits until the list shows what the API server holds (a
	// cache-backed list follows it by events).
	settle func(t *testing.T)
}

// listers are the two ways the portal lists: reading each list through an
// uncached client (the test server's), and from its informer cache, as
// portal.Run does (a snapshot per change of the cache, pages kept).
func listers(t *testing.T) map[string]lister {
	return map[string]lister{"uncached": {srv.URL, func(*testing.T) {}}, "cache": cachedPortal(t)}
}

// cachedPortal serves the router over a controller-runtime cache of the
// test's namespace, as portal.Run composes it.
func cachedPortal(t *testing.T) lister {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	c, err := cache.New(env.Config, cache.Options{Scheme: portal.Scheme(), DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := quota.IndexSessionUser(ctx, c); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = c.Start(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("the cache did not sync")
	}
	cached, err := client.New(env.Config, client.Options{Scheme: portal.Scheme(), Cache: &client.CacheOptions{Reader: c}})
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(portal.NewRouter(newHandlers(func(pc *portal.Components) { pc.Client, pc.Cache = cached, c })))
	t.Cleanup(s.Close)
	root, _ := login(t, "root")
	settle := func(t *testing.T) {
		t.Helper()
		var want []string
		var list streamv1.SessionList
		if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		// in the list's order: by name ("a-b" before "a/", which sorting
		// "name/state" would not keep)
		slices.SortFunc(list.Items, func(a, b streamv1.Session) int { return strings.Compare(a.Name, b.Name) })
		for _, s := range list.Items {
			want = append(want, s.Name+"/"+string(s.DesiredState()))
		}
		var got []string
		for deadline := time.Now().Add(10 * time.Second); ; {
			req, _ := http.NewRequest(http.MethodGet, s.URL+"/api/v1/sessions?limit=0", nil)
			req.Header.Set("Authorization", "Bearer "+root)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				Sessions []struct{ Name, State string } `json:"sessions"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			got = got[:0]
			for _, s := range body.Sessions {
				got = append(got, s.Name+"/"+s.State)
			}
			if slices.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the cached list does not follow the API server:\n got %v\nwant %v", got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return lister{s.URL, settle}
}

func listPage(t *testing.T, l lister, token string, q url.Values, ifNoneMatch string) page {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, l.base+"/api/v1/sessions?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := page{status: resp.StatusCode, etag: resp.Header.Get("ETag")}
	var body struct {
		Sessions []struct{ Name, User string } `json:"sessions"`
		Continue string                        `json:"continue"`
		Remain   int                           `json:"remainingItemCount"`
		Error    struct {
			Fields map[string]any `json:"fields"`
		} `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	for _, s := range body.Sessions {
		p.names, p.users = append(p.names, s.Name), append(p.users, s.User)
	}
	p.cont, p.remain, p.errField = body.Continue, body.Remain, body.Error.Fields
	return p
}

// walk follows continue tokens from q to the end; between pages it calls
// between(page number).
func walk(t *testing.T, l lister, token string, q url.Values, between func(int)) (names, users []string) {
	t.Helper()
	q = cloneValues(q)
	for i := 0; ; i++ {
		p := listPage(t, l, token, q, "")
		if p.status != http.StatusOK {
			t.Fatalf("page %d: %d %v", i, p.status, p.errField)
		}
		names, users = append(names, p.names...), append(users, p.users...)
		if p.cont == "" {
			return names, users
		}
		if i > 100 {
			t.Fatal("the walk does not end")
		}
		if between != nil {
			between(i)
		}
		q.Set("continue", p.cont)
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// pagedSessions creates sessions of template "paged" directly in the API
// server: alice's a-00..a-06 (a-01, a-03, a-05 hibernated) and bob's
// b-00..b-04.
func pagedSessions(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	mk := func(name, user string, state streamv1.SessionState) {
		s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: streamv1.SessionSpec{User: user, Template: "paged", State: state}}
		if err := env.Client.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), s) })
	}
	for i := range 7 {
		state := streamv1.StateRunning
		if i%2 == 1 {
			state = streamv1.StateHibernated
		}
		mk(fmt.Sprintf("paged-a-%02d", i), "alice", state)
	}
	for i := range 5 {
		mk(fmt.Sprintf("paged-b-%02d", i), "bob", streamv1.StateRunning)
	}
}

func TestSessionList_pagesFiltersAndETag(t *testing.T) {
	for name, l := range listers(t) {
		t.Run(name, func(t *testing.T) { testPagesFiltersAndETag(t, l) })
	}
}

func testPagesFiltersAndETag(t *testing.T, l lister) {
	pagedSessions(t)
	l.settle(t)
	root, _ := login(t, "root")
	ctx := context.Background()

	// Every page in name order, each session once; the default page holds them all.
	names, _ := walk(t, l, root, url.Values{"template": {"paged"}, "limit": {"5"}}, nil)
	want := []string{"paged-a-00", "paged-a-01", "paged-a-02", "paged-a-03", "paged-a-04", "paged-a-05", "paged-a-06",
		"paged-b-00", "paged-b-01", "paged-b-02", "paged-b-03", "paged-b-04"}
	if !slices.Equal(names, want) {
		t.Errorf("pages of 5:\n got %v\nwant %v", names, want)
	}
	if p := listPage(t, l, root, url.Values{"template": {"paged"}, "limit": {"5"}}, ""); p.remain != 7 || len(p.names) != 5 {
		t.Errorf("first page of 5: %d names, remainingItemCount %d, want 5 and 7", len(p.names), p.remain)
	}
	if p := listPage(t, l, root, url.Values{"template": {"paged"}}, ""); len(p.names) != 12 || p.cont != "" {
		t.Errorf("default page: %d names, continue %q", len(p.names), p.cont)
	}
	if p := listPage(t, l, root, url.Values{"template": {"paged"}, "limit": {"0"}}, ""); len(p.names) != 12 || p.cont != "" {
		t.Errorf("limit=0 (the full list): %d names, continue %q", len(p.names), p.cont)
	}

	// Changes during a walk: what exists throughout is seen once, a session
	// created behind the cursor is not, one ahead of it is, a deleted one ahead is not.
	var added []*streamv1.Session
	names, _ = walk(t, l, root, url.Values{"template": {"paged"}, "limit": {"4"}}, func(i int) {
		if i != 0 {
			return
		}
		for _, name := range []string{"paged-a-000", "paged-b-99"} { // behind, ahead
			s := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec: streamv1.SessionSpec{User: "bob", Template: "paged"}}
			if err := env.Client.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
			added = append(added, s)
		}
		if err := env.Client.Delete(ctx, &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "paged-b-02"}}); err != nil {
			t.Fatal(err)
		}
		l.settle(t)
	})
	want = []string{"paged-a-00", "paged-a-01", "paged-a-02", "paged-a-03", "paged-a-04", "paged-a-05", "paged-a-06",
		"paged-b-00", "paged-b-01", "paged-b-03", "paged-b-04", "paged-b-99"}
	if !slices.Equal(names, want) {
		t.Errorf("walk over changes:\n got %v\nwant %v", names, want)
	}
	for _, s := range added {
		_ = env.Client.Delete(ctx, s)
	}
	l.settle(t)

	// Filters on the server.
	if names, _ := walk(t, l, root, url.Values{"template": {"paged"}, "state": {"hibernated"}}, nil); !slices.Equal(names, []string{"paged-a-01", "paged-a-03", "paged-a-05"}) {
		t.Errorf("state=hibernated: %v", names)
	}
	if _, users := walk(t, l, root, url.Values{"template": {"paged"}, "user": {"bob"}}, nil); len(users) == 0 || slices.ContainsFunc(users, func(u string) bool { return u != "bob" }) {
		t.Errorf("user=bob: %v", users)
	}
	for q, field := range map[string]string{"state=asleep": "state", "limit=-1": "limit", "limit=1001": "limit", "limit=ten": "limit", "continue=bm90": "continue"} {
		v, _ := url.ParseQuery(q)
		if p := listPage(t, l, root, v, ""); p.status != http.StatusBadRequest || p.errField[field] == nil {
			t.Errorf("%s: %d, fields %v; want 400 naming %s", q, p.status, p.errField, field)
		}
	}

	// ETag: 304 while nothing on the page changed, 200 and a new tag after.
	q := url.Values{"template": {"paged"}, "user": {"alice"}, "limit": {"3"}}
	first := listPage(t, l, root, q, "")
	if first.etag == "" {
		t.Fatal("no ETag")
	}
	if p := listPage(t, l, root, q, first.etag); p.status != http.StatusNotModified {
		t.Errorf("same page again with its ETag: %d, want 304", p.status)
	}
	s := &streamv1.Session{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "paged-a-01"}, s); err != nil {
		t.Fatal(err)
	}
	s.Spec.State = streamv1.StateRunning
	if err := env.Client.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	l.settle(t)
	if p := listPage(t, l, root, q, first.etag); p.status != http.StatusOK || p.etag == first.etag {
		t.Errorf("after a change on the page: %d (ETag %s, was %s), want 200 and a new tag", p.status, p.etag, first.etag)
	}
}

// A non-admin sees their own sessions only, through every filter and
// continue token: someone else's token, an admin's, or a forged one must
// not show another user's session.
func TestSessionList_nonAdminSeesOnlyOwn_tokensCannotCross(t *testing.T) {
	for name, l := range listers(t) {
		t.Run(name, func(t *testing.T) { testNonAdminSeesOnlyOwn(t, l) })
	}
}

func testNonAdminSeesOnlyOwn(t *testing.T, l lister) {
	pagedSessions(t)
	l.settle(t)
	alice, _ := login(t, "alice")
	bob, _ := login(t, "bob")
	root, _ := login(t, "root")
	onlyAlice := func(what string, users []string) {
		t.Helper()
		if slices.ContainsFunc(users, func(u string) bool { return u != "alice" }) {
			t.Errorf("%s: alice sees %v", what, users)
		}
	}

	names, users := walk(t, l, alice, url.Values{"template": {"paged"}, "limit": {"2"}}, nil)
	onlyAlice("her walk", users)
	if len(names) != 7 {
		t.Errorf("alice's walk: %v, want her 7", names)
	}
	for _, q := range []url.Values{
		{"template": {"paged"}, "user": {"bob"}},
		{"template": {"paged"}, "user": {"bob"}, "limit": {"1"}},
		{"user": {"bob"}, "state": {"running"}},
	} {
		if p := listPage(t, l, alice, q, ""); p.status != http.StatusOK || len(p.names) != 0 || p.cont != "" {
			t.Errorf("alice asks %v: %d %v continue %q, want an empty list", q, p.status, p.names, p.cont)
		}
	}

	// Tokens from bob's and from an admin's walks.
	bobs := listPage(t, l, bob, url.Values{"template": {"paged"}, "limit": {"1"}}, "")
	admins := listPage(t, l, root, url.Values{"template": {"paged"}, "limit": {"1"}}, "")
	if bobs.cont == "" || admins.cont == "" {
		t.Fatal("no continue token to steal")
	}
	for who, tok := range map[string]string{"bob's": bobs.cont, "an admin's": admins.cont} {
		p := listPage(t, l, alice, url.Values{"template": {"paged"}, "limit": {"1"}, "continue": {tok}}, "")
		onlyAlice(who+" token", p.users)
		if p.status != http.StatusBadRequest || p.errField["continue"] == nil {
			t.Errorf("alice with %s token: %d %v, want 400 naming continue", who, p.status, p.users)
		}
	}

	// Forged tokens: garbage is refused; one carrying alice's own query
	// only moves where her own list starts.
	forge := func(after, query string) string {
		b, _ := json.Marshal(map[string]string{"a": after, "q": query})
		return base64.RawURLEncoding.EncodeToString(b)
	}
	var own map[string]string
	raw, _ := base64.RawURLEncoding.DecodeString(listPage(t, l, alice, url.Values{"template": {"paged"}, "limit": {"1"}}, "").cont)
	_ = json.Unmarshal(raw, &own)
	for _, tok := range []string{forge("paged-a-06", "0000000000000000"), forge("", own["q"]), "bm90IGEgdG9rZW4"} {
		p := listPage(t, l, alice, url.Values{"template": {"paged"}, "continue": {tok}}, "")
		onlyAlice("a forged token", p.users)
		if p.status != http.StatusBadRequest {
			t.Errorf("forged token %s: %d %v, want 400", tok, p.status, p.users)
		}
	}
	p := listPage(t, l, alice, url.Values{"template": {"paged"}, "continue": {forge("paged-a-", own["q"])}}, "")
	onlyAlice("her own query's forged token", p.users)
	if p.status != http.StatusOK || len(p.names) != 7 {
		t.Errorf("her own query from the top: %d %v", p.status, p.names)
	}

	// bob's ETag does not make alice's answer a 304.
	if p := listPage(t, l, alice, url.Values{"template": {"paged"}, "limit": {"1"}}, bobs.etag); p.status != http.StatusOK {
		t.Errorf("alice with bob's ETag: %d, want 200 with her own page", p.status)
	}
}

// The cached pages are shared by every caller: each asks the same page
// (the same filters, limit and cursor) in turn, after someone else's
// answer to it was kept, and must get their own; an ETag of someone
// else's page never answers 304.
func TestSessionList_cachedPagesNeverCrossUsers(t *testing.T) {
	l := cachedPortal(t)
	pagedSessions(t)
	l.settle(t)
	alice, _ := login(t, "alice")
	bob, _ := login(t, "bob")
	root, _ := login(t, "root")
	tokens := map[string]string{"alice": alice, "bob": bob, "root": root}
	owners := func(p page) []string { return slices.Compact(slices.Clone(p.users)) }
	for _, q := range []url.Values{
		{"template": {"paged"}, "limit": {"3"}},
		{"template": {"paged"}},
		{"template": {"paged"}, "state": {"running"}, "limit": {"0"}},
		{"template": {"paged"}, "user": {"alice"}},
		{"template": {"paged"}, "user": {"bob"}, "limit": {"2"}},
	} {
		// every order in which one caller's page is kept before another's
		for _, order := range [][]string{{"root", "alice", "bob"}, {"alice", "bob", "root"}, {"bob", "root", "alice"}} {
			etags := map[string]string{}
			for round := range 2 { // the second round is answered from the kept pages
				for _, who := range order {
					p := listPage(t, l, tokens[who], q, "")
					if p.status != http.StatusOK {
						t.Fatalf("%s asks %v: %d", who, q, p.status)
					}
					switch o := owners(p); {
					case who == "root":
						if f := q.Get("user"); f != "" && !slices.Equal(o, []string{f}) || f == "" && len(p.names) == 0 {
							t.Errorf("root asks %v: sessions of %v", q, o)
						}
					case slices.ContainsFunc(o, func(u string) bool { return u != who }):
						t.Errorf("round %d, order %v: %s asks %v and sees sessions of %v", round, order, who, q, o)
					case q.Get("user") != "" && q.Get("user") != who && len(p.names) != 0:
						t.Errorf("%s asks %v and sees %v", who, q, p.names)
					}
					if round == 0 {
						etags[who] = p.etag
					} else if p.etag != etags[who] {
						t.Errorf("%s asks %v again: ETag %s, was %s", who, q, p.etag, etags[who])
					}
				}
			}
			// someone else's tag is not this caller's page
			for _, who := range order {
				for other, tag := range etags {
					p := listPage(t, l, tokens[who], q, tag)
					same := tag == etags[who] // an empty page looks alike for anyone
					if !same && p.status != http.StatusOK {
						t.Errorf("%s asks %v with %s's ETag: %d, want 200", who, q, other, p.status)
					}
					if same && p.status != http.StatusNotModified {
						t.Errorf("%s asks %v with their own ETag: %d, want 304", who, q, p.status)
					}
				}
			}
		}
	}
}
