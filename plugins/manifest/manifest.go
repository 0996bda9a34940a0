// Package manifest reads and checks a plugin's manifest (plugin.yaml): what
// the plugin is, the events it subscribes to, the permissions it needs with
// their risk, the JSON Schema of its configuration and its entry (a
// WebAssembly module, a webhook target or a theme). Every problem names its
// file and line, like `streamspace validate`.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// FileName is the manifest's name in a plugin's folder.
const FileName = "plugin.yaml"

// MaxSize bounds a manifest: the catalog of a repository is published in
// its status, which etcd keeps under 1.5 MiB.
const MaxSize = 64 << 10

// Type is what kind of plugin it is, which decides its entry.
type Type string

const (
	TypeExtension      Type = "extension"
	TypeWebhook        Type = "webhook"
	TypeAPIIntegration Type = "api-integration"
	TypeUITheme        Type = "ui-theme"
	TypeCLI            Type = "cli"
)

// entryOf is the one entry each type must have.
var entryOf = map[Type]string{
	TypeExtension:      "wasm",
	TypeAPIIntegration: "wasm",
	TypeCLI:            "wasm",
	TypeWebhook:        "webhook",
	TypeUITheme:        "theme",
}

// Events are the platform events a plugin can subscribe to.
var Events = []string{
	"session.created", "session.started", "session.stopped", "session.hibernated", "session.woken", "session.deleted",
	"user.created", "user.updated", "user.deleted", "user.login", "user.logout",
}

// Manifest is a plugin.yaml.
type Manifest struct {
	Name        string   `yaml:"name" json:"name"`
	Version     string   `yaml:"version" json:"version"`
	Type        Type     `yaml:"type" json:"type"`
	DisplayName string   `yaml:"displayName" json:"displayName,omitempty"`
	Description string   `yaml:"description" json:"description,omitempty"`
	Category    string   `yaml:"category" json:"category,omitempty"`
	Icon        string   `yaml:"icon" json:"icon,omitempty"`
	Events      []string `yaml:"events" json:"events,omitempty"`
	Permissions []string `yaml:"permissions" json:"permissions,omitempty"`
	// ConfigSchema is the JSON Schema of the plugin's configuration, as
	// JSON.
	ConfigSchema json.RawMessage `yaml:"-" json:"configSchema,omitempty"`
	Entry        Entry           `yaml:"entry" json:"entry"`
}

// Entry is how the plugin runs: exactly one of these, as its type says.
type Entry struct {
	Wasm    *WasmEntry    `yaml:"wasm" json:"wasm,omitempty"`
	Webhook *WebhookEntry `yaml:"webhook" json:"webhook,omitempty"`
	Theme   *ThemeEntry   `yaml:"theme" json:"theme,omitempty"`
}

// WasmEntry is a WebAssembly module in the plugin's folder, pinned by
// digest.
type WasmEntry struct {
	Module string `yaml:"module" json:"module"`
	SHA256 string `yaml:"sha256" json:"sha256"`
}

// WebhookEntry is where events are sent: a fixed URL, or the URL an admin
// puts in the configuration property ConfigKey.
type WebhookEntry struct {
	URL       string `yaml:"url" json:"url,omitempty"`
	ConfigKey string `yaml:"configKey" json:"configKey,omitempty"`
}

// ThemeEntry is a palette and a logo for the web UI.
type ThemeEntry struct {
	Palette map[string]string `yaml:"palette" json:"palette"`
	// Logo is an image file in the plugin's folder.
	Logo string `yaml:"logo" json:"logo,omitempty"`
}

// PaletteKeys are the colours a theme may set.
var PaletteKeys = []string{"primary", "secondary", "background", "surface", "text"}

// Problem is one thing wrong with a manifest, where it is.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

func (p Problem) String() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message) }

