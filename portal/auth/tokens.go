// Package auth signs people in and keeps them signed in: local accounts
// (bcrypt), access tokens (JWT, one hour) and refresh tokens that rotate on
// every use, are stored only as hashes, and whose reuse revokes the whole
// family (a stolen token stops working for the thief and the owner alike).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streamspace/streamspace/portal/store"
)

// Errors a client can act on.
var (
	ErrInvalidToken   = errors.New("invalid or expired token")
	ErrRefreshReused  = errors.New("refresh token reused: every session of this login was signed out")
	ErrUserDisabled   = errors.New("user is disabled")
	ErrBadCredentials = errors.New("wrong username or password")
	// ErrReauthenticate: an SSO login whose person the provider must
	// confirm again, and cannot (it gave no refresh token, or SSO is off):
	// signed out, to sign in with the provider again.
	ErrReauthenticate = errors.New("sign in with the identity provider again")
	// ErrProviderSignedOut: the provider no longer confirms the person of
	// an SSO login (removed, disabled, or the provider cannot be asked):
	// signed out.
	ErrProviderSignedOut = errors.New("the identity provider no longer confirms this sign-in")
)

// Claims are what an access token says about its holder.
type Claims struct {
	jwt.RegisteredClaims
	Role   string   `json:"role"`
	Groups []string `json:"groups,omitempty"`
	// APIToken is the ID of the API token the caller presented; empty for
	// a signed-in person. Never part of a signed token.
	APIToken string `json:"-"`
	// MustChangePassword: the account's password was given, not chosen;
	// it may do nothing but change it. Read from the account per request,
	// never from a token.
	MustChangePassword bool `json:"-"`
}

// Pair is what a sign-in or a refresh hands out.
type Pair struct {
	AccessToken      string
	AccessExpiresAt  time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time
	// Family names the login (the refresh token family).
	Family string
}

// Tokens issues and checks tokens.
type Tokens struct {
	Store store.Store
	// Key signs access tokens (HMAC-SHA256); at least 32 bytes.
	Key        []byte
	Issuer     string
	AccessTTL  time.Duration // default 1h
	RefreshTTL time.Duration // default 30 days
	// Provider re-checks SSO logins; nil: SSO logins are signed out when
	// their next check is due.
	Provider *OIDC
	// RecheckEvery is how long the provider's word about an SSO login
	// holds (default 1h): then the next refresh asks the provider again,
	// and no access token of the login outlives it.
	RecheckEvery time.Duration
	// Watcher hears about accounts a provider re-check changed; nil: no
	// one listens.
	Watcher AccountWatcher
	Now     func() time.Time
}

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Tokens) ttls() (time.Duration, time.Duration) {
	access, refresh := t.AccessTTL, t.RefreshTTL
	if access == 0 {
		access = time.Hour
	}
	if refresh == 0 {
		refresh = 30 * 24 * time.Hour
	}
	return access, refresh
}

// Issue starts a new login for u: a new refresh token family.
func (t *Tokens) Issue(ctx context.Context, u *store.User) (Pair, error) {
	family, err := randomToken(16)
	if err != nil {
		return Pair{}, err
	}
	p, rt, err := t.pair(u, family, time.Time{})
	if err != nil {
		return Pair{}, err
	}
	if err := t.Store.SaveRefreshToken(ctx, rt); err != nil {
		return Pair{}, fmt.Errorf("save refresh token: %w", err)
	}
	return p, nil
}

