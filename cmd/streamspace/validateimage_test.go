package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/streamspace/streamspace/local/images"
)

// The validate image, built as make validate-image builds it, holds only
// the static binary (and the CA bundle), and its entrypoint, taken out of
// the layer, validates a platform repository outside this checkout: a
// real run, the way a platform repository's CI runs the image.
func TestValidateImage_runsOnAPlatformRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: links a static binary")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc: the static link needs it (make system-deps installs it as root)")
	}
	dir := t.TempDir()
	binary := filepath.Join(dir, "streamspace")
	// Linked statically by the C linker (as test/install builds the agent
	// and portal images) rather than with CGO_ENABLED=0: the packages then
	// come from go test's build cache; both give a binary without libc,
	// which BuildBinary checks.
	start := time.Now()
	build := exec.Command("go", "build", "-ldflags=-s -w -linkmode external -extldflags -static", "-o", binary, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("static streamspace linked in %s", time.Since(start).Round(100*time.Millisecond))

	o := images.DefaultOptions(filepath.Join(dir, "images"))
	res, err := validateImage(o, binary)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.Stat(binary)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: archive %.1f MiB, layer %.1f MiB uncompressed, binary %.1f MiB", res.Ref, float64(res.TarballSize)/(1<<20), float64(res.LayerSize)/(1<<20), float64(bin.Size())/(1<<20))
	// The layer is the binary, the CA bundle and tar's headers: nothing else.
	ca, _ := os.Stat(caBundle)
	var caSize int64
	if ca != nil {
		caSize = ca.Size()
	}
	if res.LayerSize > bin.Size()+caSize+64<<10 {
		t.Errorf("layer of %d bytes for a binary of %d and a CA bundle of %d", res.LayerSize, bin.Size(), caSize)
	}

	img, err := tarball.ImageFromPath(res.Tarball, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/usr/local/bin/streamspace", "validate"}) || cfg.Config.User != "65532:65532" || cfg.OS != "linux" {
		t.Errorf("image config: entrypoint %q, user %q, os %q", cfg.Config.Entrypoint, cfg.Config.User, cfg.OS)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v; want one", len(layers), err)
	}
	rootfs := t.TempDir()
	files := extract(t, layers[0], rootfs)
	want := []string{"etc/ssl/certs/ca-certificates.crt", "usr/local/bin/streamspace"}
	if ca == nil {
		want = want[1:]
	}
	if !slices.Equal(files, want) {
		t.Errorf("files in the layer: %q, want %q", files, want)
	}

	// The entrypoint, run as the container runtime runs it, in a copy of
	// the example repository outside the checkout, with an empty
	// environment: no path back to this checkout's CRDs or catalog.
	repo := copyExample(t)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(rootfs, cfg.Config.Entrypoint[0]), append(cfg.Config.Entrypoint[1:], args...)...)
		cmd.Dir, cmd.Env = repo, []string{}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(); err != nil || out != "ok: 2 objects valid, overlays build\n" {
		t.Errorf("validate in the image: %v\n%s", err, out)
	}
	firefox := filepath.Join(repo, "catalog/browsers/firefox.yaml")
	data, err := os.ReadFile(firefox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(firefox, bytes.Replace(data, []byte("containerPort: 3000"), []byte("containerPort: 70000"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run("--output", "github")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !regexp.MustCompile(`(?m)^::error file=catalog/browsers/firefox\.yaml,line=15,title=streamspace validate::Template firefox: spec.ports\[0\].containerPort: .*65535$`).MatchString(out) {
		t.Errorf("validate of a broken repository in the image: %v\n%s", err, out)
	}
}

// extract unpacks a layer into dir (regular files and folders only, names
// kept inside dir) and returns the regular files' paths, sorted.
func extract(t *testing.T, layer interface{ Uncompressed() (io.ReadCloser, error) }, dir string) []string {
	t.Helper()
	rc, err := layer.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var files []string
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := path.Clean(hdr.Name)
		if strings.HasPrefix(name, "../") || path.IsAbs(name) {
			t.Fatalf("layer entry %q leaves the root", hdr.Name)
		}
		p := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(hdr.Mode)&0o777)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			files = append(files, name)
		default:
			t.Errorf("layer entry %q of type %c", hdr.Name, hdr.Typeflag)
		}
	}
	slices.Sort(files)
	return files
}
