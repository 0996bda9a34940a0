package validate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/streamspace/streamspace/agent/gitsync"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/artifact"
	"github.com/streamspace/streamspace/plugins/manifest"
)

// fetchTimeout bounds the clone of one plugin repository.
const fetchTimeout = 30 * time.Second

// pluginConfigs checks every Plugin's spec.config against the configSchema
// of its plugin's manifest at spec.version, with the message the agent's
// admission webhook and controller give. The manifest is found in the
// validated tree when the PluginRepository's folder of plugins is in it
// (<root>/<spec.path>/<plugin>/plugin.yaml with that version), else in the
// repository itself when it can be cloned without credentials (a public or
// file:// URL). A plugin whose manifest cannot be found is not checked
// here: the agent reports on it once it resolves the version.
func pluginConfigs(root string, objects []object) []Problem {
	repos := map[string]object{}
	for _, o := range objects {
		if o.gvk().Kind == "PluginRepository" {
			repos[o.name()] = o
		}
	}
	clones := map[string]*artifact.Repository{}
	defer func() {
		for _, c := range clones {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	var probs []Problem
	for _, o := range objects {
		if o.gvk().Kind != "Plugin" {
			continue
		}
		repoName, _ := nestedString(o.obj, "spec", "repository", "name")
		plugin, _ := nestedString(o.obj, "spec", "pluginName")
		version, _ := nestedString(o.obj, "spec", "version")
		repo, ok := repos[repoName]
		if !ok || plugin == "" || version == "" {
			continue // references() and the CRD schema report these
		}
		m := localManifest(root, repo, plugin, version)
		if m == nil {
			m = remoteManifest(clones, repo, plugin, version)
		}
		if m == nil {
			continue
		}
		var config []byte
		if c, ok := nested(o.obj, "spec", "config"); ok {
			config, _ = json.Marshal(c)
		}
		err := manifest.ValidateConfig(m.ConfigSchema, config)
		var ce *manifest.ConfigError
		if errors.As(err, &ce) {
			at := "spec.config"
			for _, p := range ce.Path {
				if _, isIndex := strconv.Atoi(p); isIndex == nil {
					at += "[" + p + "]"
				} else {
					at += "." + p
				}
			}
			probs = append(probs, Problem{File: o.file, Line: lineOf(o.node, at),
				Message: fmt.Sprintf("Plugin %s: spec.config does not match the schema of %s %s: %s", o.name(), plugin, version, ce.Message)})
		}
	}
	return probs
}

// localManifest reads the plugin's manifest from the validated tree.
func localManifest(root string, repo object, plugin, version string) *manifest.Manifest {
	sub, _ := nestedString(repo.obj, "spec", "path")
	dir := path.Join(path.Clean("./"+sub), plugin)
	r, err := os.OpenRoot(root) // a link in the tree cannot make validate read outside it
	if err != nil {
		return nil
	}
	defer r.Close()
	m, _ := manifest.Load(r.FS(), dir)
	if m == nil || !artifact.SameVersion(m.Version, version) {
		return nil
	}
	return m
}

// remoteManifest reads the plugin's manifest at the newest commit of its
// repository with that version; clones keeps one clone per repository
// (nil when it could not be cloned).
func remoteManifest(clones map[string]*artifact.Repository, repo object, plugin, version string) *manifest.Manifest {
	url, _ := nestedString(repo.obj, "spec", "url")
	sub, _ := nestedString(repo.obj, "spec", "path")
	var ref streamv1.GitReference
	for key, to := range map[string]*string{"branch": &ref.Branch, "tag": &ref.Tag, "commit": &ref.Commit} {
		*to, _ = nestedString(repo.obj, "spec", "ref", key)
	}
	key := url + "#" + ref.Branch + ref.Tag + ref.Commit
	c, seen := clones[key]
	if !seen {
		clones[key] = nil
		src, err := gitsync.NewSource(url, ref, nil)
		if err != nil {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		if c, err = artifact.Open(ctx, src, true); err != nil {
			return nil
		}
		clones[key] = c
	}
	if c == nil {
		return nil
	}
	head, err := c.Head()
	if err != nil {
		return nil
	}
	dir := path.Join(path.Clean("./"+sub), plugin)
	revision, err := c.FindVersion(head, dir, version)
	if err != nil {
		return nil
	}
	file := path.Join(dir, manifest.FileName)
	data, err := c.ReadFile(revision, file, manifest.MaxSize)
	if err != nil {
		return nil
	}
	m, _ := manifest.Parse(file, data)
	return m
}

func nestedString(m map[string]any, keys ...string) (string, bool) {
	v, ok := nested(m, keys...)
	s, isString := v.(string)
	return strings.TrimSpace(s), ok && isString
}
