// Package images builds StreamSpace's local session images from Debian
// packages, without Docker and without a registry; `streamspace images
// build` and `streamspace local up` call it in-process.
//
// For each image it bootstraps a Debian root file system (debootstrap
// minbase, then apt from the main, updates and security suites), cached
// under ~/.cache/streamspace/images/<name>-<hash of the recipe>, so that a
// second build only packs. It then writes one deterministic layer (sorted
// entries, fixed mtimes, no hard links, documentation and build-only files
// pruned, the session entrypoint added) and a `docker save` tarball with the
// image's tag, ready for `ctr -n k8s.io images import`. The same rootfs gives
// the same digest every time.
//
// It needs root (debootstrap, chroot, unshare) and a Debian mirror.
package images

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Build builds the named images (all of Names when none) into o.Out,
// writing its progress to progress, and returns one result per image.
func Build(ctx context.Context, o Options, progress io.Writer, names ...string) ([]*Result, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("building images needs root (debootstrap, chroot, unshare); run as root")
	}
	if len(names) == 0 {
		names = Names()
	}
	var rs []recipe
	for _, n := range names {
		r, ok := recipes[n]
		if !ok {
			return nil, fmt.Errorf("unknown image %q (known: %s)", n, strings.Join(Names(), ", "))
		}
		rs = append(rs, r)
	}
	b, err := newBuilder(o, progress)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var results []*Result
	for _, r := range rs {
		res, err := b.Build(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Name, err)
		}
		fmt.Fprintf(progress, "==> %s: %s\n    digest   %s\n    image id %s\n    tarball  %s (%s)\n", r.Name, res.Ref, res.Digest, res.ImageID, res.Tarball, mib(res.TarballSize))
		results = append(results, res)
	}
	fmt.Fprintf(progress, "==> images built in %s\n", time.Since(start).Round(100*time.Millisecond))
	return results, nil
}

// DefaultCacheDir is where root file systems and Debian packages are
// cached: $XDG_CACHE_HOME/streamspace/images, else ~/.cache/....
func DefaultCacheDir() string {
	dir := os.Getenv("XDG_CACHE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		dir = filepath.Join(home, ".cache")
	}
	return filepath.Join(dir, "streamspace", "images")
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
