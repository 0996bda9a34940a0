package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/event"
	"github.com/streamspace/streamspace/plugins/manifest"
	"github.com/streamspace/streamspace/plugins/wasm"
	"github.com/streamspace/streamspace/plugins/webhook"
)

// FieldManager is the portal's name in server-side apply, as elsewhere.
const FieldManager = "streamspace-portal"

// ErrRuntimeUnavailable: this portal has no runtime for the plugin.
var ErrRuntimeUnavailable = errors.New("runtime not available")

// SigningSecret is the Secret holding a webhook plugin's HMAC key (made
// by the agent, owned by the Plugin): its key "secret".
func SigningSecret(plugin string) string { return "plugin-" + plugin + "-signing" }

// rebuildAfter: a runtime that could not be built is tried again after
// this long, or at once when the plugin changes.
const rebuildAfter = time.Minute

// Runtime builds plugins' Deliverers.
type Runtime struct {
	// Reader reads the signing Secrets (the API reader: the portal caches
	// no Secrets).
	Reader    client.Reader
	Namespace string
	Webhook   webhook.Options
	// LoadModule returns a WebAssembly plugin's module at its pinned
	// revision, its digest checked; nil: WebAssembly plugins are not run
	// (ErrRuntimeUnavailable).
	LoadModule func(ctx context.Context, p *streamv1.Plugin) ([]byte, error)
	// Host is what a WebAssembly plugin may act on.
	Host       func(p event.Plugin) wasm.Host
	WasmLimits wasm.Limits

	mu     sync.Mutex
	failed map[string]time.Time // by fingerprint
}

// Build returns the Deliverer of p, or nil for a plugin type that
// receives no events.
func (r *Runtime) Build(ctx context.Context, p *streamv1.Plugin, w *Wanted) (event.Deliverer, error) {
	if len(w.Types) == 0 {
		return nil, nil // nothing subscribed (or nothing permitted)
	}
	switch w.Manifest.Type {
	case manifest.TypeWebhook:
		target, err := webhook.Target(w.Manifest.Entry.Webhook, w.Plugin.Config)
		if err != nil {
			return nil, fmt.Errorf("webhook target: %w", err)
		}
		var s corev1.Secret
		if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: SigningSecret(p.Name)}, &s); err != nil {
			return nil, fmt.Errorf("signing secret %s: %w", SigningSecret(p.Name), err)
		}
		if !metav1.IsControlledBy(&s, p) {
			// a Secret by that name the Plugin does not own may have been
			// planted to learn or choose the key
			return nil, fmt.Errorf("signing secret %s is not owned by the plugin", SigningSecret(p.Name))
		}
		secret := s.Data["secret"]
		if len(secret) < 32 {
			return nil, fmt.Errorf("signing secret %s has no key \"secret\" of 32 bytes or more", SigningSecret(p.Name))
		}
		return webhook.New(w.Plugin, target, secret, r.Webhook)
	case manifest.TypeExtension, manifest.TypeAPIIntegration:
		if r.LoadModule == nil {
			return nil, fmt.Errorf("WebAssembly %w in this portal", ErrRuntimeUnavailable)
		}
		module, err := r.LoadModule(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("module: %w", err)
		}
		var host wasm.Host
		if r.Host != nil {
			host = r.Host(w.Plugin)
		}
		return wasm.New(ctx, module, w.Plugin, host, r.WasmLimits)
	}
	return nil, nil // ui-theme, cli: no events
}

func (r *Runtime) failedRecently(w *Wanted) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.failed[w.Fingerprint]
	return ok && time.Since(at) < rebuildAfter
}

func (r *Runtime) remember(w *Wanted, _ error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed == nil {
		r.failed = map[string]time.Time{}
	}
	for k, at := range r.failed {
		if time.Since(at) > rebuildAfter {
			delete(r.failed, k)
		}
	}
	r.failed[w.Fingerprint] = time.Now()
}

// maxMessage bounds the condition's message (a runtime's error may quote
// what a receiver answered).
const maxMessage = 1024

// setDelivering applies the plugin's Delivering condition as the portal's
// field manager: the agent's conditions are left alone.
func (d *Dispatcher) setDelivering(ctx context.Context, plugin string, ok bool, message string) {
	status, reason := metav1.ConditionFalse, streamv1.ReasonRuntimeStopped
	if ok {
		status, reason, message = metav1.ConditionTrue, streamv1.ReasonDelivered, "events are delivered"
	}
	if len(message) > maxMessage {
		message = message[:maxMessage]
	}
	body, err := json.Marshal(map[string]any{
		"apiVersion": streamv1.GroupVersion.String(), "kind": "Plugin",
		"metadata": map[string]any{"name": plugin, "namespace": d.Namespace},
		"status": map[string]any{"conditions": []metav1.Condition{{Type: streamv1.ConditionDelivering, Status: status, Reason: reason,
			Message: message, LastTransitionTime: metav1.Now()}}},
	})
	if err == nil {
		target := &streamv1.Plugin{ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: plugin}}
		err = d.Client.Status().Patch(ctx, target, client.RawPatch(types.ApplyPatchType, body), client.FieldOwner(FieldManager), client.ForceOwnership)
	}
	if err != nil && ctx.Err() == nil {
		d.Log.Error(err, "Plugin Delivering condition not set", "plugin", plugin, "delivering", ok)
	}
}

// isDeliveringFalse: the portal marked the plugin's runtime stopped.
func isDeliveringFalse(p *streamv1.Plugin) bool {
	c := apimeta.FindStatusCondition(p.Status.Conditions, streamv1.ConditionDelivering)
	return c != nil && c.Status == metav1.ConditionFalse
}