var (
	namePattern    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	versionPattern = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$`) // as the Plugin CRD's spec.version
	sha256Pattern  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	colourPattern  = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	yamlLine       = regexp.MustCompile(`line (\d+)`)
)

// Parse reads the manifest in data (file names it in problems). It returns
// every problem found, not only the first; the manifest is usable only when
// there are none.
func Parse(file string, data []byte) (*Manifest, []Problem) {
	at := func(line int, format string, args ...any) Problem {
		return Problem{File: file, Line: line, Message: fmt.Sprintf(format, args...)}
	}
	if len(data) > MaxSize {
		return nil, []Problem{at(1, "manifest is %d bytes, more than %d", len(data), MaxSize)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, []Problem{at(errorLine(err), "invalid YAML: %s", trimYAMLError(err))}
	}
	root := rootOf(&doc)
	if root == nil {
		return nil, []Problem{at(max(doc.Line, 1), "a manifest is a YAML mapping")}
	}
	m := &Manifest{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var raw struct {
		Manifest     `yaml:",inline"`
		ConfigSchema any `yaml:"configSchema"`
	}
	if err := dec.Decode(&raw); err != nil {
		return nil, yamlProblems(file, err)
	}
	*m = raw.Manifest
	c := &checker{at: at, root: root}
	c.identity(m)
	c.events(m)
	c.entry(m)
	if raw.ConfigSchema != nil {
		m.ConfigSchema = c.configSchema(raw.ConfigSchema)
	}
	c.webhookTarget(m)
	if len(c.problems) > 0 {
		return nil, c.problems
	}
	return m, nil
}

// checker collects the problems of one manifest.
type checker struct {
	at       func(line int, format string, args ...any) Problem
	root     *yaml.Node
	problems []Problem
}

// fail records a problem at the line of the key path (e.g. "entry",
// "wasm", "sha256"), or of its deepest parent that exists.
func (c *checker) fail(keys []string, format string, args ...any) {
	c.problems = append(c.problems, c.at(lineOf(c.root, keys), format, args...))
}

func (c *checker) identity(m *Manifest) {
	if !namePattern.MatchString(m.Name) {
		c.fail([]string{"name"}, "name %q must be a DNS label: lower-case letters, digits and '-', at most 63", m.Name)
	}
	if !versionPattern.MatchString(m.Version) {
		c.fail([]string{"version"}, "version %q is not a semantic version (1.2.3)", m.Version)
	}
	if _, ok := entryOf[m.Type]; !ok {
		c.fail([]string{"type"}, "type %q is not one of extension, webhook, api-integration, ui-theme, cli", m.Type)
	}
	if m.Icon != "" {
		if u, err := url.Parse(m.Icon); err != nil || (u.Scheme != "https" && (u.Scheme != "" || !localPath(m.Icon))) {
			c.fail([]string{"icon"}, "icon %q must be an https URL or a file in the plugin's folder", m.Icon)
		}
	}
}

// events checks the subscriptions and the permissions: every permission
// is known, and every event subscribed to is covered by one.
func (c *checker) events(m *Manifest) {
	perms := map[string]bool{}
	for i, p := range m.Permissions {
		if perms[p] {
			c.fail([]string{"permissions", strconv.Itoa(i)}, "permission %q is listed twice", p)
		}
		perms[p] = true
		if _, err := RiskOf(p); err != nil {
			c.fail([]string{"permissions", strconv.Itoa(i)}, "%s", err)
		}
	}
	seen := map[string]bool{}
	for i, e := range m.Events {
		line := []string{"events", strconv.Itoa(i)}
		switch {
		case !slices.Contains(Events, e):
			c.fail(line, "unknown event %q (known: %s)", e, strings.Join(Events, ", "))
		case seen[e]:
			c.fail(line, "event %q is listed twice", e)
		case strings.HasPrefix(e, "session.") && !perms[PermSessionEvents]:
			c.fail(line, "event %q needs the permission %q", e, PermSessionEvents)
		case strings.HasPrefix(e, "user.") && !perms[PermUserEvents]:
			c.fail(line, "event %q needs the permission %q", e, PermUserEvents)
		}
		seen[e] = true
	}
}

// entry checks that the plugin has exactly the entry its type runs.
func (c *checker) entry(m *Manifest) {
	e := m.Entry
	var have []string
	for name, set := range map[string]bool{"wasm": e.Wasm != nil, "webhook": e.Webhook != nil, "theme": e.Theme != nil} {
		if set {
			have = append(have, name)
		}
	}
	slices.Sort(have)
	want, known := entryOf[m.Type]
	switch {
	case len(have) == 0:
		c.fail([]string{"entry"}, "entry is missing: a %s plugin needs entry.%s", m.Type, orAny(want))
		return
	case len(have) > 1:
		c.fail([]string{"entry"}, "entry has %s: a plugin has exactly one", strings.Join(have, " and "))
		return
	case known && have[0] != want:
		c.fail([]string{"entry", have[0]}, "a %s plugin needs entry.%s, not entry.%s", m.Type, want, have[0])
		return
	}
	switch {
	case e.Wasm != nil:
		if !localPath(e.Wasm.Module) || !strings.HasSuffix(e.Wasm.Module, ".wasm") {
			c.fail([]string{"entry", "wasm", "module"}, "module %q must be a .wasm file in the plugin's folder", e.Wasm.Module)
		}
		if !sha256Pattern.MatchString(e.Wasm.SHA256) {
			c.fail([]string{"entry", "wasm", "sha256"}, "sha256 must be the module's digest: 64 lower-case hex digits")
		}
	case e.Theme != nil:
		if len(e.Theme.Palette) == 0 {
			c.fail([]string{"entry", "theme"}, "theme needs a palette (%s)", strings.Join(PaletteKeys, ", "))
		}
		for _, k := range sortedKeys(e.Theme.Palette) {
			if !slices.Contains(PaletteKeys, k) {
				c.fail([]string{"entry", "theme", "palette", k}, "unknown palette colour %q (known: %s)", k, strings.Join(PaletteKeys, ", "))
			} else if !colourPattern.MatchString(e.Theme.Palette[k]) {
				c.fail([]string{"entry", "theme", "palette", k}, "colour %s %q is not #rrggbb", k, e.Theme.Palette[k])
			}
		}
		if e.Theme.Logo != "" && !localPath(e.Theme.Logo) {
			c.fail([]string{"entry", "theme", "logo"}, "logo %q must be a file in the plugin's folder", e.Theme.Logo)
		}
	}
}

// webhookTarget checks where a webhook plugin sends events: https, or
// plain http only to a host the plugin asks to reach (network:<host>, which
// an admin approves); or the configuration property that holds the URL.
func (c *checker) webhookTarget(m *Manifest) {
	w := m.Entry.Webhook
	if w == nil {
		return
	}
	keys := []string{"entry", "webhook"}
	switch {
	case (w.URL == "") == (w.ConfigKey == ""):
		c.fail(keys, "webhook needs exactly one of url and configKey")
	case w.URL != "":
		u, err := url.Parse(w.URL)
		switch {
		case err != nil || u.Host == "" || u.User != nil:
			c.fail(append(keys, "url"), "url %q must be an absolute http(s) URL without credentials", w.URL)
		case u.Scheme == "https":
		case u.Scheme == "http" && slices.Contains(m.Permissions, NetworkPermission(u.Host)):
		case u.Scheme == "http":
			c.fail(append(keys, "url"), "url %q is plain http: use https, or ask for the permission %q", w.URL, NetworkPermission(u.Host))
		default:
			c.fail(append(keys, "url"), "url %q must be https", w.URL)
		}
	default:
		if !schemaRequiresURI(m.ConfigSchema, w.ConfigKey) {
			c.fail(append(keys, "configKey"), "configKey %q must be a required string property with format uri in configSchema", w.ConfigKey)
		}
	}
}

// configSchema checks that the configuration's schema is a JSON Schema (by
// the 2020-12 meta-schema unless it names another draft) describing an
// object, and returns it as JSON.
func (c *checker) configSchema(v any) json.RawMessage {
	keys := []string{"configSchema"}
	data, err := json.Marshal(v)
	if err != nil {
		c.fail(keys, "configSchema is not JSON: %s", err)
		return nil
	}
	if _, err := CompileSchema(data); err != nil {
		c.fail(keys, "configSchema is not a valid JSON Schema: %s", err)
		return nil
	}
	if obj, _ := v.(map[string]any); obj["type"] != "object" {
		c.fail(keys, `configSchema must describe an object (type: object)`)
		return nil
	}
	return data
}

// schemaURL names a plugin's schema inside the compiler; nothing is ever
// loaded from it.
const schemaURL = "mem:///plugin/config-schema.json"

// CompileSchema compiles a configuration schema. References may only
// point inside the schema (or at the standard meta-schemas): a manifest
// must not make the agent read a file or fetch a URL.
func CompileSchema(data []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(refuseLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, errors.New(leafCauses(strings.ReplaceAll(err.Error(), schemaURL, "configSchema")))
	}
	return s, nil
}

// leafCauses keeps, of the library's indented tree of failures, the
// lines that say what is wrong ("at '/type': value must be one of …"),
// on one line: a condition message and a `file:line: message` have one.
func leafCauses(msg string) string {
	lines := strings.Split(msg, "\n")
	var out []string
	for _, l := range lines[1:] {
		l = strings.TrimPrefix(strings.TrimSpace(l), "- ")
		if !strings.HasSuffix(l, "' failed") {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return lines[0]
	}
	return strings.Join(out, "; ")
}

type refuseLoader struct{}

func (refuseLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("reference to %s refused: a configSchema may only refer inside itself", u)
}

// schemaRequiresURI reports whether the schema has key as a required
// string property with format uri.
func schemaRequiresURI(schema json.RawMessage, key string) bool {
	var s struct {
		Required   []string `json:"required"`
		Properties map[string]struct {
			Type   string `json:"type"`
			Format string `json:"format"`
		} `json:"properties"`
	}
	if json.Unmarshal(schema, &s) != nil {
		return false
	}
	p, ok := s.Properties[key]
	return ok && slices.Contains(s.Required, key) && p.Type == "string" && p.Format == "uri"
}

// localPath reports whether p names a file inside the plugin's folder.
func localPath(p string) bool {
	return p != "" && !strings.Contains(p, `\`) && !path.IsAbs(p) && path.Clean(p) == p && p != "." && !strings.HasPrefix(p, "../") && p != ".."
}

// rootOf returns the top mapping of a document, or nil.
func rootOf(doc *yaml.Node) *yaml.Node {
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	return doc.Content[0]
}

// mustRoot parses data that Parse already accepted.
func mustRoot(data []byte) *yaml.Node {
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc)
	return rootOf(&doc)
}

// lineOf returns the line of a key path in a mapping (a numeric key
// indexes a sequence), or of the deepest part of it that exists.
func lineOf(n *yaml.Node, keys []string) int {
	line := n.Line
	for _, k := range keys {
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					line, next = n.Content[i].Line, n.Content[i+1]
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(k); err == nil && i < len(n.Content) {
				next = n.Content[i]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

// yamlProblems splits a decoding error (yaml.v3 reports every unknown
// field and type mismatch at once, each with its line).
func yamlProblems(file string, err error) []Problem {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []Problem{{File: file, Line: errorLine(err), Message: "invalid YAML: " + trimYAMLError(err)}}
	}
	var out []Problem
	for _, msg := range te.Errors {
		text := trimYAMLError(errors.New(msg))
		if m := unknownField.FindStringSubmatch(text); m != nil {
			text = fmt.Sprintf("unknown field %q", m[1])
		}
		out = append(out, Problem{File: file, Line: errorLine(errors.New(msg)), Message: text})
	}
	return out
}

func errorLine(err error) int {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 1
}

var unknownField = regexp.MustCompile(`^field (\S+) not found in type`)

var yamlPrefix = regexp.MustCompile(`^(yaml: )?(unmarshal errors:\s*)?(line \d+: )?`)

func trimYAMLError(err error) string {
	return strings.TrimSpace(yamlPrefix.ReplaceAllString(err.Error(), ""))
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func orAny(s string) string {
	if s == "" {
		return "wasm, webhook or theme"
	}
	return s
}
