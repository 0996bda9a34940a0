// Package oidctest runs a real OpenID Connect provider, Dex, inside a test
// process: in-memory storage, one static client, password users with
// groups, served by httptest on a free loopback port. No container, no
// fixed port, no cgo; it starts in well under a second.
//
// Only tests import this package, so only test binaries link Dex.
package oidctest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dexidp/dex/server"
	"github.com/dexidp/dex/server/signer"
	"github.com/dexidp/dex/storage"
	"github.com/dexidp/dex/storage/memory"
	"golang.org/x/crypto/bcrypt"
)

// User is a password account at the provider.
type User struct {
	// Username is the preferred_username claim.
	Username string
	// Email is what the person types into the login form.
	Email    string
	Password string
	// Name is the "name" claim; default Username.
	Name   string
	Groups []string
	// EmailUnverified makes the provider say email_verified: false.
	EmailUnverified bool
}

// Options configure a provider.
type Options struct {
	// RedirectURL is the client's callback; Dex redirects nowhere else.
	RedirectURL string
	Users       []User
	// ClientID and ClientSecret default to "streamspace" and a fixed test
	// secret.
	ClientID, ClientSecret string
}

// Provider is a running Dex.
type Provider struct {
	// Issuer is http://127.0.0.1:<port>/dex, as Dex writes it in tokens.
	Issuer       string
	ClientID     string
	ClientSecret string

	storage storage.Storage
}

// Start runs Dex until the test ends. Its warnings and errors go to the
// test log; one "no signing key found" at start is expected (Dex builds its
// discovery document before its signer makes the first key, as it does
// outside tests; discovery then names RS256, which is what it signs with).
func Start(t testing.TB, opts Options) *Provider {
	t.Helper()
	if opts.RedirectURL == "" {
		t.Fatal("oidctest: Options.RedirectURL is required (Dex redirects only to registered URIs)")
	}
	if opts.ClientID == "" {
		opts.ClientID = "streamspace"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "oidctest-client-secret"
	}

	// The listener first: the issuer names its port, and Dex needs the
	// issuer before it can serve.
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String() + "/dex"
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testLog{t: t}
	t.Cleanup(func() {
		srv.Close()
		cancel()
		logs.stop()
	})
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))

	var st storage.Storage = refreshOutsideLock{memory.New(logger)}
	st = storage.WithStaticClients(st, []storage.Client{{
		ID: opts.ClientID, Secret: opts.ClientSecret, RedirectURIs: []string{opts.RedirectURL}, Name: "StreamSpace",
	}})
	// What enablePasswordDB does in Dex's own configuration.
	st = storage.WithStaticConnectors(st, []storage.Connector{{ID: server.LocalConnector, Type: server.LocalConnector, Name: "Email"}})

	p := &Provider{Issuer: issuer, ClientID: opts.ClientID, ClientSecret: opts.ClientSecret, storage: st}
	for _, u := range opts.Users {
		if err := p.SetUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}

	idTokensValidFor := time.Hour
	sign, err := (&signer.LocalConfig{KeysRotationPeriod: "6h"}).Open(ctx, st, idTokensValidFor, time.Now, logger)
	if err != nil {
		t.Fatalf("oidctest: dex signer: %v", err)
	}
	// Refresh tokens rotate at each use, as by default; unlike the default,
	// no reuse interval (Dex answers a refresh within it from what it
	// knew, without asking the connector): every refresh reads the
	// account as it is now, which is what a test of re-checks changes.
	refresh, err := server.NewRefreshTokenPolicy(logger, true, "", "", "")
	if err != nil {
		t.Fatalf("oidctest: dex refresh token policy: %v", err)
	}
	dex, err := server.NewServer(ctx, server.Config{
		RefreshTokenPolicy: refresh,
		Issuer:             issuer,
		Storage:            st,
		SkipApprovalScreen: true,
		IDTokensValidFor:   idTokensValidFor,
		Logger:             logger,
		Signer:             sign,
	})
	if err != nil {
		t.Fatalf("oidctest: dex: %v", err)
	}
	srv.Config.Handler = dex
	srv.Start()
	return p
}

// SetUser creates the password account of u at the provider, or replaces
// it (e.g. to change its groups between two sign-ins). Accounts are keyed
// by email.
func (p *Provider) SetUser(ctx context.Context, u User) error {
	// Dex refuses hashes cheaper than cost 10 (a bare 500 at sign-in).
	hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), 10)
	if err != nil {
		return fmt.Errorf("oidctest: hash password of %s: %w", u.Email, err)
	}
	name := u.Name
	if name == "" {
		name = u.Username
	}
	pw := storage.Password{
		Email: u.Email, Hash: hash, Username: name, PreferredUsername: u.Username,
		UserID: "oidctest-" + strings.ToLower(u.Email), Groups: u.Groups,
	}
	if u.EmailUnverified {
		pw.EmailVerified = new(bool)
	}
	err = p.storage.UpdatePassword(ctx, u.Email, func(storage.Password) (storage.Password, error) { return pw, nil })
	if err == storage.ErrNotFound {
		err = p.storage.CreatePassword(ctx, pw)
	}
	if err != nil {
		return fmt.Errorf("oidctest: set user %s: %w", u.Email, err)
	}
	return nil
}

// RemoveUser deletes the password account with this email, as an admin
// removing a person at the provider: its refresh tokens stop working.
func (p *Provider) RemoveUser(ctx context.Context, email string) error {
	if err := p.storage.DeletePassword(ctx, email); err != nil {
		return fmt.Errorf("oidctest: remove user %s: %w", email, err)
	}
	return nil
}

// refreshOutsideLock runs a refresh token's update outside the memory
// storage's lock. Dex's memory storage calls the updater under its lock,
// and the updater asks the password connector about the account, which
// reads the same storage: a deadlock at every refresh that reaches the
// connector. Dex's SQL storages do not hold a lock there; nor does this.
type refreshOutsideLock struct{ storage.Storage }

func (s refreshOutsideLock) UpdateRefreshToken(ctx context.Context, id string, updater func(storage.RefreshToken) (storage.RefreshToken, error)) error {
	old, err := s.Storage.GetRefresh(ctx, id)
	if err != nil {
		return err
	}
	next, err := updater(old)
	if err != nil {
		return err
	}
	return s.Storage.UpdateRefreshToken(ctx, id, func(cur storage.RefreshToken) (storage.RefreshToken, error) {
		if cur.Token != old.Token { // used meanwhile: what Dex calls claimed twice
			return cur, errors.New("refresh token claimed twice")
		}
		return next, nil
	})
}

// testLog sends Dex's warnings and errors to the test log, until the test
// ends (Dex's background work may outlive it by a moment).
type testLog struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool
}

func (l *testLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.t.Logf("dex: %s", strings.TrimSpace(string(b)))
	}
	return len(b), nil
}

func (l *testLog) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
}

var _ io.Writer = (*testLog)(nil)
