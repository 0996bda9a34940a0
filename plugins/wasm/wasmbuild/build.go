// Package wasmbuild compiles a Go plugin (a package main importing
// plugins/sdk) into its WebAssembly module, the same way for the tests
// and for `make plugins-wasm`, so that a module's digest depends only on
// its source and the Go toolchain.
package wasmbuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Toolchain is the Go release that builds the modules this project ships:
// the same source gives the same bytes only with the same compiler, so
// every build asks for it (the go command fetches it when the local one
// differs), and the committed digests stay reproducible.
const Toolchain = "go1.26.8"

// Build compiles the package in dir into the module out and returns its
// sha256 (hex). The build is reproducible: pinned toolchain, no paths, no
// VCS stamp, no symbol table.
func Build(ctx context.Context, dir, out string) (string, error) {
	out, err := filepath.Abs(out)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=", "GOTOOLCHAIN="+Toolchain)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", dir, err, stderr.Bytes())
	}
	return Digest(out)
}

// Digest is the sha256 of a file, as a manifest's entry.wasm.sha256.
func Digest(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}
