package platform

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/streamspace/streamspace/local/cluster"
	"github.com/streamspace/streamspace/local/images"
)

// SessionImages returns the Options.Images step that builds the named
// session images (local/images: Debian packages, no Docker, no registry;
// cached, so a second build only packs; every image it has a recipe for
// when none are named, so a new recipe needs no list here) into
// stateDir/images and imports
// them into the node's containerd. The build runs in this process: no Go
// toolchain or checkout is needed.
func SessionImages(stateDir string, names ...string) func(context.Context, *cluster.Cluster, io.Writer) error {
	if len(names) == 0 {
		names = images.Names()
	}
	return func(ctx context.Context, c *cluster.Cluster, out io.Writer) error {
		fmt.Fprintf(out, "==> Building the session images %v (the first time: Debian packages, a few minutes each)\n", names)
		built, err := images.Build(ctx, images.DefaultOptions(filepath.Join(stateDir, "images")), out, names...)
		if err != nil {
			return fmt.Errorf("build the session images: %w", err)
		}
		for _, img := range built {
			start := time.Now()
			if err := c.ImportImage(ctx, img.Tarball); err != nil {
				return fmt.Errorf("import %s: %w", img.Name, err)
			}
			fmt.Fprintf(out, "==> Imported %s into the node (%.1fs)\n", img.Name, time.Since(start).Seconds())
		}
		return nil
	}
}
