// Command streamspace is the StreamSpace command line: run the platform
// locally (`streamspace local up`), run a real local Kubernetes
// (`streamspace cluster up|down|status`), build the session images
// (`streamspace images build`), administer the portal's store
// (`streamspace portal reset-password`), check a platform repository
// (`streamspace validate`) and convert templates from the original
// StreamSpace (`streamspace catalog import`).
package main

import (
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := rootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

// rootCommand is the whole command tree (the workflow test checks the
// example workflow's command lines against it).
func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "streamspace",
		Short:         "StreamSpace: stream containerized desktop apps to the browser",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(localCommand(), clusterCommand(), imagesCommand(), portalCommand(), validateCommand(), catalogCommand())
	return root
}
