package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/event"
	"github.com/streamspace/streamspace/plugins/manifest"
)

// Wanted is what one plugin should receive, and through what.
type Wanted struct {
	Plugin   event.Plugin
	Manifest *manifest.Manifest
	// Types it receives: subscribed to in its manifest, and permitted by
	// its granted permissions (events:session.*, events:user.*).
	Types []string
	// Fingerprint changes whenever anything its runtime is built from
	// does (the runtime is then built again).
	Fingerprint string
}

// Desired returns what p should receive, or nil and why it receives
// nothing: it is disabled, not Ready for its current spec (the agent has
// not checked it yet, a permission is pending, its config is invalid…),
// or has no resolved manifest.
func Desired(p *streamv1.Plugin) (*Wanted, string) {
	if !p.Spec.Enabled {
		return nil, "disabled"
	}
	ready := apimeta.FindStatusCondition(p.Status.Conditions, streamv1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionTrue {
		return nil, "not Ready"
	}
	if ready.ObservedGeneration != p.Generation {
		// Ready speaks of an older spec (a config or permissions edit
		// the agent has not checked yet)
		return nil, "Ready is for an older generation"
	}
	if p.Status.Manifest == nil {
		return nil, "no resolved manifest"
	}
	var m manifest.Manifest
	if err := json.Unmarshal(p.Status.Manifest.Raw, &m); err != nil {
		return nil, "status.manifest unreadable: " + err.Error()
	}
	// granted: approved by the admin and asked for by the manifest
	var granted []string
	for _, perm := range m.Permissions {
		if slices.Contains(p.Spec.ApprovedPermissions, perm) {
			granted = append(granted, perm)
		}
	}
	var types []string
	for _, t := range m.Events {
		if slices.Contains(event.Types, t) && slices.Contains(granted, permissionFor(t)) && !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	slices.Sort(types)
	var config json.RawMessage
	if p.Spec.Config != nil {
		config = p.Spec.Config.Raw
	}
	w := &Wanted{Plugin: event.Plugin{Name: p.Name, Config: config, Permissions: granted}, Manifest: &m, Types: types}
	h := sha256.New()
	for _, part := range [][]byte{p.Status.Manifest.Raw, config, []byte(strings.Join(granted, ",")), []byte(strings.Join(types, ",")),
		[]byte(p.Status.Revision), []byte(artifactDigest(p))} {
		h.Write(part)
		h.Write([]byte{0})
	}
	w.Fingerprint = hex.EncodeToString(h.Sum(nil))
	return w, ""
}

// permissionFor is the permission that lets a plugin receive an event
// type: events:session.* or events:user.*.
func permissionFor(eventType string) string {
	if strings.HasPrefix(eventType, "user.") {
		return manifest.PermUserEvents
	}
	return manifest.PermSessionEvents
}

func artifactDigest(p *streamv1.Plugin) string {
	if p.Status.Artifact == nil {
		return ""
	}
	return p.Status.Artifact.Path + "@" + p.Status.Artifact.SHA256
}
