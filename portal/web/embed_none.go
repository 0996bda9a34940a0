//go:build !ui

package web

import "io/fs"

// dist is nil: this binary was built without the "ui" tag.
var dist fs.FS
