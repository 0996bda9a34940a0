// Package deploy carries the install manifests' generated CRDs into the
// binaries that need them without a checkout (`streamspace validate`).
// The manifests themselves are applied with kustomize from this folder.
package deploy

import (
	"embed"
	"io/fs"
)

//go:embed crd/bases/*.yaml
var crdBases embed.FS

// CRDs are StreamSpace's CustomResourceDefinitions as controller-gen
// writes them into crd/bases, one YAML file per kind at the top of the
// returned file system.
func CRDs() fs.FS {
	sub, err := fs.Sub(crdBases, "crd/bases")
	if err != nil {
		panic(err) // the embed pattern above guarantees the folder
	}
	return sub
}
