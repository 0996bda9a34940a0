package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/portal/store/sqlite"
	"github.com/streamspace/streamspace/portal/store/storetest"
)

func TestSQLite_storeSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "streamspace.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestSQLite_reopenKeepsDataAndMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "streamspace.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(context.Background(), &store.User{Username: "alice", Role: "admin", Source: "local"}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s, err = sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.UserByName(context.Background(), "alice"); err != nil {
		t.Errorf("after reopen: %v", err)
	}
}
