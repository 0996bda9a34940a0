package images

import (
	"archive/tar"
	"crypto/sha256"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
)

// files are added on top of every image's root file system: common/ to
// all, <recipe name>/ (or the recipe's Files) to that image. Files under a bin/ folder are
// executable; everything is owned by root.
//
//go:embed all:files
var files embed.FS

// pruneRules name what the images leave out of the root file system:
// documentation, translations, package manager state and caches, and what
// packages pull in that a session never runs (perl, a C preprocessor,
// numpy with its BLAS, Mesa's drivers and LLVM: Xvnc renders in software
// and Firefox falls back to its own software renderer). Patterns are
// path.Match patterns on the path without its leading slash; a matching
// folder goes with everything in it.
var pruneRules = []string{
	"dev/*", "proc/*", "sys/*", "run/*", "tmp/*",
	"etc/resolv.conf", "etc/hostname", "etc/machine-id", "var/lib/dbus/machine-id",
	"var/cache/apt/*", "var/lib/apt/lists/*", "var/log/*",
	"var/cache/debconf/*-old", "var/lib/dpkg/*-old", "var/cache/ldconfig/aux-cache",
	"usr/share/doc/*/*", "usr/share/doc-base", "usr/share/man/*", "usr/share/info/*",
	"usr/share/lintian", "usr/share/linda", "usr/share/bug", "usr/share/gtk-doc", "usr/share/help",
	"usr/share/locale/*",
	"usr/bin/perl", "usr/bin/perl5*", "usr/share/perl", "usr/share/perl5", "usr/lib/x86_64-linux-gnu/libperl.so*",
	"usr/lib/x86_64-linux-gnu/perl", "usr/lib/x86_64-linux-gnu/perl5", "usr/lib/x86_64-linux-gnu/perl-base",
	"usr/bin/cpp", "usr/bin/cpp-*", "usr/bin/x86_64-linux-gnu-cpp*", "usr/lib/gcc", "usr/libexec/gcc",
	"usr/lib/python3*/dist-packages/numpy", "usr/lib/python3*/dist-packages/numpy-*",
	"usr/lib/x86_64-linux-gnu/blas", "usr/lib/x86_64-linux-gnu/lapack",
	"usr/lib/x86_64-linux-gnu/libblas.so*", "usr/lib/x86_64-linux-gnu/liblapack.so*",
	"usr/lib/x86_64-linux-gnu/libgfortran.so*", "usr/lib/x86_64-linux-gnu/libquadmath.so*",
	"usr/lib/python3.*/test", "usr/lib/python3.*/idlelib", "usr/lib/python3.*/tkinter",
	"usr/lib/python3.*/turtledemo", "usr/lib/python3.*/lib2to3", "usr/lib/python3.*/ensurepip",
	"usr/lib/python3.*/pydoc_data", "usr/lib/python3.*/config-*",
	"usr/lib/x86_64-linux-gnu/dri", "usr/lib/x86_64-linux-gnu/libLLVM*", "usr/lib/x86_64-linux-gnu/libgallium*",
	"usr/lib/x86_64-linux-gnu/libvulkan_*", "usr/share/vulkan/icd.d/*", "usr/lib/x86_64-linux-gnu/libz3.so*",
}

// keepRules win over pruneRules: licenses stay, and so do the X socket
// folder and glibc's locale aliases.
var keepRules = []string{
	"usr/share/doc/*/copyright", "tmp/.X11-unix", "usr/share/locale/locale.alias",
}

func pruned(p string, extra []string) bool {
	for _, k := range keepRules {
		if ok, _ := path.Match(k, p); ok {
			return false
		}
	}
	for _, rules := range [][]string{pruneRules, extra} {
		for _, r := range rules {
			if ok, _ := path.Match(r, p); ok {
				return true
			}
		}
	}
	return false
}

// entry is one file of the layer: from the root file system (src) or
// from files (data).
type entry struct {
	hdr  tar.Header
	src  string
	data []byte
}

