//go:build ui

package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var embedded embed.FS

// dist is the built UI (make ui).
var dist = func() fs.FS {
	sub, err := fs.Sub(embedded, "dist")
	if err != nil {
		panic(err)
	}
	return sub
}()
