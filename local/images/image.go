package images

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Result of one image build; also written beside the tarball as
// <name>.json for the tools that import it.
type Result struct {
	Name string `json:"name"`
	Ref  string `json:"ref"`
	// Digest is the manifest's, as go-containerregistry writes it. ctr
	// import writes its own manifest (same config and layer, other JSON),
	// so containerd lists another digest for the same image.
	Digest string `json:"digest"`
	// ImageID is the config's digest: the same in every importer, what
	// crictl shows as IMAGE ID.
	ImageID string `json:"imageID"`
	// Tarball is the `docker save` archive to import.
	Tarball     string   `json:"tarball"`
	TarballSize int64    `json:"tarballSize"`
	LayerSize   int64    `json:"layerSize"` // uncompressed
	Packages    []string `json:"packages"`

	packTook time.Duration
}

// Build makes the recipe's image tarball in the output folder.
func (b *builder) Build(ctx context.Context, r recipe) (*Result, error) {
	c, err := b.rootfs(ctx, r)
	if err != nil {
		return nil, err
	}
	if c.Cached {
		b.say("debootstrap %s (cached: %s)", r.Name, filepath.Dir(c.Dir))
	} else {
		b.say("debootstrap %s: root file system built in %s (%s)", r.Name, c.Took.Round(time.Second), filepath.Dir(c.Dir))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(b.o.Out, 0o755); err != nil {
		return nil, err
	}

	b.say("packing layer %s", r.Name)
	start := time.Now()
	entries, err := collect(c.Dir, r.Prune, r.overlays()...)
	if err != nil {
		return nil, err
	}
	lf, err := writeLayer(filepath.Join(b.o.Out, "."+r.Name+".layer.tar.gz"), entries, b.o.Epoch)
	if err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	defer os.Remove(lf.Path)
	b.say("layer %s: %d entries, %s of files, %s compressed (%s)", r.Name, lf.Files, mib(lf.Bytes), mib(lf.Size), largest(lf.Sizes, 6))

	img, err := b.image(r, lf, c.Packages)
	if err != nil {
		return nil, err
	}
	tag, err := name.NewTag(fmt.Sprintf("streamspace/%s:%s", r.Name, b.o.Version))
	if err != nil {
		return nil, err
	}
	res, err := save(b.o.Out, r.Name, tag, img)
	if err != nil {
		return nil, err
	}
	res.LayerSize, res.Packages, res.packTook = lf.TarSize, c.Packages, time.Since(start)
	b.say("packed %s in %s: digest %s", r.Name, res.packTook.Round(100*time.Millisecond), res.Digest)
	return res, writeResult(b.o.Out, res)
}

// save writes img as the `docker save` tarball out/<name>.tar, tagged tag,
// the format `ctr images import` reads.
func save(out, imgName string, tag name.Tag, img v1.Image) (*Result, error) {
	file := filepath.Join(out, imgName+".tar")
	if err := tarball.WriteToFile(file+".tmp", tag, img); err != nil {
		return nil, fmt.Errorf("write %s: %w", file, err)
	}
	if err := os.Rename(file+".tmp", file); err != nil {
		return nil, err
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, err
	}
	id, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	return &Result{
		Name: imgName, Ref: tag.String(), Digest: digest.String(), ImageID: id.String(),
		Tarball: file, TarballSize: fi.Size(),
	}, nil
}

// writeResult writes res beside its tarball as <name>.json.
func writeResult(out string, res *Result) error {
	j, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, res.Name+".json"), append(j, '\n'), 0o644)
}

// oneLayer is the image of one written layer, and the layer's diff ID
// for its configuration.
func oneLayer(lf *layerFile) (v1.Image, v1.Hash, error) {
	layer, err := partial.CompressedToLayer(layerBlob{lf})
	if err != nil {
		return nil, v1.Hash{}, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, v1.Hash{}, err
	}
	diffID, err := v1.NewHash(lf.DiffID)
	return img, diffID, err
}

// image is the one-layer image of a recipe.
func (b *builder) image(r recipe, lf *layerFile, packages []string) (v1.Image, error) {
	img, diffID, err := oneLayer(lf)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: time.Unix(b.o.Epoch, 0).UTC()}
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8",
		"HOME=" + homeDir,
		"USER=" + userName,
	}
	cfg := &v1.ConfigFile{
		Architecture: "amd64",
		OS:           "linux",
		Created:      created,
		Config: v1.Config{
			User:         fmt.Sprintf("%d:%d", userID, userID),
			Env:          append(env, r.Env...),
			Entrypoint:   []string{"/usr/local/bin/streamspace-session"},
			Cmd:          r.Cmd,
			WorkingDir:   homeDir,
			ExposedPorts: map[string]struct{}{fmt.Sprintf("%d/tcp", streamPort): {}},
			StopSignal:   "SIGTERM",
			Labels: map[string]string{
				"org.opencontainers.image.title":       r.Title,
				"org.opencontainers.image.description": r.Description,
				"org.opencontainers.image.version":     b.o.Version,
				"org.opencontainers.image.source":      "https://github.com/streamspace/streamspace",
				"org.opencontainers.image.base.name":   "debian:" + suite,
			},
		},
		RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{diffID}},
		History: []v1.History{{
			Created:   created,
			CreatedBy: fmt.Sprintf("streamspace images build: debootstrap --variant=minbase %s; apt-get install %s; %d packages", suite, strings.Join(r.Packages, " "), len(packages)),
		}},
	}
	return mutate.ConfigFile(img, cfg)
}

// layerBlob is a written layer file as go-containerregistry's compressed
// layer, with the hashes computed while writing it (no second read).
type layerBlob struct{ l *layerFile }

func (b layerBlob) Digest() (v1.Hash, error)           { return v1.NewHash(b.l.Digest) }
func (b layerBlob) DiffID() (v1.Hash, error)           { return v1.NewHash(b.l.DiffID) }
func (b layerBlob) Compressed() (io.ReadCloser, error) { return os.Open(b.l.Path) }
func (b layerBlob) Size() (int64, error)               { return b.l.Size, nil }
func (b layerBlob) MediaType() (types.MediaType, error) {
	return types.DockerLayer, nil
}

// largest names the n folders holding the most bytes.
func largest(sizes map[string]int64, n int) string {
	keys := slices.SortedFunc(maps.Keys(sizes), func(a, b string) int {
		return cmp.Or(cmp.Compare(sizes[b], sizes[a]), strings.Compare(a, b))
	})
	var parts []string
	for _, k := range keys[:min(n, len(keys))] {
		parts = append(parts, fmt.Sprintf("%s %s", k, mib(sizes[k])))
	}
	return "largest: " + strings.Join(parts, ", ")
}