// Refresh trades a refresh token for a new pair. The old token is revoked;
// presenting it again revokes every token of its family.
func (t *Tokens) Refresh(ctx context.Context, refresh string) (Pair, *store.User, error) {
	old, err := t.Store.RefreshTokenByHash(ctx, hashToken(refresh))
	if errors.Is(err, store.ErrNotFound) {
		return Pair{}, nil, ErrInvalidToken
	}
	if err != nil {
		return Pair{}, nil, err
	}
	now := t.now()
	if old.RevokedAt != nil {
		if err := t.Store.RevokeFamily(ctx, old.Family, now); err != nil {
			return Pair{}, nil, err
		}
		return Pair{}, nil, ErrRefreshReused
	}
	if !now.Before(old.ExpiresAt) {
		return Pair{}, nil, ErrInvalidToken
	}
	u, err := t.Store.UserByName(ctx, old.Username)
	if err != nil {
		return Pair{}, nil, ErrInvalidToken
	}
	if u.Disabled {
		_ = t.Store.RevokeUserTokens(ctx, u.Username, now)
		return Pair{}, nil, ErrUserDisabled
	}
	checked, err := t.recheck(ctx, old.Family, u)
	if err != nil {
		return Pair{}, nil, err
	}
	p, next, err := t.pair(u, old.Family, checked)
	if err != nil {
		return Pair{}, nil, err
	}
	switch err := t.Store.RotateRefreshToken(ctx, old.Hash, next, now); {
	case errors.Is(err, store.ErrTokenReused):
		// Lost a race with another use of the same token: treat as reuse.
		_ = t.Store.RevokeFamily(ctx, old.Family, now)
		return Pair{}, nil, ErrRefreshReused
	case err != nil:
		return Pair{}, nil, err
	}
	return p, u, nil
}

// Logout revokes the refresh token's family (this login, on this device)
// and forgets the provider's side of it.
func (t *Tokens) Logout(ctx context.Context, refresh string) error {
	rt, err := t.Store.RefreshTokenByHash(ctx, hashToken(refresh))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := t.Store.RevokeFamily(ctx, rt.Family, t.now()); err != nil {
		return err
	}
	// the provider's refresh token of an SSO login has no use left
	return t.Store.DeleteProviderLogin(ctx, rt.Family)
}

// Authenticate checks an access token (Verify) and reads its holder's
// account as it is now: a deleted or disabled account is refused, and the
// role and groups are the account's, not what the token was issued with,
// so an admin's change applies to the very next request. One lookup by the
// unique username per request.
func (t *Tokens) Authenticate(ctx context.Context, access string) (*Claims, error) {
	claims, err := t.Verify(access)
	if err != nil {
		return nil, err
	}
	u, err := t.Store.UserByName(ctx, claims.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: the account no longer exists", ErrInvalidToken)
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, ErrUserDisabled
	}
	claims.Role, claims.Groups, claims.MustChangePassword = u.Role, u.Groups, u.MustChangePassword
	return claims, nil
}

// Verify checks an access token: signature (HS256 only), issuer, expiry.
func (t *Tokens) Verify(access string) (*Claims, error) {
	claims := &Claims{}
	_, err := jwt.ParseWithClaims(access, claims, func(*jwt.Token) (any, error) { return t.Key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(t.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return claims, nil
}

// pair makes the tokens of a login. checked is when the provider last
// confirmed an SSO login (zero for others): its access token ends when the
// next check is due, so the check cannot be skipped by not refreshing.
func (t *Tokens) pair(u *store.User, family string, checked time.Time) (Pair, store.RefreshToken, error) {
	if len(t.Key) < 32 {
		return Pair{}, store.RefreshToken{}, errors.New("token signing key must be at least 32 bytes")
	}
	now := t.now()
	accessTTL, refreshTTL := t.ttls()
	if due := checked.Add(t.recheckEvery()); !checked.IsZero() && due.Before(now.Add(accessTTL)) {
		accessTTL = due.Sub(now)
	}
	jti, err := randomToken(12)
	if err != nil {
		return Pair{}, store.RefreshToken{}, err
	}
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: t.Issuer, Subject: u.Username, ID: jti,
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(accessTTL)),
		},
		Role: u.Role, Groups: u.Groups,
	}
	access, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.Key)
	if err != nil {
		return Pair{}, store.RefreshToken{}, err
	}
	refresh, err := randomToken(32)
	if err != nil {
		return Pair{}, store.RefreshToken{}, err
	}
	rt := store.RefreshToken{Hash: hashToken(refresh), Family: family, Username: u.Username, CreatedAt: now, ExpiresAt: now.Add(refreshTTL)}
	return Pair{AccessToken: access, AccessExpiresAt: now.Add(accessTTL), RefreshToken: refresh, RefreshExpiresAt: rt.ExpiresAt, Family: family}, rt, nil
}

// hashToken is what the store keeps: a leaked database gives no usable
// refresh token.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
