package store_test

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/streamspace/streamspace/portal/store"
)

type sqlState string

func (s sqlState) Error() string    { return "SQLSTATE " + string(s) }
func (s sqlState) SQLState() string { return string(s) }

type safeToRetry bool

func (s safeToRetry) Error() string     { return "conn closed" }
func (s safeToRetry) SafeToRetry() bool { return bool(s) }

// The database unreachable, cut or restarting is "unavailable" (503 and
// a retry); what the database answered about the query is not.
func TestIsUnavailable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("failed to connect: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), true},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{driver.ErrBadConn, true},
		{fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		{safeToRetry(true), true},
		{sqlState("57P01"), true}, // terminating connection due to administrator command
		{sqlState("57P03"), true}, // the database system is starting up
		{sqlState("08006"), true}, // connection failure
		{safeToRetry(false), false},
		{sqlState("23505"), false}, // unique violation
		{sqlState("22001"), false}, // value too long
		{sql.ErrNoRows, false},
		{store.ErrNotFound, false},
		{errors.New("database is locked"), false},
		{nil, false},
	} {
		if got := store.IsUnavailable(c.err); got != c.want {
			t.Errorf("IsUnavailable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
