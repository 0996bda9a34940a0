package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/streamspace/streamspace/portal/store"
)

// Recheck asks the provider about a person again, by a refresh grant with
// the provider's refresh token: a person removed or disabled there is
// refused (the provider refuses the grant), and the answer carries the
// groups they have now. It returns who the provider says they are, with
// the refresh token to use next time (providers may rotate it).
func (o *OIDC) Recheck(ctx context.Context, refreshToken string) (*Identity, error) {
	cfg, provider, err := o.config(ctx)
	if err != nil {
		return nil, err
	}
	ctx = oidc.ClientContext(ctx, o.client())
	tok, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		if re := (*oauth2.RetrieveError)(nil); errors.As(err, &re) {
			return nil, fmt.Errorf("%w: the provider refused the refresh: %s %s", ErrProviderRejected, re.ErrorCode, re.ErrorDescription)
		}
		return nil, fmt.Errorf("%w: refresh: %v", ErrProviderUnavailable, err)
	}
	var claims map[string]any
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		// no nonce here: a refresh's ID token answers no sign-in of a browser
		idt, err := provider.Verifier(&oidc.Config{ClientID: o.ClientID, Now: o.Now}).Verify(ctx, raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrIDToken, err)
		}
		if err := idt.Claims(&claims); err != nil {
			return nil, fmt.Errorf("%w: claims: %v", ErrIDToken, err)
		}
	} else {
		info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return nil, fmt.Errorf("%w: the refresh gave no ID token and userinfo failed: %v", ErrProviderUnavailable, err)
		}
		if err := info.Claims(&claims); err != nil {
			return nil, fmt.Errorf("%w: userinfo claims: %v", ErrIDToken, err)
		}
	}
	id, err := o.IdentityFromClaims(claims)
	if err != nil {
		return nil, err
	}
	id.refreshToken = tok.RefreshToken
	return id, nil
}

// confirm applies a re-check's answer to the account it was asked about:
// still the same person under the same name, not disabled here; then its
// display name, email, groups and role follow the provider.
func (o *OIDC) confirm(ctx context.Context, s store.Store, u *store.User, id *Identity) error {
	if id.Username != u.Username {
		return fmt.Errorf("%w: it now names this person %q, not %q", ErrProviderSignedOut, id.Username, u.Username)
	}
	if u.Subject != o.subjectOf(id) {
		return fmt.Errorf("%w: %q is another person there now", ErrProviderSignedOut, u.Username)
	}
	if u.Disabled {
		return ErrUserDisabled
	}
	o.refresh(u, id)
	if err := s.UpdateUser(ctx, u); err != nil {
		return fmt.Errorf("update user %s: %w", u.Username, err)
	}
	return nil
}
