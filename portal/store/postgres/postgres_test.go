package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/portal/store/postgres"
	"github.com/streamspace/streamspace/portal/store/storetest"
	"github.com/streamspace/streamspace/test/pgtest"
)

var server *pgtest.Server

func TestMain(m *testing.M) {
	var err error
	if server, err = pgtest.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	server.Stop()
	os.Exit(code)
}

func TestPostgres_storeSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		dsn, err := server.NewDatabase(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		s, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestPostgres_unreachableServer_saysSo(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://streamspace@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("connected to nothing")
	}
	if !strings.HasPrefix(err.Error(), "connect to postgres:") {
		t.Errorf("error %q does not say what failed", err)
	}
}