// collect lists the layer's entries: the root file system minus what is
// pruned (pruneRules and prune), plus the overlay folders of files, sorted
// by path.
func collect(root string, prune []string, overlays ...string) ([]*entry, error) {
	byPath := map[string]*entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if pruned(rel, prune) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no stat", p)
		}
		e := &entry{hdr: tar.Header{Name: rel, Uid: int(st.Uid), Gid: int(st.Gid), Mode: tarMode(fi.Mode())}}
		switch m := fi.Mode(); {
		case m.IsDir():
			e.hdr.Typeflag, e.hdr.Name = tar.TypeDir, rel+"/"
		case m.IsRegular():
			e.hdr.Typeflag, e.hdr.Size, e.src = tar.TypeReg, fi.Size(), p
		case m&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			e.hdr.Typeflag, e.hdr.Linkname = tar.TypeSymlink, target
		default:
			return nil // devices, sockets, pipes: a container gets its own
		}
		byPath[rel] = e
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", root, err)
	}
	for _, o := range overlays {
		dir := "files/" + o
		err := fs.WalkDir(files, dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == dir {
				return err
			}
			rel := strings.TrimPrefix(p, dir+"/")
			// Through a symbolic link, the file would land somewhere
			// else in a container and outside the root when unpacked
			// naively: name the link's target instead.
			if parent, ok := byPath[path.Dir(rel)]; ok && parent.hdr.Typeflag == tar.TypeSymlink {
				return fmt.Errorf("%s: %s is a symbolic link (to %s) in the root file system", p, path.Dir(rel), parent.hdr.Linkname)
			}
			if d.IsDir() {
				if _, ok := byPath[rel]; !ok {
					byPath[rel] = &entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: rel + "/", Mode: 0o755}}
				}
				return nil
			}
			data, err := files.ReadFile(p)
			if err != nil {
				return err
			}
			mode := int64(0o644)
			if path.Base(path.Dir(rel)) == "bin" {
				mode = 0o755
			}
			byPath[rel] = &entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: mode, Size: int64(len(data))}, data: data}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("overlay %s: %w", o, err)
		}
	}
	return sortedEntries(byPath), nil
}

// sortedEntries lists entries by path, the order that makes a layer
// reproducible.
func sortedEntries(byPath map[string]*entry) []*entry {
	paths := slices.Sorted(maps.Keys(byPath))
	out := make([]*entry, len(paths))
	for i, p := range paths {
		out[i] = byPath[p]
	}
	return out
}

func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// layerFile is a written, gzip-compressed layer.
type layerFile struct {
	Path           string
	Digest, DiffID string // sha256:<hex> of the compressed and the tar bytes
	Size, TarSize  int64
	Files, Bytes   int64 // entries, and bytes of regular files
	// Sizes holds the bytes of regular files under each folder three
	// levels deep, for the summary of what takes the space.
	Sizes map[string]int64
}

// writeLayer writes the entries as one gzip-compressed tar: fixed times,
// no user or group names, every file with its own contents (no hard
// links), in the given order. The same entries give the same bytes.
func writeLayer(dst string, entries []*entry, epoch int64) (*layerFile, error) {
	f, err := os.Create(dst)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	compressed, uncompressed := sha256.New(), sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, compressed)}
	gz, err := gzip.NewWriterLevel(cw, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	uw := &countWriter{w: io.MultiWriter(gz, uncompressed)}
	tw := tar.NewWriter(uw)
	mtime := time.Unix(epoch, 0).UTC()
	l := &layerFile{Path: dst, Sizes: map[string]int64{}}
	for _, e := range entries {
		hdr := e.hdr
		hdr.ModTime = mtime
		if err := tw.WriteHeader(&hdr); err != nil {
			return nil, fmt.Errorf("%s: %w", hdr.Name, err)
		}
		l.Files++
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		var n int64
		if e.src != "" {
			n, err = copyFile(tw, e.src)
		} else {
			var m int
			m, err = tw.Write(e.data)
			n = int64(m)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", hdr.Name, err)
		}
		if n != hdr.Size {
			return nil, fmt.Errorf("%s changed while packing", hdr.Name)
		}
		l.Bytes += n
		l.Sizes[topFolder(hdr.Name)] += n
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	l.Digest = fmt.Sprintf("sha256:%x", compressed.Sum(nil))
	l.DiffID = fmt.Sprintf("sha256:%x", uncompressed.Sum(nil))
	l.Size, l.TarSize = cw.n, uw.n
	return l, nil
}

// topFolder is the first three levels of a path, for the size summary.
func topFolder(p string) string {
	parts := strings.SplitN(p, "/", 4)
	if len(parts) > 3 {
		parts = parts[:3]
	}
	return strings.Join(parts, "/")
}

func copyFile(w io.Writer, src string) (int64, error) {
	f, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(w, f)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
