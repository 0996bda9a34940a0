package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"path"
)

// Load reads dir/plugin.yaml from fsys and checks the files it names: the
// WebAssembly module is there and has the declared digest; the icon and
// logo files are there. Give it a confined filesystem (os.Root.FS) so a
// symbolic link in a plugin cannot point outside the repository.
func Load(fsys fs.FS, dir string) (*Manifest, []Problem) {
	file := path.Join(dir, FileName)
	data, err := readBounded(fsys, file)
	if err != nil {
		return nil, []Problem{{File: file, Line: 1, Message: err.Error()}}
	}
	m, problems := Parse(file, data)
	if m == nil {
		return nil, problems
	}
	var doc = mustRoot(data)
	// The folder names the plugin, so a repository cannot hold two
	// plugins of one name.
	if folder := path.Base(dir); m.Name != folder {
		problems = append(problems, Problem{File: file, Line: lineOf(doc, []string{"name"}), Message: "name " + m.Name + " differs from the plugin's folder " + folder})
	}
	missing := func(keys []string, name string) {
		if _, err := fs.Stat(fsys, path.Join(dir, name)); err != nil {
			problems = append(problems, Problem{File: file, Line: lineOf(doc, keys), Message: "file " + name + " is not in the plugin's folder"})
		}
	}
	if m.Icon != "" && localPath(m.Icon) {
		missing([]string{"icon"}, m.Icon)
	}
	if t := m.Entry.Theme; t != nil && t.Logo != "" {
		missing([]string{"entry", "theme", "logo"}, t.Logo)
	}
	if w := m.Entry.Wasm; w != nil {
		keys := []string{"entry", "wasm", "module"}
		sum, err := digest(fsys, path.Join(dir, w.Module))
		switch {
		case err != nil:
			problems = append(problems, Problem{File: file, Line: lineOf(doc, keys), Message: "module " + w.Module + ": " + err.Error()})
		case sum != w.SHA256:
			problems = append(problems, Problem{File: file, Line: lineOf(doc, []string{"entry", "wasm", "sha256"}),
				Message: "module " + w.Module + " has sha256 " + sum + ", not the declared " + w.SHA256})
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return m, nil
}

func readBounded(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errors.New("no " + FileName + " in the plugin's folder")
		}
		return nil, err
	}
	defer f.Close()
	// One byte more than allowed, so Parse reports the size.
	return io.ReadAll(io.LimitReader(f, MaxSize+1))
}

func digest(fsys fs.FS, name string) (string, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return "", errors.New("not in the plugin's folder")
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
