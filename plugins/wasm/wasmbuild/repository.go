package wasmbuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/streamspace/streamspace/plugins/manifest"
)

// Plugin is one Go WebAssembly plugin of a repository folder: its
// folder, manifest and the digest its source builds to.
type Plugin struct {
	Dir      string
	Manifest *manifest.Manifest
	// Built is the sha256 of the module built from source now.
	Built string
}

// Stale says what is out of date in the folder, or "".
func (p Plugin) Stale() string {
	w := p.Manifest.Entry.Wasm
	committed, err := Digest(filepath.Join(p.Dir, w.Module))
	switch {
	case err != nil:
		return fmt.Sprintf("%s: %v", w.Module, err)
	case committed != w.SHA256:
		return fmt.Sprintf("%s has sha256 %s but %s says %s", w.Module, committed, manifest.FileName, w.SHA256)
	case p.Built != committed:
		return fmt.Sprintf("%s (sha256 %s) is not what its source builds to (%s)", w.Module, committed, p.Built)
	}
	return ""
}

// Plugins builds every folder of root that holds a Go plugin (a main.go
// beside a plugin.yaml with a wasm entry). With write, the module is
// written into the folder and its digest into plugin.yaml; without, the
// folder is left alone (Stale then says what is out of date).
func Plugins(ctx context.Context, root string, write bool) ([]Plugin, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "wasmbuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var out []Plugin
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		if !e.IsDir() || !exists(filepath.Join(dir, "main.go")) {
			continue
		}
		file := filepath.Join(dir, manifest.FileName)
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		m, problems := manifest.Parse(file, data)
		if len(problems) > 0 {
			return nil, fmt.Errorf("%s", problems[0])
		}
		if m.Entry.Wasm == nil {
			return nil, fmt.Errorf("%s: has main.go but no entry.wasm", file)
		}
		target := filepath.Join(tmp, e.Name()+".wasm")
		if write {
			target = filepath.Join(dir, m.Entry.Wasm.Module)
		}
		sum, err := Build(ctx, dir, target)
		if err != nil {
			return nil, err
		}
		if write && sum != m.Entry.Wasm.SHA256 {
			if err := setDigest(file, data, sum); err != nil {
				return nil, err
			}
			m.Entry.Wasm.SHA256 = sum
		}
		out = append(out, Plugin{Dir: dir, Manifest: m, Built: sum})
	}
	return out, nil
}

var digestLine = regexp.MustCompile(`(?m)^(\s+sha256:\s*)[0-9a-f]*\s*$`)

// setDigest rewrites the one sha256 line of a manifest, keeping the rest
// (comments, order) as written.
func setDigest(file string, data []byte, sum string) error {
	if n := len(digestLine.FindAllIndex(data, -1)); n != 1 {
		return fmt.Errorf("%s: want exactly one sha256 line to update, found %d", file, n)
	}
	return os.WriteFile(file, digestLine.ReplaceAll(data, []byte("${1}"+sum)), 0o644)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}
