package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/streamspace/streamspace/local/cluster"
	"github.com/streamspace/streamspace/local/images"
	"github.com/streamspace/streamspace/sessionpod/xidle"
)

// IdleReporterImage packs a static streamspace-idle binary (make run and
// make build compile it with CGO_ENABLED=0 into bin/) into the one-layer
// image streamspace/idle, imports it into the node, and returns its
// reference for the agent's --idle-reporter-image. No binary: "" and no
// error, and sessions run without the reporter, as before.
func IdleReporterImage(ctx context.Context, c *cluster.Cluster, binary, stateDir string, out io.Writer) (string, error) {
	if binary == "" {
		return "", nil
	}
	if _, err := os.Stat(binary); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(out, "==> No %s: sessions run without the X idle reporter (make run builds it)\n", binary)
		return "", nil
	}
	o := images.DefaultOptions(filepath.Join(stateDir, "images"))
	res, err := images.BuildBinary(o, images.BinaryImage{
		Name:        "idle",
		Files:       []images.BinaryFile{{Path: "/usr/local/bin/streamspace-idle", Src: binary}},
		Entrypoint:  []string{"/usr/local/bin/streamspace-idle"},
		Ports:       []int{xidle.DefaultPort},
		Title:       "streamspace-idle",
		Description: "Serves the X server's idle time of a session's pod at GET /idle",
	})
	if err != nil {
		return "", fmt.Errorf("idle reporter image: %w", err)
	}
	if err := c.ImportImage(ctx, res.Tarball); err != nil {
		return "", fmt.Errorf("import %s: %w", res.Ref, err)
	}
	fmt.Fprintf(out, "==> Imported %s (%s) into the node: every session gets the X idle reporter\n", res.Ref, strconv.FormatFloat(float64(res.TarballSize)/(1<<20), 'f', 1, 64)+" MiB")
	return res.Ref, nil
}
