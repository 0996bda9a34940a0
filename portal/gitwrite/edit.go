package gitwrite

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// editDocument rewrites one YAML document so that its fields other than
// apiVersion, kind, metadata and status equal want, touching as few lines
// as it can: an admin reviewing the pull request should see the field that
// changed, not the document re-serialised, and the comments in Git should
// survive.
//
// It works on the text, guided by the parsed nodes' positions: a changed
// scalar on its own line is replaced in place (keeping its quoting style and
// its line comment); a removed key loses its lines; new keys are appended
// to their mapping; anything else (a list that grew, a multi-line string, a
// flow-style collection) is re-emitted as the smallest "key: value" block
// that holds it. Only if the document root itself cannot be edited like
// that is the whole document re-emitted.
//
// canon is the document as the object's type reads it (see canonical):
// values equal there are left alone, however they are spelled in Git.
func editDocument(body []byte, doc *yaml.Node, canon, want map[string]any) ([]byte, error) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, fmt.Errorf("not a single YAML document")
	}
	text := string(body)
	trailingNewline := strings.HasSuffix(text, "\n")
	e := &editor{lines: strings.Split(strings.TrimSuffix(text, "\n"), "\n")}
	if !e.mapping(doc.Content[0], canon, want, len(e.lines)) {
		doc.Content[0] = merge(doc.Content[0], canon, true, want)
		stripFootComments(doc.Content[0])
		return encode(doc)
	}
	out, err := e.apply()
	if err != nil {
		return nil, err
	}
	if trailingNewline {
		out += "\n"
	}
	return []byte(out), nil
}

// edit replaces lines [from, to) with lines.
type edit struct {
	from, to int
	lines    []string
}

type editor struct {
	lines []string
	edits []edit
}

func (e *editor) apply() (string, error) {
	sort.SliceStable(e.edits, func(i, j int) bool { return e.edits[i].from < e.edits[j].from })
	var out []string
	at := 0
	for _, ed := range e.edits {
		if ed.from < at || ed.to < ed.from || ed.to > len(e.lines) {
			return "", fmt.Errorf("internal error: overlapping YAML edits at line %d", ed.from+1)
		}
		out = append(out, e.lines[at:ed.from]...)
		out = append(out, ed.lines...)
		at = ed.to
	}
	out = append(out, e.lines[at:]...)
	return strings.Join(out, "\n"), nil
}

// value edits node, whose text ends before line end, to want. It returns
// false, having added no edit, when node cannot be edited in place; its
// parent then re-emits it.
func (e *editor) value(node *yaml.Node, canon any, hasCanon bool, want any, end int) bool {
	if hasCanon && equal(canon, want) {
		return true
	}
	mark := len(e.edits)
	var ok bool
	switch w := want.(type) {
	case map[string]any:
		c, _ := canon.(map[string]any)
		ok = e.mapping(node, c, w, end)
	case []any:
		c, _ := canon.([]any)
		ok = e.sequence(node, c, w, end)
	default:
		ok = e.scalar(node, want)
	}
	if !ok {
		e.edits = e.edits[:mark]
	}
	return ok
}

func (e *editor) mapping(node *yaml.Node, canon, want map[string]any, end int) bool {
	if node.Kind != yaml.MappingNode || node.Style&yaml.FlowStyle != 0 || len(node.Content) == 0 {
		return false
	}
	seen := map[string]bool{}
	removed, last := 0, 0
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		seen[k.Value] = true
		first, next := k.Line-1, end
		if i+2 < len(node.Content) {
			next = node.Content[i+2].Line - 1
		}
		pairEnd := e.shrink(first, next)
		last = pairEnd
		w, inWant := want[k.Value]
		c, inCanon := canon[k.Value]
		switch {
		case !inWant && !inCanon:
			// The object's type does not know this field: keep it.
		case !inWant:
			if !e.startsLine(k) {
				return false // the first key of a list item shares the "- "
			}
			removed++
			e.edits = append(e.edits, edit{from: first, to: pairEnd})
		case !e.value(v, c, inCanon, w, pairEnd):
			e.edits = append(e.edits, edit{from: first, to: pairEnd, lines: e.pair(k, merge(v, c, inCanon, w))})
		}
	}
	var added []string
	for k, w := range want {
		if c, inCanon := canon[k]; !seen[k] && !(inCanon && equal(c, w)) {
			added = append(added, k)
		}
	}
	if removed == len(node.Content)/2 && len(added) == 0 {
		return false // an empty block mapping cannot be written
	}
	if len(added) > 0 {
		sort.Strings(added)
		m := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range added {
			m.Content = append(m.Content, keyNode(k), encodeValue(want[k]))
		}
		indent := node.Content[0].Column - 1
		lines, err := e.emit(m, strings.Repeat(" ", indent), indent)
		if err != nil {
			return false
		}
		e.edits = append(e.edits, edit{from: last, to: last, lines: lines})
	}
	return true
}

