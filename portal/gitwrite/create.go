package gitwrite

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/catalog"
)

// defaultFolders is where the first object of a kind goes when the
// repository holds none to stand beside: the layout of this project's own
// platform repository.
var defaultFolders = map[string]string{
	"Template": "catalog",
	"Quota":    "policies/quotas",
	"Plugin":   "policies/plugins",
}

// kustomizationFiles are the names kustomize reads in a folder, in its order.
var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// create writes the new object into a file of its own, placed by the
// repository's conventions, and lists that file in the nearest
// kustomization above it so that the agent's build picks it up.
func create(dir string, paths []string, c Change) (*Result, error) {
	body, category, err := newDocument(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %v", ErrInvalidChange, c.Kind, c.Name, err)
	}
	var existing []string
	var siblings []*document
	var sameCategory []*document
	err = scan(dir, paths, []string{c.Kind}, func(d *document, h *header) {
		switch {
		case h.defines(c.Kind, c.Name):
			existing = append(existing, d.file)
		case h.defines(c.Kind, ""):
			siblings = append(siblings, d)
			if category != "" && h.Spec.Category == category {
				sameCategory = append(sameCategory, d)
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", c.Kind, c.Name, err)
	}
	if len(existing) > 0 {
		return nil, fmt.Errorf("%w: %s %q is already defined in %s; edit it instead", ErrAlreadyExists, c.Kind, c.Name, strings.Join(existing, " and "))
	}
	folder := placement(dir, c.Kind, category, siblings, sameCategory)
	file := path.Join(folder, c.Name+".yaml")
	abs := filepath.Join(dir, filepath.FromSlash(file))
	if _, err := os.Lstat(abs); err == nil {
		return nil, fmt.Errorf("%w: %s already exists (it does not define %s %q); rename the object or move that file", ErrAlreadyExists, file, c.Kind, c.Name)
	}
	kust, entry, err := nearestKustomization(dir, folder, file)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(abs, body, 0o644); err != nil {
		return nil, err
	}
	added, err := editResources(dir, kust, func(list []string) ([]string, bool) {
		if slices.Contains(list, entry) {
			return list, false
		}
		return insertSorted(list, entry), true
	})
	if err != nil {
		return nil, err
	}
	changes := []string{fmt.Sprintf("created %s (%s %s)", file, c.Kind, c.Name)}
	if added {
		changes = append(changes, fmt.Sprintf("%s: resources + %s", kust, entry))
	}
	return &Result{File: file, Files: []string{file, kust}, Changes: changes}, nil
}

// newDocument renders the object as the catalog writes one: a leading
// "---", then apiVersion, kind, metadata (name, labels, annotations only:
// the overlay sets the namespace) and the other fields with empty values
// left out. It also returns a Template's category.
func newDocument(c Change) ([]byte, string, error) {
	data, err := json.Marshal(c.Object)
	if err != nil {
		return nil, "", fmt.Errorf("encode the object: %w", err)
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, "", err
	}
	meta := map[string]any{"name": c.Name}
	if m, ok := obj["metadata"].(map[string]any); ok {
		for _, k := range []string{"labels", "annotations"} {
			if v, ok := m[k].(map[string]any); ok && len(v) > 0 {
				meta[k] = v
			}
		}
	}
	root := &yaml.Node{Kind: yaml.MappingNode}
	root.Content = append(root.Content,
		keyNode("apiVersion"), encodeValue(streamv1.GroupVersion.String()),
		keyNode("kind"), encodeValue(c.Kind),
		keyNode("metadata"), metadataNode(meta))
	rest := make([]string, 0, len(obj))
	for k := range obj {
		if !slices.Contains(notFromTheObject, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		if v, ok := catalog.PruneEmpty(obj[k]); ok {
			root.Content = append(root.Content, keyNode(k), encodeValue(v))
		}
	}
	if len(root.Content) == 6 {
		return nil, "", fmt.Errorf("the object has no fields besides its metadata")
	}
	out, err := encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}})
	if err != nil {
		return nil, "", err
	}
	category := ""
	if c.Kind == "Template" {
		if spec, ok := obj["spec"].(map[string]any); ok {
			category, _ = spec["category"].(string)
		}
	}
	return append([]byte("---\n"), out...), category, nil
}

// metadataNode keeps name first, as every file of the catalog has it.
func metadataNode(meta map[string]any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	n.Content = append(n.Content, keyNode("name"), encodeValue(meta["name"]))
	for _, k := range []string{"labels", "annotations"} {
		if v, ok := meta[k]; ok {
			n.Content = append(n.Content, keyNode(k), encodeValue(v))
		}
	}
	return n
}

// placement is the folder for a new object: beside the objects of its
// kind, and for a Template beside those of its category. A category no
// template has yet gets a folder of its own when the catalog is grouped in
// folders (its templates sit below the kustomization that lists them).
func placement(repo, kind, category string, siblings, sameCategory []*document) string {
	if len(sameCategory) > 0 {
		return commonestFolder(sameCategory)
	}
	if len(siblings) == 0 {
		folder := defaultFolders[kind]
		if kind == "Template" && category != "" {
			folder = path.Join(folder, catalog.Slug(category))
		}
		return folder
	}
	folder := commonestFolder(siblings)
	if kind != "Template" || category == "" {
		return folder
	}
	kust, _, err := nearestKustomization(repo, folder, path.Join(folder, "x.yaml"))
	if err != nil || path.Dir(kust) == folder {
		return folder
	}
	return path.Join(path.Dir(kust), catalog.Slug(category))
}

func commonestFolder(docs []*document) string {
	count := map[string]int{}
	for _, d := range docs {
		count[path.Dir(d.file)]++
	}
	best := ""
	for f, n := range count {
		if best == "" || n > count[best] || (n == count[best] && f < best) {
			best = f
		}
	}
	return best
}

// nearestKustomization is the kustomization file in folder or the closest
// folder above it, and file's path relative to it: the entry that makes
// kustomize build the new file.
func nearestKustomization(repo, folder, file string) (string, string, error) {
	for f := folder; ; f = path.Dir(f) {
		for _, name := range kustomizationFiles {
			k := path.Join(f, name)
			if info, err := os.Stat(filepath.Join(repo, filepath.FromSlash(k))); err == nil && !info.IsDir() {
				rel := strings.TrimPrefix(file, f+"/")
				if f == "." {
					rel = file
				}
				return k, rel, nil
			}
		}
		if f == "." || f == "/" || f == "" {
			return "", "", fmt.Errorf("%w: no kustomization.yaml in %s or above it, so the agent would never apply a file placed there", ErrInvalidChange, folder)
		}
	}
}

// removeFromKustomizations takes file out of every kustomization's
// resources in the repository and returns the changes.
func removeFromKustomizations(dir, file string) ([]string, []string, error) {
	var kusts []string
	err := scan(dir, nil, []string{"Kustomization"}, func(d *document, h *header) {
		if h.Kind != "Kustomization" {
			return
		}
		for _, r := range h.Resources {
			if path.Join(path.Dir(d.file), r) == file && !slices.Contains(kusts, d.file) {
				kusts = append(kusts, d.file)
			}
		}
	})
	if err != nil {
		return nil, nil, err
	}
	var changes []string
	for _, k := range kusts {
		var gone []string
		if _, err := editResources(dir, k, func(list []string) ([]string, bool) {
			out := list[:0:0]
			for _, r := range list {
				if path.Join(path.Dir(k), r) == file {
					gone = append(gone, r)
					continue
				}
				out = append(out, r)
			}
			return out, len(gone) > 0
		}); err != nil {
			return nil, nil, err
		}
		for _, r := range gone {
			changes = append(changes, fmt.Sprintf("%s: resources - %s", k, r))
		}
	}
	return kusts, changes, nil
}

// insertSorted puts entry before the first entry that sorts after it when
// the list is sorted, else at its end.
func insertSorted(list []string, entry string) []string {
	if !sort.StringsAreSorted(list) {
		return append(list, entry)
	}
	i := sort.SearchStrings(list, entry)
	return slices.Insert(slices.Clone(list), i, entry)
}

// editResources changes the resources list of the Kustomization document
// in file kust. A block list is edited line by line, keeping the file's
// comments and its spelling of every other entry; other shapes are
// re-emitted.
func editResources(repo, kust string, change func([]string) ([]string, bool)) (bool, error) {
	abs := filepath.Join(repo, filepath.FromSlash(kust))
	data, err := os.ReadFile(abs)
	if err != nil {
		return false, err
	}
	for _, r := range splitDocuments(data) {
		d := &document{file: kust, data: data, start: r[0], end: r[1], node: &yaml.Node{}}
		var h header
		if yaml.Unmarshal(d.body(), d.node) != nil || d.node.Decode(&h) != nil || h.Kind != "Kustomization" {
			continue
		}
		list, changed := change(h.Resources)
		if !changed {
			return false, nil
		}
		body, err := resourcesEdited(d, list)
		if err != nil {
			return false, fmt.Errorf("edit the resources of %s: %w", kust, err)
		}
		return true, os.WriteFile(abs, d.replaced(body), 0o644)
	}
	return false, fmt.Errorf("%s holds no Kustomization", kust)
}

func resourcesEdited(d *document, list []string) ([]byte, error) {
	root := d.node.Content[0]
	var seq *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "resources" {
			seq = root.Content[i+1]
		}
	}
	text := string(d.body())
	trailingNewline := strings.HasSuffix(text, "\n")
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if seq != nil && seq.Kind == yaml.SequenceNode && seq.Style&yaml.FlowStyle == 0 && len(seq.Content) > 0 && len(list) > 0 {
		if out, ok := editListLines(lines, seq, list); ok {
			s := strings.Join(out, "\n")
			if trailingNewline {
				s += "\n"
			}
			return []byte(s), nil
		}
	}
	// Re-emit: a flow or empty list, or one whose items span lines.
	items := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range list {
		items.Content = append(items.Content, encodeValue(r))
	}
	if seq != nil {
		*seq = *withComments(items, seq)
	} else {
		root.Content = append(root.Content, keyNode("resources"), items)
	}
	return encode(d.node)
}

