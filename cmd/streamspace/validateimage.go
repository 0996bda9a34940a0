package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/streamspace/streamspace/local/images"
)

// caBundle is where Debian (and Go's crypto/x509 on Linux) keeps the
// trusted certificate authorities: --github-report talks to the GitHub API
// over TLS, and the image has no operating system to bring them.
const caBundle = "/etc/ssl/certs/ca-certificates.crt"

// validateImage packs a static streamspace binary into streamspace/validate:
// one layer with the binary and the building machine's CA bundle, the
// entrypoint `streamspace validate`, run as uid 65532 (local/images'
// BinaryImage, as the agent and portal images).
func validateImage(o images.Options, binary string) (*images.Result, error) {
	files := []images.BinaryFile{{Path: "/usr/local/bin/streamspace", Src: binary}}
	ca, err := os.ReadFile(caBundle)
	switch {
	case err == nil:
		files = append(files, images.BinaryFile{Path: caBundle, Data: ca})
	case errors.Is(err, fs.ErrNotExist):
		// Validation and --impact need none; only --github-report to
		// api.github.com would fail, and say so.
	default:
		return nil, err
	}
	return images.BuildBinary(o, images.BinaryImage{
		Name:        "validate",
		Files:       files,
		Entrypoint:  []string{"/usr/local/bin/streamspace", "validate"},
		Title:       "streamspace validate",
		Description: "Checks a StreamSpace platform repository (catalog/, policies/, environments/) against the CRDs; --impact and --github-report for pull requests",
	})
}

func validateImageCommand(o *images.Options) *cobra.Command {
	var binary string
	cmd := &cobra.Command{
		Use:   "validate-image --binary FILE",
		Short: "Pack a static streamspace binary into the image streamspace/validate (no Docker, no root)",
		Long: `Pack a static streamspace binary (CGO_ENABLED=0 go build ./cmd/streamspace;
make validate-image does both) into streamspace/validate:<version>: one
layer holding the binary and this machine's CA bundle, entrypoint
"streamspace validate", user 65532. It writes a 'docker save' archive
<out>/validate.tar (docker load, podman load, ctr images import, crane push
read it) and validate.json beside it.

Run it on a platform repository with:
  docker run --rm -v "$PWD:/repo" -w /repo streamspace/validate:<version> --output github`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if binary == "" {
				return errors.New("--binary FILE: the static streamspace binary to pack")
			}
			res, err := validateImage(*o, binary)
			if err != nil {
				return err
			}
			mib := func(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB" }
			fmt.Fprintf(cmd.OutOrStdout(), "==> %s: %s, %s (layer %s uncompressed)\n", res.Ref, filepath.Clean(res.Tarball), mib(res.TarballSize), mib(res.LayerSize))
			return nil
		},
	}
	cmd.Flags().StringVar(&binary, "binary", "", "The static streamspace binary to pack.")
	cmd.Flags().StringVar(&o.Out, "out", o.Out, "Folder for the image archive and its description.")
	cmd.Flags().StringVar(&o.Version, "version", o.Version, "Tag of the image.")
	return cmd
}
