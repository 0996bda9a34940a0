package images

import (
	"archive/tar"
	"debug/elf"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// BinaryImage is a one-layer image that holds only the given files —
// typically one static Go binary — and no operating system: nothing for an
// attacker to use inside it, and built in a second, without root, Debian or
// a registry.
type BinaryImage struct {
	// Name is the image's repository under streamspace/, e.g. "idle" for
	// streamspace/idle:<Options.Version>.
	Name string
	// Files are put into the layer. Their folders are created (0755, root).
	Files []BinaryFile
	// Entrypoint is the image's command, e.g. /usr/local/bin/streamspace-idle.
	Entrypoint []string
	// Cmd are the entrypoint's default arguments.
	Cmd []string
	// User is "uid:gid"; empty means 65532:65532 (a user no image has:
	// the binary runs as nobody in particular, never as root).
	User string
	// Env is the image's environment, "KEY=value".
	Env []string
	// Ports are the TCP ports the image listens on (documentation only).
	Ports []int
	// Title and Description are the OCI labels.
	Title, Description string
	// Architecture of the binaries (GOARCH); empty means this machine's.
	Architecture string
}

// BinaryFile is one file of a BinaryImage: a file on disk (Src) or
// contents (Data).
type BinaryFile struct {
	// Path inside the image, absolute, e.g. /usr/local/bin/streamspace-idle.
	Path string
	// Src is the file on disk to copy.
	Src string
	// Data is used when Src is empty (e.g. a CA bundle or /etc/passwd).
	Data []byte
	// Mode: 0755 for files under a bin/ folder and for Src files that are
	// ELF executables, else 0644, unless set.
	Mode int64
	// AllowDynamic accepts a dynamically linked ELF executable; without it
	// such a file is refused, since the image has no libc to run it with.
	AllowDynamic bool
}

// BuildBinary writes the image's `docker save` tarball (o.Out/<name>.tar,
// ready for `ctr images import`, like the session images) and its
// description (<name>.json). Only o.Out, o.Version and o.Epoch are used: the
// same files give the same digest every time.
func BuildBinary(o Options, bi BinaryImage) (*Result, error) {
	if bi.Name == "" || strings.ContainsAny(bi.Name, "/:@ ") {
		return nil, fmt.Errorf("binary image name %q: want a plain name like \"idle\"", bi.Name)
	}
	if len(bi.Entrypoint) == 0 {
		return nil, fmt.Errorf("binary image %s: no entrypoint", bi.Name)
	}
	entries, err := binaryEntries(bi.Files)
	if err != nil {
		return nil, fmt.Errorf("binary image %s: %w", bi.Name, err)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	start := time.Now()
	lf, err := writeLayer(filepath.Join(o.Out, "."+bi.Name+".layer.tar.gz"), entries, o.Epoch)
	if err != nil {
		return nil, fmt.Errorf("binary image %s: write layer: %w", bi.Name, err)
	}
	defer os.Remove(lf.Path)

	img, err := binaryConfig(o, bi, lf)
	if err != nil {
		return nil, fmt.Errorf("binary image %s: %w", bi.Name, err)
	}
	tag, err := name.NewTag(fmt.Sprintf("streamspace/%s:%s", bi.Name, o.Version))
	if err != nil {
		return nil, err
	}
	res, err := save(o.Out, bi.Name, tag, img)
	if err != nil {
		return nil, err
	}
	res.LayerSize = lf.TarSize
	res.packTook = time.Since(start)
	return res, writeResult(o.Out, res)
}

// binaryEntries checks the files and lists them with their folders, sorted.
func binaryEntries(files []BinaryFile) ([]*entry, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("no files")
	}
	byPath := map[string]*entry{}
	for _, f := range files {
		p := path.Clean(f.Path)
		if !path.IsAbs(f.Path) || p != f.Path || p == "/" {
			return nil, fmt.Errorf("file path %q: want a clean absolute path inside the image", f.Path)
		}
		rel := strings.TrimPrefix(p, "/")
		if _, dup := byPath[rel]; dup {
			return nil, fmt.Errorf("file path %s given twice", p)
		}
		e := &entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: f.Mode}}
		if f.Src != "" {
			fi, err := os.Stat(f.Src)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			if !fi.Mode().IsRegular() {
				return nil, fmt.Errorf("%s: %s is not a regular file", p, f.Src)
			}
			exe, err := checkExecutable(f.Src, f.AllowDynamic)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			if e.hdr.Mode == 0 && exe {
				e.hdr.Mode = 0o755
			}
			e.src, e.hdr.Size = f.Src, fi.Size()
		} else {
			e.data, e.hdr.Size = f.Data, int64(len(f.Data))
		}
		if e.hdr.Mode == 0 {
			e.hdr.Mode = 0o644
			if path.Base(path.Dir(rel)) == "bin" {
				e.hdr.Mode = 0o755
			}
		}
		byPath[rel] = e
		for d := path.Dir(rel); d != "."; d = path.Dir(d) {
			if existing, ok := byPath[d]; ok && existing.hdr.Typeflag != tar.TypeDir {
				return nil, fmt.Errorf("%s: /%s is a file, not a folder", p, d)
			}
			byPath[d] = &entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}}
		}
	}
	return sortedEntries(byPath), nil
}

// checkExecutable reports whether src is an ELF executable, and refuses
// one that needs a dynamic loader (unless allowed): the image has none, so
// it would fail only when the pod starts, with "no such file or directory".
func checkExecutable(src string, allowDynamic bool) (bool, error) {
	f, err := elf.Open(src)
	if err != nil {
		return false, nil // not ELF: a data file
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return false, nil
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP && !allowDynamic {
			return false, fmt.Errorf("%s is dynamically linked (it needs a program interpreter, and the image has no libc): build it with CGO_ENABLED=0", src)
		}
	}
	return true, nil
}

// binaryConfig is the image of one layer with its configuration.
func binaryConfig(o Options, bi BinaryImage, lf *layerFile) (v1.Image, error) {
	img, diffID, err := oneLayer(lf)
	if err != nil {
		return nil, err
	}
	user := bi.User
	if user == "" {
		user = "65532:65532"
	}
	ports := map[string]struct{}{}
	for _, p := range bi.Ports {
		ports[fmt.Sprintf("%d/tcp", p)] = struct{}{}
	}
	arch := bi.Architecture
	if arch == "" {
		arch = runtime.GOARCH
	}
	created := v1.Time{Time: time.Unix(o.Epoch, 0).UTC()}
	cfg := &v1.ConfigFile{
		Architecture: arch,
		OS:           "linux",
		Created:      created,
		Config: v1.Config{
			User:         user,
			Env:          bi.Env,
			Entrypoint:   bi.Entrypoint,
			Cmd:          bi.Cmd,
			WorkingDir:   "/",
			ExposedPorts: ports,
			StopSignal:   "SIGTERM",
			Labels: map[string]string{
				"org.opencontainers.image.title":       bi.Title,
				"org.opencontainers.image.description": bi.Description,
				"org.opencontainers.image.version":     o.Version,
				"org.opencontainers.image.source":      "https://github.com/streamspace/streamspace",
			},
		},
		RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{diffID}},
		History: []v1.History{{
			Created:   created,
			CreatedBy: "streamspace images: static binaries " + strings.Join(filePaths(bi.Files), " "),
		}},
	}
	return mutate.ConfigFile(img, cfg)
}

func filePaths(files []BinaryFile) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Path
	}
	return out
}