func (e *editor) sequence(node *yaml.Node, canon, want []any, end int) bool {
	// Items are matched by position, so only a list of the same length is
	// edited item by item; one that grew or shrank is re-emitted whole.
	if node.Kind != yaml.SequenceNode || node.Style&yaml.FlowStyle != 0 || len(node.Content) != len(want) {
		return false
	}
	for i, item := range node.Content {
		next := end
		if i+1 < len(node.Content) {
			next = node.Content[i+1].Line - 1
		}
		c, hasCanon := index(canon, i)
		if !e.value(item, c, hasCanon, want[i], e.shrink(item.Line-1, next)) {
			return false
		}
	}
	return true
}

// scalar replaces a scalar written on one line, keeping what precedes it
// ("key: " or "- ") and what follows it (spaces, a line comment).
func (e *editor) scalar(node *yaml.Node, want any) bool {
	if node.Kind != yaml.ScalarNode || node.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 || node.Line < 1 || node.Line > len(e.lines) {
		return false
	}
	line := []rune(e.lines[node.Line-1])
	start := node.Column - 1
	if start < 0 || start > len(line) {
		return false
	}
	rest := string(line[start:])
	n := scalarLength(node, rest)
	if n < 0 {
		return false
	}
	tail := rest[n:]
	if t := strings.TrimLeft(tail, " \t\r"); t != "" && !strings.HasPrefix(t, "#") {
		return false // more than one scalar on the line
	}
	repl := newScalar(node, want)
	repl.HeadComment, repl.LineComment, repl.FootComment = "", "", ""
	out, err := yaml.Marshal(repl)
	if err != nil {
		return false
	}
	s := strings.TrimSuffix(string(out), "\n")
	if repl.Kind != yaml.ScalarNode || strings.Contains(s, "\n") {
		return false
	}
	e.edits = append(e.edits, edit{from: node.Line - 1, to: node.Line, lines: []string{string(line[:start]) + s + tail}})
	return true
}

// scalarLength is the length in bytes of node's own text at the start of
// rest, or -1 when that text is not the whole scalar (a plain scalar folded
// over several lines, an escape this cannot follow): the parent then
// re-emits it.
func scalarLength(node *yaml.Node, rest string) int {
	var text string
	switch node.Style {
	case 0:
		text = node.Value
	case yaml.SingleQuotedStyle:
		text = "'" + strings.ReplaceAll(node.Value, "'", "''") + "'"
	case yaml.DoubleQuotedStyle:
		if !strings.HasPrefix(rest, `"`) {
			return -1
		}
		for i := 1; i < len(rest); i++ {
			if rest[i] == '\\' {
				i++
				continue
			}
			if rest[i] == '"' {
				text = rest[:i+1]
				break
			}
		}
		var v string
		if text == "" || yaml.Unmarshal([]byte(text), &v) != nil || v != node.Value {
			return -1
		}
	default:
		return -1
	}
	if text == "" || !strings.HasPrefix(rest, text) {
		return -1
	}
	return len(text)
}

// pair renders "key: value" at the key's position: its first line keeps
// what precedes the key on the line (indentation, or "- " of a list item).
func (e *editor) pair(k, v *yaml.Node) []string {
	key := *k
	// The key's head comment is above the replaced lines and stays there.
	key.HeadComment, key.FootComment = "", ""
	stripFootComments(v)
	line := []rune(e.lines[k.Line-1])
	prefix := string(line[:min(k.Column-1, len(line))])
	lines, err := e.emit(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{&key, v}}, prefix, k.Column-1)
	if err != nil {
		// Encoding nodes built from decoded JSON does not fail; should it,
		// keep the text rather than lose it.
		return e.lines[k.Line-1 : k.Line]
	}
	return lines
}

