package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/streamspace/streamspace/portal/store"
)

// PasswordCost is the bcrypt cost of stored passwords.
const PasswordCost = 12

// dummyHash is compared against when the user does not exist, so that a
// wrong username takes as long as a wrong password (no user enumeration by
// timing).
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("streamspace-no-such-user"), PasswordCost)
	return h
})

// HashPassword hashes a new password; it refuses short ones.
func HashPassword(password string) (string, error) {
	if len(password) < 10 {
		return "", errors.New("password must be at least 10 characters")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), PasswordCost)
	return string(h), err
}

// Login checks a local account's password.
func Login(ctx context.Context, s store.Store, username, password string) (*store.User, error) {
	u, err := s.UserByName(ctx, username)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.PasswordHash == "") {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
		return nil, ErrBadCredentials
	}
	if u.Disabled {
		return nil, ErrUserDisabled
	}
	if err := s.RecordLogin(ctx, u.Username, time.Now()); err != nil {
		return nil, err
	}
	return u, nil
}

// Bootstrap creates the first admin when the store has no user at all and
// prints its one-time password to out, once: it is stored only as a hash.
func Bootstrap(ctx context.Context, s store.Store, username string, out io.Writer) (bool, error) {
	users, err := s.ListUsers(ctx)
	if err != nil || len(users) > 0 {
		return false, err
	}
	password, err := randomToken(18)
	if err != nil {
		return false, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return false, err
	}
	if err := s.CreateUser(ctx, &store.User{Username: username, Display: "Administrator", PasswordHash: hash, Role: "admin", Source: "local"}); err != nil {
		return false, fmt.Errorf("create bootstrap admin: %w", err)
	}
	fmt.Fprintf(out, "Bootstrap admin created: user %q, password %s (shown once; change it after signing in)\n", username, password)
	return true, nil
}

// ResetPassword gives a local account a new random password, prints it to
// out once and signs the account out everywhere: the way back in for an
// admin who lost the bootstrap password.
func ResetPassword(ctx context.Context, s store.Store, username string, out io.Writer) error {
	u, err := s.UserByName(ctx, username)
	if err != nil {
		return err
	}
	if u.Source != "local" {
		return fmt.Errorf("%s signs in by %s, not with a password", username, u.Source)
	}
	password, err := randomToken(18)
	if err != nil {
		return err
	}
	if u.PasswordHash, err = HashPassword(password); err != nil {
		return err
	}
	u.Disabled = false
	if err := s.UpdateUser(ctx, u); err != nil {
		return err
	}
	if err := s.RevokeUserTokens(ctx, username, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(out, "New password of %q: %s (shown once; every session of %s was signed out)\n", username, password, username)
	return nil
}
