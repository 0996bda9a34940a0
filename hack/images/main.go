// Command images builds StreamSpace's local session images from Debian
// packages, without Docker and without a registry:
//
//	go run ./hack/images [-out .state/images] [-version 0.1.0] [light firefox]
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
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	var o options
	flag.StringVar(&o.out, "out", ".state/images", "Folder for the image tarballs and their descriptions.")
	flag.StringVar(&o.cache, "cache", defaultCacheDir(), "Folder for the cached root file systems and Debian packages.")
	flag.StringVar(&o.version, "version", DefaultVersion, "Tag of the images.")
	flag.StringVar(&o.mirror, "mirror", os.Getenv("DEBIAN_MIRROR"), "Debian mirror (default: the first one in /etc/apt/sources that answers, else deb.debian.org).")
	flag.StringVar(&o.securityMirror, "security-mirror", os.Getenv("DEBIAN_SECURITY_MIRROR"), "Debian security mirror (default: from /etc/apt/sources, else deb.debian.org/debian-security); \"none\" to skip security updates.")
	flag.Int64Var(&o.epoch, "source-date-epoch", sourceDateEpoch(), "Timestamp of every file in the images (SOURCE_DATE_EPOCH).")
	flag.BoolVar(&o.rebuild, "rebuild", false, "Install the packages again (newest updates) even when a cached root file system exists; the debootstrap base is kept.")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [flags] [image...]\n\nImages: %s (default: all)\n\nFlags:\n", filepath.Base(os.Args[0]), strings.Join(recipeNames(), ", "))
		flag.PrintDefaults()
	}
	flag.Parse()

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, o, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, names []string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("building images needs root (debootstrap, chroot, unshare); run as root")
	}
	if len(names) == 0 {
		names = recipeNames()
	}
	var rs []recipe
	for _, n := range names {
		r, ok := recipes[n]
		if !ok {
			return fmt.Errorf("unknown image %q (known: %s)", n, strings.Join(recipeNames(), ", "))
		}
		rs = append(rs, r)
	}
	b, err := newBuilder(o, os.Stdout)
	if err != nil {
		return err
	}
	start := time.Now()
	for _, r := range rs {
		res, err := b.Build(ctx, r)
		if err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		fmt.Printf("==> %s: %s\n    digest   %s\n    image id %s\n    tarball  %s (%s)\n", r.Name, res.Ref, res.Digest, res.ImageID, res.Tarball, mib(res.TarballSize))
	}
	fmt.Printf("==> done in %s; import with: ctr -n k8s.io images import <tarball>\n", time.Since(start).Round(100*time.Millisecond))
	return nil
}

func defaultCacheDir() string {
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
