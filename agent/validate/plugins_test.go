package validate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamspace/streamspace/test/gitserver"
)

// slackManifest has a schema with a nested constraint (hours[i] ≤ 23).
const slackManifest = `name: slack
version: 1.0.0
type: webhook
events: [session.created]
permissions: ["events:session.*"]
configSchema:
  type: object
  properties:
    channel: {type: string}
    hours: {type: array, items: {type: integer, maximum: 23}}
  required: [channel]
entry:
  webhook:
    url: https://hooks.example.com/streamspace
`

// pluginsYAML is a PluginRepository (url, path) and two Plugins of it:
// slack-bad breaks the schema at hours[1] (line 32), slack-ok does not.
const pluginsYAML = `apiVersion: stream.space/v1alpha1
kind: PluginRepository
metadata:
  name: community
spec:
  url: %URL%
  path: plugins
---
apiVersion: stream.space/v1alpha1
kind: Plugin
metadata:
  name: slack-ok
spec:
  repository: {name: community}
  pluginName: slack
  version: 1.0.0
  config:
    channel: "#ops"
---
apiVersion: stream.space/v1alpha1
kind: Plugin
metadata:
  name: slack-bad
spec:
  repository: {name: community}
  pluginName: slack
  version: v1.0.0
  config:
    channel: "#ops"
    hours:
      - 8
      - 24
`

func writeTree(t *testing.T, url string, withPlugins bool) string {
	t.Helper()
	root := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("policies/plugins.yaml", strings.ReplaceAll(pluginsYAML, "%URL%", url))
	if withPlugins {
		write("plugins/slack/plugin.yaml", slackManifest)
	}
	return root
}

func wantOneConfigProblem(t *testing.T, root string) {
	t.Helper()
	problems, _, err := load(t).Repo(root)
	if err != nil {
		t.Fatal(err)
	}
	want := "policies/plugins.yaml:32: Plugin slack-bad: spec.config does not match the schema of slack v1.0.0: at '/hours/1': maximum: got 24, want 23"
	if len(problems) != 1 || problems[0].String() != want {
		t.Errorf("got %v\nwant [%s]", problems, want)
	}
}

// TestRepo_pluginConfig_schemaInTheTree: the plugin repository is a folder
// of the validated tree (its URL cannot be reached).
func TestRepo_pluginConfig_schemaInTheTree(t *testing.T) {
	wantOneConfigProblem(t, writeTree(t, "file:///nonexistent/plugins.git", true))
}

// TestRepo_pluginConfig_schemaInReachableRepository: the plugin repository
// is a real Git server; the manifest is read at the newest commit with the
// Plugin's version (a later version was pushed since).
func TestRepo_pluginConfig_schemaInReachableRepository(t *testing.T) {
	srv, err := gitserver.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	repo := srv.NewRepo(t, "plugins")
	repo.Write("plugins/slack/plugin.yaml", slackManifest)
	repo.Push("slack 1.0.0")
	repo.Write("plugins/slack/plugin.yaml", strings.Replace(strings.Replace(slackManifest, "1.0.0", "2.0.0", 1), "maximum: 23", "maximum: 99", 1))
	repo.Push("slack 2.0.0")
	wantOneConfigProblem(t, writeTree(t, repo.URL, false))
}

// TestRepo_pluginConfig_unreachableIsNotChecked: no manifest anywhere:
// nothing is said (the agent reports once it resolves the version).
func TestRepo_pluginConfig_unreachableIsNotChecked(t *testing.T) {
	problems, _, err := load(t).Repo(writeTree(t, "file:///nonexistent/plugins.git", false))
	if err != nil || len(problems) > 0 {
		t.Errorf("got %v, %v", problems, err)
	}
}
