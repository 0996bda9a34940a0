package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/streamspace/streamspace/local/images"
)

func imagesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "images", Short: "The session images of the local platform"}
	o := images.DefaultOptions(filepath.Join(repoRoot(), ".state", "images"))
	build := &cobra.Command{
		Use:   "build [image...]",
		Short: "Build session images from Debian packages (root; no Docker, no registry)",
		Long: `Build the session images (default: all of ` + strings.Join(images.Names(), ", ") + `) from Debian
packages: a debootstrap root file system, cached so that a second build only
packs, then one reproducible layer and a 'docker save' tarball per image in
--out, with <name>.json beside it (reference, digest, image id, packages).
Import a tarball into a node with: ctr -n k8s.io images import <tarball>.

It needs root (debootstrap, chroot, unshare) and a Debian mirror.`,
		ValidArgs: images.Names(),
		Args:      cobra.OnlyValidArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if _, err := images.Build(ctx, o, cmd.OutOrStdout(), args...); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "==> import with: ctr -n k8s.io images import <tarball>")
			return nil
		},
	}
	build.Flags().StringVar(&o.Out, "out", o.Out, "Folder for the image tarballs and their descriptions.")
	build.Flags().StringVar(&o.Cache, "cache", o.Cache, "Folder for the cached root file systems and Debian packages.")
	build.Flags().StringVar(&o.Version, "version", o.Version, "Tag of the images.")
	build.Flags().StringVar(&o.Mirror, "mirror", o.Mirror, "Debian mirror (default: $DEBIAN_MIRROR, else the first one in /etc/apt/sources that answers, else deb.debian.org).")
	build.Flags().StringVar(&o.SecurityMirror, "security-mirror", o.SecurityMirror, "Debian security mirror (default: $DEBIAN_SECURITY_MIRROR, else from /etc/apt/sources, else deb.debian.org/debian-security); \"none\" to skip security updates.")
	build.Flags().Int64Var(&o.Epoch, "source-date-epoch", o.Epoch, "Timestamp of every file in the images ($SOURCE_DATE_EPOCH when set).")
	build.Flags().BoolVar(&o.Rebuild, "rebuild", false, "Install the packages again (newest updates) even when a cached root file system exists; the debootstrap base is kept.")
	cmd.AddCommand(build, validateImageCommand(&o))
	return cmd
}
