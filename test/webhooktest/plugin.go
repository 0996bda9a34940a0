package webhooktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/manifest"
)

// Plugin is an installed plugin as a test wants it.
type Plugin struct {
	Name    string
	Enabled bool
	// Type: webhook when empty (its URL this receiver's endpoint).
	Type                          manifest.Type
	Events, Asks, ApprovedByAdmin []string
}

// Install creates p as the agent leaves a Plugin it found Ready
// (status.manifest, Ready for its generation) with its signing Secret
// (owned by it, as the agent makes it), and makes the receiver expect that
// secret.
func (r *Receiver) Install(ctx context.Context, c client.Client, namespace string, p Plugin) error {
	m := manifest.Manifest{Name: p.Name, Version: "1.0.0", Type: p.Type, Events: p.Events, Permissions: p.Asks}
	if m.Type == "" {
		m.Type = manifest.TypeWebhook
	}
	if m.Type == manifest.TypeWebhook {
		m.Entry.Webhook = &manifest.WebhookEntry{URL: r.URL(p.Name)}
	} else {
		m.Entry.Wasm = &manifest.WasmEntry{Module: "plugin.wasm", SHA256: "0000000000000000000000000000000000000000000000000000000000000000"}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	obj := &streamv1.Plugin{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: p.Name},
		Spec: streamv1.PluginSpec{Repository: streamv1.LocalObjectReference{Name: "official"}, PluginName: p.Name, Version: "1.0.0",
			Enabled: p.Enabled, ApprovedPermissions: p.ApprovedByAdmin}}
	if err := c.Create(ctx, obj); err != nil {
		return err
	}
	obj.Status.Manifest = &apiextensionsv1.JSON{Raw: raw}
	obj.Status.Revision = "main@sha1:0123456789abcdef0123456789abcdef01234567"
	apimeta.SetStatusCondition(&obj.Status.Conditions, metav1.Condition{Type: streamv1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: streamv1.ReasonInstalled, Message: "installed", ObservedGeneration: obj.Generation})
	if err := c.Status().Update(ctx, obj); err != nil {
		return err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	secret := []byte(hex.EncodeToString(key))
	r.Expect(p.Name, secret)
	return c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "plugin-" + p.Name + "-signing",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: streamv1.GroupVersion.String(), Kind: "Plugin", Name: p.Name, UID: obj.UID, Controller: ptr.To(true)}}},
		Data: map[string][]byte{"secret": secret}})
}
