package gitwrite

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// document is one YAML document of a file: body is data[start:end], without
// its "---" line, so that the documents around it can be kept byte for byte.
type document struct {
	file       string // slash path relative to the repository root
	data       []byte // the whole file
	start, end int
	node       *yaml.Node // body parsed, a DocumentNode
}

func (d *document) body() []byte { return d.data[d.start:d.end] }

// replaced is the whole file with this document's body swapped for body.
func (d *document) replaced(body []byte) []byte {
	out := make([]byte, 0, len(d.data)-(d.end-d.start)+len(body))
	out = append(out, d.data[:d.start]...)
	out = append(out, body...)
	return append(out, d.data[d.end:]...)
}

// splitDocuments returns the [start, end) byte ranges of the documents of a
// multi-document YAML file. A separator is a line starting with "---" or
// "..." at column 0, which no block value can be: block content is indented.
func splitDocuments(data []byte) [][2]int {
	var docs [][2]int
	start := 0
	for off := 0; off < len(data); {
		lineEnd := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if lineEnd >= 0 {
			next = off + lineEnd + 1
		}
		if isSeparator(data[off:next]) {
			docs = append(docs, [2]int{start, off})
			start = next
		}
		off = next
	}
	return append(docs, [2]int{start, len(data)})
}

func isSeparator(line []byte) bool {
	line = bytes.TrimRight(line, "\r\n")
	for _, marker := range [][]byte{[]byte("---"), []byte("...")} {
		if rest, ok := bytes.CutPrefix(line, marker); ok && (len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t') {
			return true
		}
	}
	return false
}

// header is what identifies a document.
type header struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	// Spec.Category of a Template, to place a new one beside its kin.
	Spec struct {
		Category string `yaml:"category"`
	} `yaml:"spec"`
	// Resources of a Kustomization, which list the files of its objects.
	Resources []string `yaml:"resources"`
	// Patches of a Kustomization, to warn about overlays.
	Patches []struct {
		Path   string `yaml:"path"`
		Target *struct {
			Kind string `yaml:"kind"`
			Name string `yaml:"name"`
		} `yaml:"target"`
	} `yaml:"patches"`
}

// scan calls visit for every document of every YAML file under the search
// paths of repo whose text mentions one of words (all files without words).
// Folders named testdata and dot-folders are skipped; documents that do not
// parse are skipped too, since the agent reports broken YAML, not the
// write-back.
func scan(repo string, paths []string, words []string, visit func(d *document, h *header)) error {
	if len(paths) == 0 {
		paths = []string{"."}
	}
	for _, p := range paths {
		root := filepath.Join(repo, filepath.FromSlash(p))
		err := filepath.WalkDir(root, func(file string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() {
				if file != root && (strings.HasPrefix(e.Name(), ".") || e.Name() == "testdata") {
					return filepath.SkipDir
				}
				return nil
			}
			if ext := path.Ext(e.Name()); ext != ".yaml" && ext != ".yml" {
				return nil
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			if len(words) > 0 && !slices.ContainsFunc(words, func(w string) bool { return bytes.Contains(data, []byte(w)) }) {
				return nil
			}
			rel, err := filepath.Rel(repo, file)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			for _, r := range splitDocuments(data) {
				d := &document{file: rel, data: data, start: r[0], end: r[1], node: &yaml.Node{}}
				var h header
				if yaml.Unmarshal(d.body(), d.node) != nil || d.node.Decode(&h) != nil {
					continue
				}
				visit(d, &h)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("search %s: %w", p, err)
		}
	}
	return nil
}

// defines says whether h is the header of kind/name of our API group.
func (h *header) defines(kind, name string) bool {
	return h.Kind == kind && strings.HasPrefix(h.APIVersion, streamv1.GroupVersion.Group+"/") && (name == "" || h.Metadata.Name == name)
}

// locate finds the one document that defines kind/name under the search
// paths of repo. It also returns warnings about kustomizations that patch
// the object, since there a changed field may keep the overlay's value.
func locate(repo string, paths []string, kind, name string) (*document, []string, error) {
	where := "the repository"
	if len(paths) > 0 {
		where = strings.Join(paths, ", ")
	}
	var found []*document
	var warnings []string
	err := scan(repo, paths, []string{kind}, func(d *document, h *header) {
		switch {
		case h.defines(kind, name):
			found = append(found, d)
		case h.Kind == "Kustomization":
			for _, patch := range h.Patches {
				if t := patch.Target; t != nil && t.Kind == kind && (t.Name == "" || t.Name == name) {
					warnings = append(warnings, fmt.Sprintf("%s patches %s %s: a field changed here keeps the overlay's value in that environment", d.file, kind, name))
					break
				}
			}
		}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s %q: %w", kind, name, err)
	}
	sort.Strings(warnings)
	switch len(found) {
	case 0:
		return nil, nil, fmt.Errorf("%w: no YAML file in %s defines %s %q; write-back edits objects that are already in Git", ErrNotFound, where, kind, name)
	case 1:
		return found[0], warnings, nil
	default:
		var files []string
		for _, d := range found {
			files = append(files, d.file)
		}
		return nil, nil, fmt.Errorf("%w: %s %q is defined in %s", ErrAmbiguous, kind, name, strings.Join(files, " and "))
	}
}
