// Command streamspace is the StreamSpace command line: today it runs the
// platform locally (`streamspace local up`).
package main

import (
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "streamspace",
		Short:         "StreamSpace: stream containerized desktop apps to the browser",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(localCommand())
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}
