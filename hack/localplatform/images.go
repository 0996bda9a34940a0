package localplatform

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/streamspace/streamspace/hack/localcluster"
)

// SessionImages returns the Options.Images step that builds the named
// session images (hack/images: Debian packages, no Docker, no registry;
// cached, so a second build only packs) into stateDir/images and imports
// them into the node's containerd. root is the checkout.
func SessionImages(root, stateDir string, names ...string) func(context.Context, *localcluster.Cluster, io.Writer) error {
	return func(ctx context.Context, c *localcluster.Cluster, out io.Writer) error {
		dir := filepath.Join(stateDir, "images")
		fmt.Fprintf(out, "==> Building the session images %v (the first time: Debian packages, a few minutes each)\n", names)
		build := exec.CommandContext(ctx, "go", append([]string{"run", "./hack/images", "-out", dir}, names...)...)
		build.Dir, build.Stdout, build.Stderr = root, out, out
		if err := build.Run(); err != nil {
			return fmt.Errorf("build the session images (go run ./hack/images): %w", err)
		}
		for _, name := range names {
			start := time.Now()
			if err := c.ImportImage(ctx, filepath.Join(dir, name+".tar")); err != nil {
				return fmt.Errorf("import %s: %w", name, err)
			}
			fmt.Fprintf(out, "==> Imported %s into the node (%.1fs)\n", name, time.Since(start).Seconds())
		}
		return nil
	}
}
