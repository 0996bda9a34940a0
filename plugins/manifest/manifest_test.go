package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

const webhook = `name: audit-exporter
version: 1.0.0
type: webhook
displayName: Audit exporter
events: [session.created, user.login]
permissions: ["events:session.*", "events:user.*"]
configSchema:
  type: object
  required: [endpoint]
  properties:
    endpoint: {type: string, format: uri}
entry:
  webhook:
    configKey: endpoint
`

func TestParse_accepts(t *testing.T) {
	m, problems := Parse("audit/plugin.yaml", []byte(webhook))
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	if m.Name != "audit-exporter" || m.Type != TypeWebhook || m.Entry.Webhook.ConfigKey != "endpoint" || !strings.Contains(string(m.ConfigSchema), `"format":"uri"`) {
		t.Fatalf("manifest: %+v", m)
	}
}

// TestParse_refusals: each broken manifest is refused with the line and
// message that say what is wrong.
func TestParse_refusals(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"bad YAML", "type: webhook", "type: web: hook", "p/plugin.yaml:3: invalid YAML: mapping values are not allowed in this context"},
		{"unknown field", "displayName:", "displayname:", `p/plugin.yaml:4: unknown field "displayname"`},
		{"duplicate key", "displayName: Audit exporter", "displayName: Audit exporter\nname: again", `p/plugin.yaml:5: mapping key "name" already defined at line 1`},
		{"name", "name: audit-exporter", "name: Audit_Exporter", `p/plugin.yaml:1: name "Audit_Exporter" must be a DNS label: lower-case letters, digits and '-', at most 63`},
		{"version", "version: 1.0.0", "version: latest", `p/plugin.yaml:2: version "latest" is not a semantic version (1.2.3)`},
		{"type", "type: webhook", "type: daemon", `p/plugin.yaml:3: type "daemon" is not one of extension, webhook, api-integration, ui-theme, cli`},
		{"icon", "displayName:", "icon: http://example.com/i.png\ndisplayName:", `p/plugin.yaml:4: icon "http://example.com/i.png" must be an https URL or a file in the plugin's folder`},
		{"icon escapes", "displayName:", "icon: ../other/icon.png\ndisplayName:", `p/plugin.yaml:4: icon "../other/icon.png" must be an https URL or a file in the plugin's folder`},
		{"unknown event", "session.created,", "session.exploded,", `p/plugin.yaml:5: unknown event "session.exploded" (known: session.created`},
		{"duplicate event", "user.login]", "user.login, user.login]", `p/plugin.yaml:5: event "user.login" is listed twice`},
		{"event without permission", `"events:user.*"]`, `"sessions:annotate"]`, `p/plugin.yaml:5: event "user.login" needs the permission "events:user.*"`},
		{"unknown permission", `"events:user.*"]`, `"events:user.*", "secrets:read"]`, `p/plugin.yaml:6: unknown permission "secrets:read" (known: events:session.*, events:user.*, sessions:annotate, sessions:hibernate, network:<host>)`},
		{"network to an address", `"events:user.*"]`, `"events:user.*", "network:10.0.0.1"]`, `p/plugin.yaml:6: permission "network:10.0.0.1": host "10.0.0.1" is an IP address; name a DNS host`},
		{"network wildcard", `"events:user.*"]`, `"events:user.*", "network:*.example.com"]`, `p/plugin.yaml:6: permission "network:*.example.com": host "*.example.com" is not a fully qualified DNS name`},
		{"schema not a schema", "type: object\n  required", "type: objekt\n  required", "p/plugin.yaml:7: configSchema is not a valid JSON Schema: at '/type': value must be one of 'array', 'boolean', 'integer', 'null', 'number', 'object', 'string'; at '/type': got string, want array"},
		{"schema not an object", "type: object\n  required", "type: string\n  required", "p/plugin.yaml:7: configSchema must describe an object (type: object)"},
		{"schema reads a file", "type: object\n  required", "type: object\n  $ref: file:///etc/passwd\n  required", `p/plugin.yaml:7: configSchema is not a valid JSON Schema: failing loading "file:///etc/passwd": reference to file:///etc/passwd refused`},
		{"no entry", "entry:\n  webhook:\n    configKey: endpoint\n", "", "p/plugin.yaml:1: entry is missing: a webhook plugin needs entry.webhook"},
		{"wrong entry", "  webhook:\n    configKey: endpoint\n", "  theme:\n    palette: {primary: '#112233'}\n", "p/plugin.yaml:13: a webhook plugin needs entry.webhook, not entry.theme"},
		{"two entries", "  webhook:\n", "  theme:\n    palette: {primary: '#112233'}\n  webhook:\n", "p/plugin.yaml:12: entry has theme and webhook: a plugin has exactly one"},
		{"plain http", "configKey: endpoint", "url: http://siem.example.com/in", `p/plugin.yaml:14: url "http://siem.example.com/in" is plain http: use https, or ask for the permission "network:siem.example.com"`},
		{"credentials in url", "configKey: endpoint", "url: https://u:p@siem.example.com/in", `p/plugin.yaml:14: url "https://u:p@siem.example.com/in" must be an absolute http(s) URL without credentials`},
		{"configKey not a uri", "configKey: endpoint", "configKey: token", `p/plugin.yaml:14: configKey "token" must be a required string property with format uri in configSchema`},
		{"too big", "displayName: Audit exporter", "displayName: " + strings.Repeat("a", MaxSize), fmt.Sprintf("p/plugin.yaml:1: manifest is %d bytes, more than 65536", len(webhook)-len("Audit exporter")+MaxSize)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := strings.Replace(webhook, tc.old, tc.new, 1)
			if data == webhook {
				t.Fatalf("%q not in the manifest", tc.old)
			}
			m, problems := Parse("p/plugin.yaml", []byte(data))
			if m != nil || len(problems) == 0 {
				t.Fatalf("accepted:\n%s", data)
			}
			if got := problems[0].String(); !strings.HasPrefix(got, tc.want) {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestParse_reportsEveryProblem(t *testing.T) {
	data := strings.NewReplacer("name: audit-exporter", "name: X", "version: 1.0.0", "version: one").Replace(webhook)
	_, problems := Parse("p/plugin.yaml", []byte(data))
	if len(problems) != 2 || problems[0].Line != 1 || problems[1].Line != 2 {
		t.Fatalf("want the name (line 1) and version (line 2) problems, got %v", problems)
	}
}

const theme = `name: ocean
version: 0.1.0
type: ui-theme
icon: icon.svg
entry:
  theme:
    palette: {primary: '#0b5394', text: '#zzzzzz', glow: '#ffffff'}
    logo: logo.svg
`

func TestParse_themePalette(t *testing.T) {
	_, problems := Parse("ocean/plugin.yaml", []byte(theme))
	want := []string{
		`ocean/plugin.yaml:7: unknown palette colour "glow" (known: primary, secondary, background, surface, text)`,
		`ocean/plugin.yaml:7: colour text "#zzzzzz" is not #rrggbb`,
	}
	if len(problems) != len(want) {
		t.Fatalf("got %v", problems)
	}
	for i := range want {
		if problems[i].String() != want[i] {
			t.Errorf("got  %s\nwant %s", problems[i], want[i])
		}
	}
}

const wasm = `name: notifier
version: 1.2.0
type: extension
entry:
  wasm:
    module: notifier.wasm
    sha256: %s
`

func TestLoad_checksFiles(t *testing.T) {
	module := []byte("\x00asm\x01\x00\x00\x00")
	sum := sha256.Sum256(module)
	good := hex.EncodeToString(sum[:])
	fsys := fstest.MapFS{
		"notifier/plugin.yaml":   {Data: []byte(strings.Replace(wasm, "%s", good, 1))},
		"notifier/notifier.wasm": {Data: module},
		"tampered/plugin.yaml":   {Data: []byte(strings.NewReplacer("%s", strings.Repeat("0", 64), "notifier", "tampered").Replace(wasm))},
		"tampered/tampered.wasm": {Data: module},
		"ocean/plugin.yaml":      {Data: []byte(strings.Replace(theme, ", text: '#zzzzzz', glow: '#ffffff'", "", 1))},
		"ocean/icon.svg":         {Data: []byte("<svg/>")},
		"empty/README.md":        {Data: []byte("no manifest")},
		"renamed/plugin.yaml":    {Data: []byte(strings.Replace(wasm, "%s", good, 1))},
		"renamed/notifier.wasm":  {Data: module},
	}
	if m, problems := Load(fsys, "notifier"); m == nil {
		t.Fatalf("refused: %v", problems)
	}
	for dir, want := range map[string]string{
		"tampered": "tampered/plugin.yaml:7: module tampered.wasm has sha256 " + good + ", not the declared 0000",
		"ocean":    "ocean/plugin.yaml:8: file logo.svg is not in the plugin's folder",
		"empty":    "empty/plugin.yaml:1: no plugin.yaml in the plugin's folder",
		"renamed":  "renamed/plugin.yaml:1: name notifier differs from the plugin's folder renamed",
	} {
		_, problems := Load(fsys, dir)
		if len(problems) != 1 || !strings.HasPrefix(problems[0].String(), want) {
			t.Errorf("%s: got %v, want %s", dir, problems, want)
		}
	}
}

func TestRisk(t *testing.T) {
	for perm, want := range map[string]Risk{
		"events:session.*": RiskLow, "events:user.*": RiskMedium, "network:hooks.slack.com": RiskMedium,
		"network:hooks.slack.com:8443": RiskMedium, "sessions:annotate": RiskMedium, "sessions:hibernate": RiskHigh,
	} {
		if got, err := RiskOf(perm); err != nil || got != want {
			t.Errorf("%s: got %s %v, want %s", perm, got, err, want)
		}
	}
	if !RiskHigh.Exceeds(RiskMedium) || RiskLow.Exceeds(RiskLow) || !Risk("hihg").Exceeds(RiskHigh) {
		t.Error("risk order")
	}
}