// emit encodes node as block YAML: the first line after prefix, the others
// indented by indent spaces.
func (e *editor) emit(node *yaml.Node, prefix string, indent int) ([]string, error) {
	out, err := encode(node)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	pad := strings.Repeat(" ", indent)
	for i := range lines {
		switch {
		case i == 0:
			lines[i] = prefix + lines[i]
		case lines[i] != "":
			lines[i] = pad + lines[i]
		}
	}
	return lines, nil
}

// shrink moves end back over blank and comment-only lines, but not onto
// first: those lines hold the next key's head comment, or a comment that
// closes this block, and both stay where they are.
func (e *editor) shrink(first, end int) int {
	for end > first+1 {
		s := strings.TrimSpace(e.lines[end-1])
		if s != "" && !strings.HasPrefix(s, "#") {
			break
		}
		end--
	}
	return end
}

// startsLine says whether k is the first thing on its line.
func (e *editor) startsLine(k *yaml.Node) bool {
	line := []rune(e.lines[k.Line-1])
	return k.Column-1 <= len(line) && strings.TrimSpace(string(line[:k.Column-1])) == ""
}

// merge returns old brought to want as nodes, keeping the nodes (styles,
// comments) of what did not change. It is used where text edits cannot go.
func merge(old *yaml.Node, canon any, hasCanon bool, want any) *yaml.Node {
	if hasCanon && equal(canon, want) {
		return old
	}
	switch w := want.(type) {
	case map[string]any:
		if old.Kind != yaml.MappingNode {
			return withComments(encodeValue(want), old)
		}
		c, _ := canon.(map[string]any)
		out := *old
		out.Content = nil
		seen := map[string]bool{}
		for i := 0; i+1 < len(old.Content); i += 2 {
			k, v := old.Content[i], old.Content[i+1]
			seen[k.Value] = true
			wv, inWant := w[k.Value]
			cv, inCanon := c[k.Value]
			switch {
			case !inWant && inCanon:
				continue
			case !inWant:
				out.Content = append(out.Content, k, v)
			default:
				out.Content = append(out.Content, k, merge(v, cv, inCanon, wv))
			}
		}
		var added []string
		for k, wv := range w {
			if cv, inCanon := c[k]; !seen[k] && !(inCanon && equal(cv, wv)) {
				added = append(added, k)
			}
		}
		sort.Strings(added)
		for _, k := range added {
			out.Content = append(out.Content, keyNode(k), encodeValue(w[k]))
		}
		return &out
	case []any:
		if old.Kind != yaml.SequenceNode {
			return withComments(encodeValue(want), old)
		}
		c, _ := canon.([]any)
		out := *old
		out.Content = nil
		for i, wv := range w {
			if i < len(old.Content) {
				cv, hasCanon := index(c, i)
				out.Content = append(out.Content, merge(old.Content[i], cv, hasCanon, wv))
			} else {
				out.Content = append(out.Content, encodeValue(wv))
			}
		}
		return &out
	default:
		return withComments(newScalar(old, want), old)
	}
}

// newScalar encodes a scalar, keeping the old node's quoting style when
// both are strings (a double-quoted displayName stays double-quoted).
func newScalar(old *yaml.Node, want any) *yaml.Node {
	n := encodeValue(want)
	// A plain old string leaves the choice to the encoder, which quotes
	// what would otherwise read as a number or a bool; a multi-line new
	// string stays literal.
	if n.Kind == yaml.ScalarNode && old.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && old.ShortTag() == "!!str" &&
		old.Style != 0 && n.Style&yaml.LiteralStyle == 0 {
		n.Style = old.Style
	}
	return n
}

func withComments(n, old *yaml.Node) *yaml.Node {
	n.HeadComment, n.LineComment, n.FootComment = old.HeadComment, old.LineComment, old.FootComment
	return n
}

// stripFootComments drops foot comments from a subtree that is re-emitted:
// the comment lines that end a block are left in the text (see shrink), and
// would otherwise be written twice.
func stripFootComments(n *yaml.Node) {
	n.FootComment = ""
	for _, c := range n.Content {
		stripFootComments(c)
	}
}

func encodeValue(v any) *yaml.Node {
	n := &yaml.Node{}
	if err := n.Encode(v); err != nil {
		// JSON-shaped values always encode; keep the type checker honest.
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprint(v)}
	}
	return n
}

func keyNode(k string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}
}

// encode writes nodes the way the repository is written: two-space
// indentation, list items indented under their key.
func encode(n *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func index(s []any, i int) (any, bool) {
	if i < len(s) {
		return s[i], true
	}
	return nil, false
}
