package auth_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamspace/streamspace/portal/auth"
)

// bootstrapPassword reads the one-time password from the file Bootstrap
// named in out, checking that only its owner can read it.
func bootstrapPassword(t *testing.T, dir string, out *bytes.Buffer) string {
	t.Helper()
	path := filepath.Join(dir, auth.BootstrapPasswordFile)
	if !strings.Contains(out.String(), path) {
		t.Fatalf("the output does not name %s: %q", path, out.String())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	user, password, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	if !ok || user != "admin" || len(password) < 20 {
		t.Fatalf("%s holds %q, want admin:<password>", path, b)
	}
	return password
}

func TestBootstrap_doesNotWriteThroughALinkPlantedAtTheFile(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, auth.BootstrapPasswordFile)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := auth.Bootstrap(ctx, newStore(t), "admin", dir, &out); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("the link's target was written: %q", b)
	}
	bootstrapPassword(t, dir, &out)
}

func TestBootstrap_unwritableStateDir_createsNoAdmin(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes anywhere")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	if _, err := auth.Bootstrap(ctx, s, "admin", dir, &bytes.Buffer{}); err == nil {
		t.Fatal("bootstrap succeeded with nowhere to put the password")
	}
	if users, _ := s.ListUsers(ctx); len(users) != 0 {
		t.Errorf("an admin nobody knows the password of was created: %+v", users)
	}
}

func TestChangePassword_checksTheCurrent_refusesTheSame_clearsTheMustChange_signsOutOtherLogins(t *testing.T) {
	s := newStore(t)
	var out bytes.Buffer
	dir := t.TempDir()
	if _, err := auth.Bootstrap(ctx, s, "admin", dir, &out); err != nil {
		t.Fatal(err)
	}
	once := bootstrapPassword(t, dir, &out)
	now := time.Now()
	tokens := newTokens(s, &now)
	u, _ := s.UserByName(ctx, "admin")
	other, err := tokens.Issue(ctx, u)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := auth.ChangePassword(ctx, s, "admin", "not-the-password", "a-new-password-1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("wrong current password: %v", err)
	}
	if _, err := auth.ChangePassword(ctx, s, "admin", once, once); !errors.Is(err, auth.ErrSamePassword) {
		t.Errorf("the one-time password kept: %v", err)
	}
	if _, err := auth.ChangePassword(ctx, s, "admin", once, "short"); err == nil {
		t.Error("a short password was accepted")
	}
	if u, _ := s.UserByName(ctx, "admin"); !u.MustChangePassword {
		t.Fatal("a refused change cleared MustChangePassword")
	}
	if _, err := auth.ChangePassword(ctx, s, "admin", once, "a-new-password-1"); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.UserByName(ctx, "admin"); u.MustChangePassword {
		t.Error("MustChangePassword still set after the change")
	}
	if _, err := auth.Login(ctx, s, "admin", once); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("the one-time password still signs in: %v", err)
	}
	if _, _, err := tokens.Refresh(ctx, other.RefreshToken); err == nil {
		t.Error("a login from before the change still refreshes")
	}
}
