//go:build !wasip1

package sdk

// Outside WebAssembly there is no host: the package compiles, so plugins
// are vetted with the rest, and every call says why it cannot work.

var _ = dispatch // the host calls it through streamspace_handle

func hostConfig() ([]byte, error) { return nil, ErrNotWasm }

func hostLog(string) {}

func hostHTTP([]byte) ([]byte, error) { return nil, ErrNotWasm }

func hostHibernate(string) error { return ErrNotWasm }

func hostAnnotate(string, string, string) error { return ErrNotWasm }
