package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/streamspace/streamspace/portal/store"
)

// DefaultRecheckEvery is how long the provider's word about an SSO login
// holds by default.
const DefaultRecheckEvery = time.Hour

// AccountWatcher hears that an account changed in a way that may end what
// it has open (its streams): now is the account as it is now, nil when it
// lost access altogether (deleted, or signed out by its provider).
type AccountWatcher interface {
	AccountChanged(username string, now *store.User, reason string)
}

func (t *Tokens) recheckEvery() time.Duration {
	if t.RecheckEvery > 0 {
		return t.RecheckEvery
	}
	return DefaultRecheckEvery
}

// IssueSSO starts a login of an SSO user: as Issue, and it keeps the
// provider's refresh token (sealed) for the re-checks. A provider that gave
// none gets its person back at its login page when the first check is due.
func (t *Tokens) IssueSSO(ctx context.Context, u *store.User, id *Identity) (Pair, error) {
	family, err := randomToken(16)
	if err != nil {
		return Pair{}, err
	}
	now := t.now()
	sealed := ""
	if id.refreshToken != "" {
		if sealed, err = t.seal(id.refreshToken); err != nil {
			return Pair{}, err
		}
	}
	// first the provider's side: a portal login without it would be
	// signed out at its first refresh
	if err := t.Store.SaveProviderLogin(ctx, store.ProviderLogin{Family: family, Username: u.Username, RefreshToken: sealed, CheckedAt: now}); err != nil {
		return Pair{}, fmt.Errorf("save provider login: %w", err)
	}
	p, rt, err := t.pair(u, family, now)
	if err != nil {
		return Pair{}, err
	}
	if err := t.Store.SaveRefreshToken(ctx, rt); err != nil {
		return Pair{}, fmt.Errorf("save refresh token: %w", err)
	}
	return p, nil
}

// recheck asks the provider about the person of an SSO login when its
// last answer is older than RecheckEvery, and applies what it says to u
// (groups, so the role). It returns when the provider last confirmed the
// login (zero for a login that is not SSO). When the provider cannot
// confirm it (the person is removed or disabled there, the provider is
// unreachable, or it gave no refresh token), the login is signed out: fail
// closed, the person signs in at the provider again.
func (t *Tokens) recheck(ctx context.Context, family string, u *store.User) (time.Time, error) {
	if u.Source != SourceOIDC {
		return time.Time{}, nil
	}
	now := t.now()
	l, err := t.Store.ProviderLogin(ctx, family)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return time.Time{}, t.signOut(ctx, family, u.Username, fmt.Errorf("%w: this sign-in has no record of the provider's", ErrReauthenticate))
	case err != nil:
		return time.Time{}, err
	case now.Sub(l.CheckedAt) < t.recheckEvery():
		return l.CheckedAt, nil
	case t.Provider == nil:
		return time.Time{}, t.signOut(ctx, family, u.Username, fmt.Errorf("%w: single sign-on is not configured any more", ErrReauthenticate))
	case l.RefreshToken == "":
		return time.Time{}, t.signOut(ctx, family, u.Username, fmt.Errorf("%w: the provider gave no refresh token to check this sign-in with", ErrReauthenticate))
	}
	refresh, err := t.open(l.RefreshToken)
	if err != nil {
		return time.Time{}, t.signOut(ctx, family, u.Username, fmt.Errorf("%w: %v", ErrReauthenticate, err))
	}
	id, err := t.Provider.Recheck(ctx, refresh)
	if err != nil {
		return time.Time{}, t.signOut(ctx, family, u.Username, fmt.Errorf("%w: %v", ErrProviderSignedOut, err))
	}
	before := u.Role
	if err := t.Provider.confirm(ctx, t.Store, u, id); err != nil {
		if errors.Is(err, ErrUserDisabled) || errors.Is(err, ErrProviderSignedOut) {
			return time.Time{}, t.signOut(ctx, family, u.Username, err)
		}
		return time.Time{}, err // the database: the login stays, the next refresh tries again
	}
	if id.refreshToken != "" { // providers that rotate refresh tokens (Dex does) hand a new one
		if l.RefreshToken, err = t.seal(id.refreshToken); err != nil {
			return time.Time{}, err
		}
	}
	l.CheckedAt = now
	if err := t.Store.SaveProviderLogin(ctx, *l); err != nil {
		return time.Time{}, fmt.Errorf("save provider login: %w", err)
	}
	if u.Role != before && t.Watcher != nil {
		t.Watcher.AccountChanged(u.Username, u, "the identity provider changed the role to "+u.Role)
	}
	return now, nil
}

// signOut ends a login whose provider check failed, tells the watcher (the
// person's streams close) and returns why.
func (t *Tokens) signOut(ctx context.Context, family, username string, why error) error {
	now := t.now()
	if err := t.Store.RevokeFamily(ctx, family, now); err != nil {
		return err
	}
	if err := t.Store.DeleteProviderLogin(ctx, family); err != nil {
		return err
	}
	if t.Watcher != nil {
		t.Watcher.AccountChanged(username, nil, "signed out: "+why.Error())
	}
	return &SignedOutError{Username: username, Err: why}
}

// SignedOutError names whose login a failed provider check ended.
type SignedOutError struct {
	Username string
	Err      error
}

func (e *SignedOutError) Error() string { return e.Err.Error() }
func (e *SignedOutError) Unwrap() error { return e.Err }

// seal encrypts a provider's refresh token for the database (AES-256-GCM
// under a key derived from the signing key, bound to its use): a leaked
// database alone does not give it away. It never leaves the portal.
func (t *Tokens) seal(plain string) (string, error) {
	gcm, err := t.providerCipher()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(gcm.Seal(nonce, nonce, []byte(plain), nil)), nil
}

func (t *Tokens) open(sealed string) (string, error) {
	gcm, err := t.providerCipher()
	if err != nil {
		return "", err
	}
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < gcm.NonceSize() {
		return "", errors.New("the provider's refresh token is unreadable")
	}
	plain, err := gcm.Open(nil, b[:gcm.NonceSize()], b[gcm.NonceSize():], nil)
	if err != nil {
		return "", errors.New("the provider's refresh token was sealed with another key")
	}
	return string(plain), nil
}

func (t *Tokens) providerCipher() (cipher.AEAD, error) {
	m := hmac.New(sha256.New, t.Key)
	m.Write([]byte("streamspace provider refresh token"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
