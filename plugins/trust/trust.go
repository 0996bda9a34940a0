// Package trust reads the plugin permission policy
// (policies/plugins/permission-policy.yaml): how far the plugins of each
// plugin repository may ever be trusted, as the riskiest permission they
// may be granted. An admin's approval of a Plugin cannot go beyond it.
package trust

import (
	"bytes"
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/streamspace/streamspace/plugins/manifest"
)

// ConfigMapName and Key locate the policy in the platform namespace, where
// the GitSync applies it from policies/plugins.
const (
	ConfigMapName = "plugin-permission-policy"
	Key           = "policy.yaml"
)

// Version of the policy format this package reads.
const Version = 2

// Policy is the plugin permission policy.
type Policy struct {
	Version int `yaml:"version"`
	// DefaultMaxRisk caps repositories not listed.
	DefaultMaxRisk manifest.Risk `yaml:"defaultMaxRisk"`
	Repositories   []Repository  `yaml:"repositories"`
}

// Repository is the trust of one PluginRepository, by name.
type Repository struct {
	Name    string        `yaml:"name"`
	MaxRisk manifest.Risk `yaml:"maxRisk"`
}

// Default applies when there is no policy at all: plugins of any
// repository may be granted low-risk permissions only.
var Default = &Policy{Version: Version, DefaultMaxRisk: manifest.RiskLow}

// Parse reads a policy; unknown fields, an unknown version or risk, and a
// repository listed twice are errors.
func Parse(data []byte) (*Policy, error) {
	p := &Policy{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil {
		return nil, fmt.Errorf("plugin permission policy: %w", err)
	}
	if p.Version != Version {
		return nil, fmt.Errorf("plugin permission policy: version %d, want %d", p.Version, Version)
	}
	if _, err := manifest.ParseRisk(string(p.DefaultMaxRisk)); err != nil {
		return nil, fmt.Errorf("plugin permission policy: defaultMaxRisk: %w", err)
	}
	seen := map[string]bool{}
	for _, r := range p.Repositories {
		if r.Name == "" {
			return nil, errors.New("plugin permission policy: a repository without a name")
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("plugin permission policy: repository %q is listed twice", r.Name)
		}
		seen[r.Name] = true
		if _, err := manifest.ParseRisk(string(r.MaxRisk)); err != nil {
			return nil, fmt.Errorf("plugin permission policy: repository %q: maxRisk: %w", r.Name, err)
		}
	}
	return p, nil
}

// MaxRisk is the riskiest permission the plugins of the named repository
// may be granted.
func (p *Policy) MaxRisk(repository string) manifest.Risk {
	for _, r := range p.Repositories {
		if r.Name == repository {
			return r.MaxRisk
		}
	}
	return p.DefaultMaxRisk
}
