package images

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// buildStatic compiles a small static Go program, as the Makefile builds
// the real binaries.
func buildStatic(t *testing.T, dir, src string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "hello")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestBuildBinary_oneLayerOfTheBinary_reproducible_runs(t *testing.T) {
	bin := buildStatic(t, t.TempDir(), `package main

import "fmt"

func main() { fmt.Println("hello from a static binary") }
`)
	spec := BinaryImage{
		Name:       "hello",
		Files:      []BinaryFile{{Path: "/usr/local/bin/hello", Src: bin}, {Path: "/etc/hello.conf", Data: []byte("x=1\n")}},
		Entrypoint: []string{"/usr/local/bin/hello"},
		Ports:      []int{8080},
		Title:      "hello",
	}
	o := Options{Out: t.TempDir(), Version: "0.0.1", Epoch: defaultEpoch}
	first, err := BuildBinary(o, spec)
	if err != nil {
		t.Fatal(err)
	}
	o.Out = t.TempDir()
	second, err := BuildBinary(o, spec)
	if err != nil {
		t.Fatal(err)
	}
	if first.Digest != second.Digest || first.ImageID != second.ImageID {
		t.Errorf("two builds of the same files differ: %s / %s", first.Digest, second.Digest)
	}
	if first.Ref != "streamspace/hello:0.0.1" {
		t.Errorf("ref %s", first.Ref)
	}
	if _, err := os.Stat(filepath.Join(o.Out, "hello.json")); err != nil {
		t.Errorf("no description beside the tarball: %v", err)
	}
	t.Logf("image %s: tarball %s, layer %s", first.Ref, mib(first.TarballSize), mib(first.LayerSize))

	img, err := tarball.ImageFromPath(first.Tarball, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Config.Entrypoint, spec.Entrypoint) || cfg.Config.User != "65532:65532" {
		t.Errorf("entrypoint %v user %q", cfg.Config.Entrypoint, cfg.Config.User)
	}
	if _, ok := cfg.Config.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("exposed ports %v", cfg.Config.ExposedPorts)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	root := t.TempDir()
	var names []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(time.Unix(defaultEpoch, 0)) {
			t.Errorf("%s: owner %d:%d, time %s", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		want := map[string]int64{"usr/local/bin/hello": 0o755, "etc/hello.conf": 0o644}[h.Name]
		if h.Typeflag == tar.TypeDir {
			want = 0o755
		}
		if h.Mode != want {
			t.Errorf("%s: mode %o, want %o", h.Name, h.Mode, want)
		}
		if h.Typeflag == tar.TypeReg {
			dst := filepath.Join(root, h.Name)
			_ = os.MkdirAll(filepath.Dir(dst), 0o755)
			data, _ := io.ReadAll(tr)
			if err := os.WriteFile(dst, data, os.FileMode(h.Mode)); err != nil {
				t.Fatal(err)
			}
		}
	}
	wantNames := []string{"etc/", "etc/hello.conf", "usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/hello"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("layer holds %v, want only %v", names, wantNames)
	}
	out, err := exec.Command(filepath.Join(root, "usr/local/bin/hello")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "hello from a static binary" {
		t.Errorf("the unpacked entrypoint ran with %v: %q", err, out)
	}
}

func TestBuildBinary_badInput_namesTheProblem(t *testing.T) {
	dynamic, err := exec.LookPath("ls") // Debian's ls needs libc
	if err != nil {
		t.Skip("no ls")
	}
	o := Options{Out: t.TempDir(), Version: "0.0.1", Epoch: defaultEpoch}
	for _, tc := range []struct {
		name string
		spec BinaryImage
		want string
	}{
		{"dynamic binary", BinaryImage{Name: "x", Entrypoint: []string{"/ls"}, Files: []BinaryFile{{Path: "/ls", Src: dynamic}}}, "build it with CGO_ENABLED=0"},
		{"relative path", BinaryImage{Name: "x", Entrypoint: []string{"/x"}, Files: []BinaryFile{{Path: "../x", Data: []byte("x")}}}, `file path "../x"`},
		{"unclean path", BinaryImage{Name: "x", Entrypoint: []string{"/x"}, Files: []BinaryFile{{Path: "/a/../../x", Data: []byte("x")}}}, "clean absolute path"},
		{"missing file", BinaryImage{Name: "x", Entrypoint: []string{"/x"}, Files: []BinaryFile{{Path: "/x", Src: "/nonexistent/x"}}}, "/nonexistent/x"},
		{"file as folder", BinaryImage{Name: "x", Entrypoint: []string{"/a/b"}, Files: []BinaryFile{{Path: "/a", Data: []byte("x")}, {Path: "/a/b", Data: []byte("y")}}}, "/a is a file"},
		{"no entrypoint", BinaryImage{Name: "x", Files: []BinaryFile{{Path: "/x", Data: []byte("x")}}}, "no entrypoint"},
		{"name with a slash", BinaryImage{Name: "a/b", Entrypoint: []string{"/x"}, Files: []BinaryFile{{Path: "/x", Data: []byte("x")}}}, "plain name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := BuildBinary(o, tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
