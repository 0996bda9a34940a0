package store

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
)

// IsUnavailable tells an error of reaching the database (refused, cut,
// restarting) from an error of the query: the first is worth an answer of
// "try again" (503) and a retry, the second is not. It reads the errors
// of database/sql and of both drivers by what they are, not by driver
// type, so this package stays free of them.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	// pgx: a request that never reached the server (e.g. "conn closed").
	var retry interface{ SafeToRetry() bool }
	if errors.As(err, &retry) && retry.SafeToRetry() {
		return true
	}
	// PostgreSQL's own answers: class 08 (connection exception), and the
	// server shutting down or starting up (57P01 admin shutdown, 57P02
	// crash shutdown, 57P03 cannot connect now).
	var state interface{ SQLState() string }
	if errors.As(err, &state) {
		code := state.SQLState()
		return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03"
	}
	return false
}
