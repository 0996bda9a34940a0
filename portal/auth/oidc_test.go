package auth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/store"
)

func TestOIDC_identityFromClaims(t *testing.T) {
	o := &auth.OIDC{AdminGroups: []string{"platform-admins"}}
	custom := &auth.OIDC{UsernameClaim: "login", GroupsClaim: "roles"}
	for _, tc := range []struct {
		name    string
		o       *auth.OIDC
		claims  map[string]any
		want    auth.Identity
		wantErr string
	}{{
		name:   "preferred_username, name, email and a list of groups",
		o:      o,
		claims: map[string]any{"sub": "Cg1", "preferred_username": "alice", "name": "Alice A.", "email": "alice@example.com", "email_verified": true, "groups": []any{"designers", "platform-admins"}},
		want:   auth.Identity{Subject: "Cg1", Username: "alice", Display: "Alice A.", Email: "alice@example.com", Groups: []string{"designers", "platform-admins"}},
	}, {
		name:   "a verified email as the string \"true\" (some providers)",
		o:      o,
		claims: map[string]any{"sub": "Cg1", "preferred_username": "alice", "email": "alice@example.com", "email_verified": "true"},
		want:   auth.Identity{Subject: "Cg1", Username: "alice", Display: "alice", Email: "alice@example.com"},
	}, {
		name:   "an unverified email is not kept",
		o:      o,
		claims: map[string]any{"sub": "Cg1", "preferred_username": "alice", "email": "ceo@example.com", "email_verified": false},
		want:   auth.Identity{Subject: "Cg1", Username: "alice", Display: "alice"},
	}, {
		name:   "an email without email_verified is not kept",
		o:      o,
		claims: map[string]any{"sub": "Cg1", "preferred_username": "alice", "email": "ceo@example.com"},
		want:   auth.Identity{Subject: "Cg1", Username: "alice", Display: "alice"},
	}, {
		name:   "an unverified email never names the account: sub does",
		o:      &auth.OIDC{Issuer: "https://idp", UsernameClaim: "login"},
		claims: map[string]any{"sub": "user-9", "email": "ceo", "email_verified": false},
		want:   auth.Identity{Subject: "user-9", Username: "user-9", Display: "user-9"},
	}, {
		name:    "email as the username claim, unverified: refused",
		o:       &auth.OIDC{Issuer: "https://idp", UsernameClaim: "email"},
		claims:  map[string]any{"sub": "user-9", "email": "ceo", "email_verified": false},
		wantErr: `the username claim is "email" and the provider did not verify the email`,
	}, {
		name:   "a single group as a string; display falls back to the username",
		o:      o,
		claims: map[string]any{"sub": "Cg1", "preferred_username": "bob", "groups": "designers"},
		want:   auth.Identity{Subject: "Cg1", Username: "bob", Display: "bob", Groups: []string{"designers"}},
	}, {
		name:   "no groups claim: no groups",
		o:      o,
		claims: map[string]any{"sub": "Cg1", "preferred_username": "bob"},
		want:   auth.Identity{Subject: "Cg1", Username: "bob", Display: "bob"},
	}, {
		name:   "duplicate and empty groups are dropped",
		o:      o,
		claims: map[string]any{"sub": "Cg1", "preferred_username": "bob", "groups": []any{"a", "", "b", "a"}},
		want:   auth.Identity{Subject: "Cg1", Username: "bob", Display: "bob", Groups: []string{"a", "b"}},
	}, {
		name:   "empty preferred_username falls back to email, then sub",
		o:      o,
		claims: map[string]any{"sub": "user-7", "preferred_username": ""},
		want:   auth.Identity{Subject: "user-7", Username: "user-7", Display: "user-7"},
	}, {
		name:   "configured claims",
		o:      custom,
		claims: map[string]any{"sub": "x", "preferred_username": "ignored", "login": "carol", "roles": []any{"ops"}, "groups": []any{"ignored"}},
		want:   auth.Identity{Subject: "x", Username: "carol", Display: "carol", Groups: []string{"ops"}},
	}, {
		name:    "an email cannot own sessions: refused, not rewritten",
		o:       o,
		claims:  map[string]any{"sub": "x", "email": "alice@example.com", "email_verified": true},
		wantErr: `username "alice@example.com" (claim "email") must be lowercase`,
	}, {
		name:    "uppercase is refused, not lowercased (Alice and alice may be two people)",
		o:       o,
		claims:  map[string]any{"sub": "x", "preferred_username": "Alice"},
		wantErr: `username "Alice"`,
	}, {
		name:    "too long for a session owner",
		o:       o,
		claims:  map[string]any{"sub": "x", "preferred_username": strings.Repeat("a", 59)},
		wantErr: "at most 58 characters",
	}, {
		name:    "no username claim at all",
		o:       o,
		claims:  map[string]any{"name": "Nobody"},
		wantErr: `none of the claims "preferred_username", "email", "sub" is set`,
	}, {
		name:    "a username claim that is not a string",
		o:       o,
		claims:  map[string]any{"sub": "x", "preferred_username": 42.0},
		wantErr: `claim "preferred_username" is a float64`,
	}, {
		name:    "groups that are not strings",
		o:       o,
		claims:  map[string]any{"sub": "x", "preferred_username": "bob", "groups": []any{map[string]any{"id": "g"}}},
		wantErr: `claim "groups" holds a map[string]interface {}`,
	}, {
		name:    "a groups claim of the wrong type",
		o:       o,
		claims:  map[string]any{"sub": "x", "preferred_username": "bob", "groups": true},
		wantErr: `claim "groups" is a bool`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.o.IdentityFromClaims(tc.claims)
			if tc.wantErr != "" {
				if !errors.Is(err, auth.ErrIdentity) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want ErrIdentity containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != tc.want.Subject || got.Username != tc.want.Username || got.Display != tc.want.Display ||
				got.Email != tc.want.Email || !slices.Equal(got.Groups, tc.want.Groups) {
				t.Errorf("got %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func TestOIDC_roleFor(t *testing.T) {
	o := &auth.OIDC{AdminGroups: []string{"platform-admins", "root"}}
	for _, tc := range []struct {
		groups []string
		want   string
	}{
		{nil, "user"},
		{[]string{"designers"}, "user"},
		{[]string{"designers", "root"}, "admin"},
		{[]string{"Platform-Admins"}, "user"}, // group names are compared exactly
	} {
		if got := o.RoleFor(tc.groups); got != tc.want {
			t.Errorf("RoleFor(%q) = %s, want %s", tc.groups, got, tc.want)
		}
	}
	if got := (&auth.OIDC{}).RoleFor([]string{"anything"}); got != "user" {
		t.Errorf("no admin groups configured: %s, want user", got)
	}
}

func TestOIDC_upsert(t *testing.T) {
	s := newStore(t)
	o := &auth.OIDC{Issuer: "https://idp.example.com", AdminGroups: []string{"admins"}}

	u, err := o.Upsert(ctx, s, &auth.Identity{Subject: "s-alice", Username: "alice", Display: "Alice", Email: "a@example.com", Groups: []string{"admins"}})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.UserByName(ctx, "alice")
	if err != nil || stored.Source != "oidc" || stored.PasswordHash != "" || stored.Role != "admin" || stored.LastLoginAt == nil || u.ID != stored.ID ||
		stored.Subject != "https://idp.example.com#s-alice" {
		t.Fatalf("first sign-in stored %+v, %v", stored, err)
	}

	// The provider is the source of truth: leaving the admin group demotes.
	if _, err := o.Upsert(ctx, s, &auth.Identity{Subject: "s-alice", Username: "alice", Display: "Alice B.", Email: "b@example.com", Groups: []string{"designers"}}); err != nil {
		t.Fatal(err)
	}
	stored, _ = s.UserByName(ctx, "alice")
	if stored.Display != "Alice B." || stored.Email != "b@example.com" || !slices.Equal(stored.Groups, []string{"designers"}) || stored.Role != "user" {
		t.Errorf("second sign-in stored %+v", stored)
	}

	// Someone else who took the name "alice" at the provider does not get
	// alice's account.
	if _, err := o.Upsert(ctx, s, &auth.Identity{Subject: "s-mallory", Username: "alice", Groups: []string{"admins"}}); !errors.Is(err, auth.ErrNameTaken) {
		t.Errorf("renamed person: %v, want refused", err)
	}
	if again, _ := s.UserByName(ctx, "alice"); again.Role != "user" || again.Subject != "https://idp.example.com#s-alice" {
		t.Errorf("a name that changed hands changed the account: %+v", again)
	}

	if err := s.CreateUser(ctx, &store.User{Username: "root", PasswordHash: "x", Role: "admin", Source: "local"}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Upsert(ctx, s, &auth.Identity{Username: "root", Groups: []string{"admins"}}); !errors.Is(err, auth.ErrNameTaken) {
		t.Errorf("local account: %v, want ErrNameTaken", err)
	}
	if local, _ := s.UserByName(ctx, "root"); local.Source != "local" || local.PasswordHash != "x" {
		t.Errorf("the local account changed: %+v", local)
	}

	stored.Disabled = true
	if err := s.UpdateUser(ctx, stored); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Upsert(ctx, s, &auth.Identity{Subject: "s-alice", Username: "alice", Groups: []string{"admins"}}); !errors.Is(err, auth.ErrUserDisabled) {
		t.Errorf("disabled: %v, want ErrUserDisabled", err)
	}
	if again, _ := s.UserByName(ctx, "alice"); again.Role != "user" {
		t.Errorf("a refused sign-in changed the account: %+v", again)
	}
}

// TestOIDC_discoveryIsLazyAndRetried: a provider that is down when the
// portal starts fails sign-ins (fast, without a request per sign-in while
// RetryAfter lasts), and works once it is up; then discovery is cached.
func TestOIDC_discoveryIsLazyAndRetried(t *testing.T) {
	var up atomic.Bool
	var requests atomic.Int32
	var issuer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if !up.Load() || r.URL.Path != "/.well-known/openid-configuration" {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"issuer":"` + issuer + `","authorization_endpoint":"` + issuer + `/auth","token_endpoint":"` + issuer + `/token","jwks_uri":"` + issuer + `/keys","id_token_signing_alg_values_supported":["RS256"]}`))
	}))
	defer srv.Close()
	issuer = srv.URL

	o := &auth.OIDC{Issuer: issuer, ClientID: "portal", RedirectURL: "http://portal/cb", RetryAfter: time.Hour}
	if _, err := o.AuthCodeURL(ctx, "s", "n", "v"); !errors.Is(err, auth.ErrProviderUnavailable) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("provider down: %v, want ErrProviderUnavailable naming the 503", err)
	}
	up.Store(true)
	if _, err := o.AuthCodeURL(ctx, "s", "n", "v"); !errors.Is(err, auth.ErrProviderUnavailable) || requests.Load() != 1 {
		t.Fatalf("within RetryAfter: %v after %d requests, want the remembered error and no new request", err, requests.Load())
	}

	o.RetryAfter = time.Nanosecond
	to, err := o.AuthCodeURL(ctx, "the-state", "the-nonce", "the-verifier")
	if err != nil {
		t.Fatalf("provider up: %v", err)
	}
	for _, want := range []string{issuer + "/auth?", "state=the-state", "nonce=the-nonce", "code_challenge_method=S256", "code_challenge=", "scope=openid+profile+email+groups", "client_id=portal"} {
		if !strings.Contains(to, want) {
			t.Errorf("auth URL %s lacks %q", to, want)
		}
	}
	if strings.Contains(to, "the-verifier") {
		t.Errorf("auth URL %s carries the PKCE verifier itself", to)
	}
	up.Store(false)
	if _, err := o.AuthCodeURL(ctx, "s", "n", "v"); err != nil || requests.Load() != 2 {
		t.Errorf("after a discovery: %v after %d requests, want the cached provider", err, requests.Load())
	}
}
