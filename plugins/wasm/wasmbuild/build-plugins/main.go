// Command build-plugins builds the Go WebAssembly plugins of a plugin
// repository folder and pins each module's sha256 in its plugin.yaml
// (`make plugins-wasm`).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/streamspace/streamspace/plugins/wasm/wasmbuild"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: build-plugins <plugin repository folder>")
		os.Exit(2)
	}
	plugins, err := wasmbuild.Plugins(context.Background(), os.Args[1], true)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, p := range plugins {
		fmt.Printf("%s/%s sha256:%s\n", p.Dir, p.Manifest.Entry.Wasm.Module, p.Built)
	}
}
