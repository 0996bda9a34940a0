package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/streamspace/streamspace/agent/validate"
	"github.com/streamspace/streamspace/deploy"
)

func validateCommand() *cobra.Command {
	var crds string
	cmd := &cobra.Command{
		Use:   "validate [repository]",
		Short: "Check catalog/, policies/ and environments/ against the CRDs before they reach a cluster",
		Long: `Check a platform repository (default: the current folder) the way the API
server and the agent would: every object against the StreamSpace CRD schemas
and CEL rules, duplicate YAML keys, unknown fields, overlays that do not
build and references to objects that are not there. The CRDs are built into
this binary, so it runs anywhere. Problems are printed as file:line: message;
the exit code is 1 when there is any.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := "."
			if len(args) == 1 {
				root = args[0]
			}
			var v *validate.Validator
			var err error
			if crds != "" {
				v, err = validate.Load(crds)
			} else {
				v, err = validate.LoadFS(deploy.CRDs())
			}
			if err != nil {
				return err
			}
			problems, n, err := v.Repo(root)
			if err != nil {
				return err
			}
			for _, p := range problems {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			if len(problems) > 0 {
				return fmt.Errorf("%d problem(s) in %d objects", len(problems), n)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d objects valid, overlays build\n", n)
			return nil
		},
	}
	cmd.Flags().StringVar(&crds, "crds", "", "Folder of the CRDs to validate against (default: the CRDs built into this binary, those of its deploy/crd/bases).")
	return cmd
}
