// Package freeport picks loopback ports for the real servers the tests and
// benchmarks start (Xvnc, websockify, nginx, the portal), which must be told
// a port before they listen.
package freeport

import (
	"net"
	"testing"
)

// Loopback is a TCP port on 127.0.0.1 that nothing listens on right now.
func Loopback() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// For is Loopback for a test, which fails when no port can be had.
func For(t testing.TB) int {
	t.Helper()
	port, err := Loopback()
	if err != nil {
		t.Fatal(err)
	}
	return port
}
