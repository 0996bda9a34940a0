package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/catalog"
)

func catalogCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "catalog", Short: "Work with a template catalog"}
	var from string
	imp := &cobra.Command{
		Use:   "import <source-folder> <catalog-folder>",
		Short: "Convert templates written for the original StreamSpace into this catalog's format",
		Long: `Convert every Template under <source-folder> written for the original
StreamSpace (its kasmvnc: {enabled, port} block, requests/limits, a fixed
namespace, :latest images) into this catalog's format, one file per template
in <catalog-folder>/<category>/<name>.yaml, and print what changed in each.

A :latest or untagged image is pinned to the tag this catalog uses for the
same image (the catalog built into this binary, or --catalog); an image the
catalog does not hold is left as it is with a comment, and validate refuses
that file until a person pins it. Existing files are never overwritten. A
new <catalog-folder>/kustomization.yaml lists the files; an existing one is
left alone and the entries to add are printed.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			models, err := catalog.Templates()
			if from != "" {
				models, err = catalog.Read(os.DirFS(from))
			}
			if err != nil {
				return fmt.Errorf("read the catalog to pin to: %w", err)
			}
			return importCatalog(cmd, args[0], args[1], models)
		},
	}
	imp.Flags().StringVar(&from, "catalog", "", "Catalog folder whose image tags to pin to (default: the catalog built into this binary).")
	cmd.AddCommand(imp)
	return cmd
}

func importCatalog(cmd *cobra.Command, src, dst string, models []streamv1.Template) error {
	out := cmd.OutOrStdout()
	var written []string
	var unpinned, skipped int
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(p) != ".yaml" && filepath.Ext(p) != ".yml") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		imported, err := catalog.Import(data, models)
		if err != nil {
			skipped++
			fmt.Fprintf(out, "%s: skipped: %v\n", p, err)
			return nil
		}
		for _, imp := range imported {
			rel := path.Join(catalog.Slug(imp.Template.Spec.Category), imp.Template.Name+".yaml")
			file := filepath.Join(dst, filepath.FromSlash(rel))
			if _, err := os.Lstat(file); err == nil {
				return fmt.Errorf("%s: %s already exists; nothing was overwritten", p, file)
			}
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(file, imp.YAML, 0o644); err != nil {
				return err
			}
			written = append(written, rel)
			if imp.Unpinned {
				unpinned++
			}
			fmt.Fprintf(out, "%s → %s\n", p, file)
			for _, c := range imp.Changes {
				fmt.Fprintf(out, "  - %s\n", c)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(written)
	kust := filepath.Join(dst, "kustomization.yaml")
	if _, err := os.Stat(kust); errors.Is(err, fs.ErrNotExist) && len(written) > 0 {
		body := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - " + strings.Join(written, "\n  - ") + "\n"
		if err := os.WriteFile(kust, []byte(body), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote %s listing %d file(s)\n", kust, len(written))
	} else if len(written) > 0 {
		fmt.Fprintf(out, "add to the resources of %s:\n  - %s\n", kust, strings.Join(written, "\n  - "))
	}
	fmt.Fprintf(out, "imported %d template(s), %d not pinned, %d file(s) skipped\n", len(written), unpinned, skipped)
	return nil
}
