package cluster

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// PauseVersion is the pause version of Kubernetes v1.37.2's
// build/pause/Makefile (TAG).
const PauseVersion = "3.10.2"

// PauseImage is the sandbox image containerd runs for every pod, built here
// from the kubernetes module's build/pause/linux/pause.c (there is no
// registry to pull it from).
const PauseImage = "localhost/streamspace/pause:" + PauseVersion

// epoch is the timestamp of every file and of the image config, so the
// image is byte-for-byte reproducible.
var epoch = time.Unix(0, 0).UTC()

// ensurePauseImage builds the pause image tarball once into
// Bins/pause/pause-<version>.tar (the cache is shared by every clone).
func (c *Cluster) ensurePauseImage(ctx context.Context, out io.Writer) (string, error) {
	dir := filepath.Join(c.Bins, "pause")
	tarPath := filepath.Join(dir, "pause-"+PauseVersion+".tar")
	if _, err := os.Stat(tarPath); err == nil {
		return tarPath, nil
	}
	var missing []string
	if !haveFile("gcc") {
		missing = append(missing, "gcc")
	}
	if _, err := os.Stat("/usr/include/stdio.h"); err != nil {
		missing = append(missing, "libc6-dev")
	}
	if err := c.aptInstall(ctx, out, missing...); err != nil {
		return "", err
	}
	done := step(out, "building pause image %s", PauseImage)
	if err := buildPauseImage(ctx, dir, tarPath); err != nil {
		fmt.Fprintln(out, "failed")
		return "", err
	}
	done("built")
	return tarPath, nil
}

func buildPauseImage(ctx context.Context, dir, tarPath string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	src, err := kubernetesModuleDir(ctx, dir)
	if err != nil {
		return err
	}
	bin := filepath.Join(dir, "pause")
	gcc := exec.CommandContext(ctx, "gcc", "-Os", "-Wall", "-Werror", "-static", "-s",
		"-DVERSION=v"+PauseVersion+"-streamspace", "-o", bin, filepath.Join(src, "build", "pause", "linux", "pause.c"))
	if out, err := gcc.CombinedOutput(); err != nil {
		return &cmdError{"gcc pause.c", err, out}
	}
	layerTar := filepath.Join(dir, "layer.tar")
	if err := writeSingleFileTar(layerTar, bin, "pause", 0o755); err != nil {
		return err
	}
	return WriteImage(tarPath, PauseImage, layerTar, v1.Config{Entrypoint: []string{"/pause"}, User: "65535:65535"})
}

// kubernetesModuleDir is k8s.io/kubernetes' folder in the module cache
// (downloaded if needed: hack/kube-binaries.sh already did).
func kubernetesModuleDir(ctx context.Context, workDir string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "k8s.io/kubernetes@"+KubeVersion)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		return "", &cmdError{"go mod download k8s.io/kubernetes@" + KubeVersion, err, out}
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return "", err
	}
	if mod.Dir == "" {
		return "", fmt.Errorf("go mod download k8s.io/kubernetes@%s: %s", KubeVersion, mod.Error)
	}
	return mod.Dir, nil
}

func writeSingleFileTar(dst, src, nameInTar string, mode int64) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	hdr := &tar.Header{Name: nameInTar, Mode: mode, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// WriteImage writes a single-layer image tagged ref, from an uncompressed
// layer tarball, as a docker-archive tarball that ImportImage takes. The
// config's creation time is fixed, so the same layer gives the same digest.
func WriteImage(tarPath, ref, layerTar string, cfg v1.Config) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromFile(layerTar)
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Architecture = runtime.GOARCH
	cf.OS = "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config = cfg
	for i := range cf.History {
		cf.History[i].Created = v1.Time{Time: epoch}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return err
	}
	tmp := tarPath + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		return err
	}
	return os.Rename(tmp, tarPath)
}