// editListLines rewrites a block list of one-line scalars: removed entries
// lose their line, new ones get a line shaped like their neighbours'.
func editListLines(lines []string, seq *yaml.Node, list []string) ([]string, bool) {
	type item struct {
		value string
		line  int // 0-based; -1: new
	}
	old := map[string]int{}
	for _, n := range seq.Content {
		if n.Kind != yaml.ScalarNode || n.Line < 1 || n.Line > len(lines) {
			return nil, false
		}
		if _, dup := old[n.Value]; dup {
			return nil, false
		}
		old[n.Value] = n.Line - 1
	}
	first := seq.Content[0]
	prefix := []rune(lines[first.Line-1])
	if first.Column-1 > len(prefix) {
		return nil, false
	}
	itemPrefix := string(prefix[:first.Column-1])
	if strings.TrimSpace(itemPrefix) != "-" {
		return nil, false
	}
	// Each kept entry keeps its line; a new entry is written just before
	// the entry that follows it in list (or after the last line).
	keep := map[int]bool{}
	insertBefore := map[int][]string{}
	var atEnd []string
	for i, v := range list {
		if l, ok := old[v]; ok {
			keep[l] = true
			continue
		}
		line := itemPrefix + scalarText(v)
		placed := false
		for _, next := range list[i+1:] {
			if l, ok := old[next]; ok {
				insertBefore[l] = append(insertBefore[l], line)
				placed = true
				break
			}
		}
		if !placed {
			atEnd = append(atEnd, line)
		}
	}
	last := seq.Content[len(seq.Content)-1].Line - 1
	var out []string
	for i, l := range lines {
		out = append(out, insertBefore[i]...)
		if _, isItem := lineItem(old, i); isItem && !keep[i] {
			continue
		}
		out = append(out, l)
		if i == last {
			out = append(out, atEnd...)
		}
	}
	return out, true
}

