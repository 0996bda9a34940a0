package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/streamspace/streamspace/portal/store"
)

// APITokenPrefix starts every API token, so a leaked one is easy to
// recognise (secret scanners, logs) and the middleware knows not to parse
// it as a JWT.
const APITokenPrefix = "ssp_"

// SourceService marks a service account: a user for automation that has
// no password and signs in only with API tokens.
const SourceService = "service"

// IssueAPIToken creates a token carrying username's rights. The value is
// returned once; only its hash is kept. ttl 0 means it does not expire.
func (t *Tokens) IssueAPIToken(ctx context.Context, username, name string, ttl time.Duration) (string, store.APIToken, error) {
	if name = strings.TrimSpace(name); name == "" || len(name) > 64 {
		return "", store.APIToken{}, errors.New("a token needs a name of 1 to 64 characters")
	}
	id, err := randomToken(6)
	if err != nil {
		return "", store.APIToken{}, err
	}
	secret, err := randomToken(32)
	if err != nil {
		return "", store.APIToken{}, err
	}
	raw := APITokenPrefix + secret
	now := t.now()
	tok := store.APIToken{ID: id, Name: name, Username: username, Hash: hashToken(raw), CreatedAt: now}
	if ttl > 0 {
		exp := now.Add(ttl)
		tok.ExpiresAt = &exp
	}
	if err := t.Store.CreateAPIToken(ctx, tok); err != nil {
		return "", store.APIToken{}, fmt.Errorf("save API token: %w", err)
	}
	return raw, tok, nil
}

// VerifyAPIToken checks an API token against the store (so a revocation
// takes effect at once) and returns its holder's claims, read fresh from
// the user: a role change or a disabled account applies to the next call.
func (t *Tokens) VerifyAPIToken(ctx context.Context, raw string) (*Claims, error) {
	tok, err := t.Store.APITokenByHash(ctx, hashToken(raw))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, err
	}
	now := t.now()
	if tok.RevokedAt != nil || (tok.ExpiresAt != nil && !now.Before(*tok.ExpiresAt)) {
		return nil, ErrInvalidToken
	}
	u, err := t.Store.UserByName(ctx, tok.Username)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, ErrUserDisabled
	}
	// last use is for people auditing their tokens; minute precision is
	// enough and saves a write per request
	if tok.LastUsedAt == nil || now.Sub(*tok.LastUsedAt) > time.Minute {
		_ = t.Store.TouchAPIToken(ctx, tok.ID, now)
	}
	c := &Claims{Role: u.Role, Groups: u.Groups, APIToken: tok.ID, MustChangePassword: u.MustChangePassword}
	c.Subject, c.Issuer = u.Username, t.Issuer
	return c, nil
}
