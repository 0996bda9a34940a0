package auth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/streamspace/streamspace/portal/store"
)

// SourceOIDC marks users created by an SSO sign-in.
const SourceOIDC = "oidc"

// Identity is who the provider says signed in.
type Identity struct {
	// Subject is the provider's stable ID of the person ("sub").
	Subject  string
	Username string
	Display  string
	// Email is set only when the provider says it verified it.
	Email  string
	Groups []string

	// refreshToken is the provider's, for re-checks; never shown.
	refreshToken string
}

// validUsername is what a Session's spec.user accepts (it also names the
// home volume home-<user>): a username that does not fit would sign in
// and then fail to launch anything.
var validUsername = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

const maxUsername = 58

// IdentityFromClaims reads an identity from verified ID token claims: the
// username from UsernameClaim (falling back to "email", then "sub", when
// it is missing or empty), the display name from "name", and the groups
// from GroupsClaim, which may be a list of strings or a single string.
//
// The username is taken as is, never lowercased or rewritten: two
// provider accounts that differ only in case or punctuation must not map
// to one portal account (and one home volume).
//
// An email the provider did not verify (email_verified is not true) is
// dropped: anyone can type any address at a provider that lets people
// register, so it neither names the account nor is kept as its email.
func (o *OIDC) IdentityFromClaims(claims map[string]any) (*Identity, error) {
	id := &Identity{}
	id.Subject, _ = claims["sub"].(string)
	verified := emailVerified(claims)
	if verified {
		id.Email, _ = claims["email"].(string)
	}
	id.Display, _ = claims["name"].(string)

	usernameClaim := o.UsernameClaim
	if usernameClaim == "" {
		usernameClaim = "preferred_username"
	}
	if usernameClaim == "email" && !verified {
		if _, ok := claims["email"]; ok {
			return nil, fmt.Errorf("%w: the username claim is \"email\" and the provider did not verify the email", ErrIdentity)
		}
	}
	from := ""
	for _, claim := range []string{usernameClaim, "email", "sub"} {
		if claim == "email" && !verified {
			continue
		}
		if v, ok := claims[claim]; ok && v != "" {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%w: claim %q is a %T, not a string", ErrIdentity, claim, v)
			}
			id.Username, from = s, claim
			break
		}
	}
	if id.Username == "" {
		return nil, fmt.Errorf("%w: none of the claims %q, \"email\", \"sub\" is set", ErrIdentity, usernameClaim)
	}
	if len(id.Username) > maxUsername || !validUsername.MatchString(id.Username) {
		return nil, fmt.Errorf("%w: username %q (claim %q) must be lowercase letters, digits and '-', at most %d characters, to own sessions; choose another username claim", ErrIdentity, id.Username, from, maxUsername)
	}
	if id.Display == "" {
		id.Display = id.Username
	}

	groups, err := o.groups(claims)
	if err != nil {
		return nil, err
	}
	id.Groups = groups
	return id, nil
}

// emailVerified reads email_verified, a boolean (some providers send the
// string "true").
func emailVerified(claims map[string]any) bool {
	switch v := claims["email_verified"].(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

func (o *OIDC) groups(claims map[string]any) ([]string, error) {
	claim := o.GroupsClaim
	if claim == "" {
		claim = "groups"
	}
	var groups []string
	switch v := claims[claim].(type) {
	case nil:
		return nil, nil // the provider sent none: a member of no group
	case string:
		groups = []string{v}
	case []any:
		for _, g := range v {
			s, ok := g.(string)
			if !ok {
				return nil, fmt.Errorf("%w: claim %q holds a %T; expected group names", ErrIdentity, claim, g)
			}
			groups = append(groups, s)
		}
	default:
		return nil, fmt.Errorf("%w: claim %q is a %T; expected a list of group names", ErrIdentity, claim, v)
	}
	out := groups[:0]
	for _, g := range groups {
		if g != "" && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// RoleFor is "admin" for a member of any of AdminGroups, "user" otherwise.
func (o *OIDC) RoleFor(groups []string) string {
	for _, g := range groups {
		if slices.Contains(o.AdminGroups, g) {
			return "admin"
		}
	}
	return "user"
}

// Upsert makes the portal's account of id: created on the first sign-in,
// and on every later one refreshed from the provider (display name,
// email, groups and so the role: the provider is the source of truth for
// SSO users). A local account of the same name is refused
// (ErrNameTaken), as is an SSO account bound to another subject (the
// username changed hands at the provider) and a disabled account
// (ErrUserDisabled). A name that belonged to a deleted account is refused
// too (ErrNameTaken) until an admin releases it: its home volume may still
// be there for whoever the provider names so next.
func (o *OIDC) Upsert(ctx context.Context, s store.Store, id *Identity) (*store.User, error) {
	for range 2 { // a second round only when a concurrent first sign-in created the user
		u, err := s.UserByName(ctx, id.Username)
		if errors.Is(err, store.ErrNotFound) {
			switch _, err := s.DeletedUser(ctx, id.Username); {
			case err == nil:
				return nil, fmt.Errorf("%w: %q belonged to a deleted account whose home volume may still exist; an admin must release the name first", ErrNameTaken, id.Username)
			case !errors.Is(err, store.ErrNotFound):
				return nil, err
			}
			u = &store.User{Username: id.Username, Source: SourceOIDC, Subject: o.subjectOf(id)}
			o.refresh(u, id)
			switch err := s.CreateUser(ctx, u); {
			case errors.Is(err, store.ErrConflict):
				continue
			case err != nil:
				return nil, fmt.Errorf("create user %s: %w", id.Username, err)
			}
			return recordLogin(ctx, s, u)
		}
		if err != nil {
			return nil, err
		}
		if u.Source != SourceOIDC {
			return nil, fmt.Errorf("%w: %q signs in with a password; an SSO sign-in may not take it over", ErrNameTaken, u.Username)
		}
		switch subject := o.subjectOf(id); {
		case u.Subject == "":
			u.Subject = subject // an account from before subjects were kept
		case u.Subject != subject:
			return nil, fmt.Errorf("%w: %q belongs to another person of the identity provider (the name changed hands)", ErrNameTaken, u.Username)
		}
		if u.Disabled {
			return nil, ErrUserDisabled
		}
		o.refresh(u, id)
		if err := s.UpdateUser(ctx, u); err != nil {
			return nil, fmt.Errorf("update user %s: %w", u.Username, err)
		}
		return recordLogin(ctx, s, u)
	}
	return nil, fmt.Errorf("create user %s: %w twice in a row", id.Username, store.ErrConflict)
}

// subjectOf is the person's ID that never changes hands: the provider's
// subject claim, qualified by the issuer.
func (o *OIDC) subjectOf(id *Identity) string {
	return o.Issuer + "#" + id.Subject
}

func (o *OIDC) refresh(u *store.User, id *Identity) {
	u.Display, u.Email, u.Groups, u.Role = id.Display, id.Email, id.Groups, o.RoleFor(id.Groups)
}

func recordLogin(ctx context.Context, s store.Store, u *store.User) (*store.User, error) {
	now := time.Now()
	if err := s.RecordLogin(ctx, u.Username, now); err != nil {
		return nil, fmt.Errorf("record login of %s: %w", u.Username, err)
	}
	u.LastLoginAt = &now
	return u, nil
}