func lineItem(old map[string]int, line int) (string, bool) {
	for v, l := range old {
		if l == line {
			return v, true
		}
	}
	return "", false
}

// scalarText is v as a plain or quoted YAML scalar.
func scalarText(v string) string {
	out, err := yaml.Marshal(v)
	if err != nil {
		return v
	}
	return strings.TrimSuffix(string(out), "\n")
}

// remove deletes the object's document: the whole file, and its entries in
// kustomizations, when it is the file's only document.
func remove(dir string, paths []string, c Change) (*Result, error) {
	doc, _, err := locate(dir, paths, c.Kind, c.Name)
	if err != nil {
		return nil, err
	}
	abs := filepath.Join(dir, filepath.FromSlash(doc.file))
	others := false
	for _, r := range splitDocuments(doc.data) {
		if r[0] != doc.start && hasContent(doc.data[r[0]:r[1]]) {
			others = true
		}
	}
	res := &Result{File: doc.file, Files: []string{doc.file}}
	if others {
		if err := os.WriteFile(abs, withoutDocument(doc), 0o644); err != nil {
			return nil, err
		}
		res.Changes = []string{fmt.Sprintf("removed %s %s from %s (its other documents stay)", c.Kind, c.Name, doc.file)}
		return res, nil
	}
	if err := os.Remove(abs); err != nil {
		return nil, err
	}
	res.Changes = []string{fmt.Sprintf("deleted %s (%s %s)", doc.file, c.Kind, c.Name)}
	kusts, changes, err := removeFromKustomizations(dir, doc.file)
	if err != nil {
		return nil, err
	}
	if len(kusts) == 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("no kustomization listed %s", doc.file))
	}
	res.Files = append(res.Files, kusts...)
	res.Changes = append(res.Changes, changes...)
	return res, nil
}

// hasContent says whether a document holds more than blank and comment
// lines.
func hasContent(b []byte) bool {
	for _, l := range strings.Split(string(b), "\n") {
		if s := strings.TrimSpace(l); s != "" && !strings.HasPrefix(s, "#") {
			return true
		}
	}
	return false
}

// withoutDocument is the file without the document and the separator line
// that introduces it (or, for the first document, the one that ends it).
func withoutDocument(d *document) []byte {
	from, to := d.start, d.end
	if from > 0 {
		// The separator line before the body.
		i := strings.LastIndexByte(string(d.data[:from-1]), '\n')
		from = i + 1
	} else if to < len(d.data) {
		// The first document: drop the separator after it.
		if nl := strings.IndexByte(string(d.data[to:]), '\n'); nl >= 0 {
			to += nl + 1
		} else {
			to = len(d.data)
		}
	}
	out := append([]byte{}, d.data[:from]...)
	return append(out, d.data[to:]...)
}
