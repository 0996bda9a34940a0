package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
		return "", ErrPasswordTooShort
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

// BootstrapPasswordFile is the file in the state folder that receives
// the bootstrap admin's one-time password.
const BootstrapPasswordFile = "bootstrap-admin-password"

// Bootstrap creates the first admin when the store has no user at all.
// Its one-time password goes to a file only its owner may read
// (dir/BootstrapPasswordFile, 0600), never to a log: out gets the file's
// path. The password must be changed at the first sign-in; until then the
// account can do nothing else.
func Bootstrap(ctx context.Context, s store.Store, username, dir string, out io.Writer) (bool, error) {
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
	path := filepath.Join(dir, BootstrapPasswordFile)
	// the file first: an admin whose password went nowhere would lock
	// everyone out
	if err := writeSecret(path, username+":"+password+"\n"); err != nil {
		return false, fmt.Errorf("write the bootstrap admin's password: %w", err)
	}
	if err := s.CreateUser(ctx, &store.User{Username: username, Display: "Administrator", PasswordHash: hash, Role: "admin", Source: "local", MustChangePassword: true}); err != nil {
		return false, fmt.Errorf("create bootstrap admin: %w", err)
	}
	fmt.Fprintf(out, "Bootstrap admin created: user %q; its one-time password is in %s (readable by this user only; the first sign-in must change it)\n", username, path)
	return true, nil
}

// writeSecret writes content to a new file only its owner can read,
// replacing any file (or link) at path rather than writing through it.
func writeSecret(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// ChangePassword sets the password a person chose, after checking the
// current one, and signs out every other login of the account (whoever
// knew the old password). A password that must be changed (one-time) may
// not be "changed" to itself.
func ChangePassword(ctx context.Context, s store.Store, username, current, next string) (*store.User, error) {
	u, err := s.UserByName(ctx, username)
	if err != nil {
		return nil, err
	}
	if u.PasswordHash == "" {
		return nil, fmt.Errorf("%w: %s signs in by %s", ErrNoPassword, username, u.Source)
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(current)) != nil {
		return nil, ErrBadCredentials
	}
	if current == next {
		return nil, ErrSamePassword
	}
	if u.PasswordHash, err = HashPassword(next); err != nil {
		return nil, err
	}
	u.MustChangePassword = false
	if err := s.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	if err := s.RevokeUserTokens(ctx, username, time.Now()); err != nil {
		return nil, err
	}
	return u, nil
}

// Errors of a new password.
var (
	ErrSamePassword     = errors.New("the new password must differ from the current one")
	ErrPasswordTooShort = errors.New("password must be at least 10 characters")
	ErrNoPassword       = errors.New("the account has no password")
)

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
	u.MustChangePassword = true // printed, so known to more than its owner
	if err := s.UpdateUser(ctx, u); err != nil {
		return err
	}
	if err := s.RevokeUserTokens(ctx, username, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(out, "New password of %q: %s (shown once, to be changed at the next sign-in; every session of %s was signed out)\n", username, password, username)
	return nil
}
