package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConditionDelivering of a Plugin is the portal's (field manager
// streamspace-portal, beside the agent's conditions): False with
// ReasonRuntimeStopped when the plugin's runtime stopped an event (a
// sandbox limit, an unapproved host, a module that cannot run), True with
// ReasonDelivered once an event gets through again.
const ConditionDelivering = "Delivering"

// PluginSpec is an installed plugin.
type PluginSpec struct {
	// Repository the plugin comes from.
	Repository LocalObjectReference `json:"repository"`
	// PluginName in the repository's index.
	// +kubebuilder:validation:MinLength=1
	PluginName string `json:"pluginName"`
	// Version to install.
	// +kubebuilder:validation:Pattern=`^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$`
	Version string `json:"version"`
	// Enabled plugins receive events.
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// Config of the plugin, validated against the plugin's schema.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Config *apiextensionsv1.JSON `json:"config,omitempty"`
	// ApprovedPermissions an admin granted; the plugin gets nothing else.
	// +listType=set
	// +optional
	ApprovedPermissions []string `json:"approvedPermissions,omitempty"`
}

// PluginPermission is a permission a plugin asks for.
type PluginPermission struct {
	Name string `json:"name"`
	// +kubebuilder:validation:Enum=low;medium;high
	Risk string `json:"risk"`
	// +optional
	Description string `json:"description,omitempty"`
	Approved    bool   `json:"approved"`
}

// PluginStatus is the observed state of a Plugin.
type PluginStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Permissions the plugin asks for and whether each was approved.
	// +optional
	Permissions []PluginPermission `json:"permissions,omitempty"`
	// InstalledVersion is the version in use.
	// +optional
	InstalledVersion string `json:"installedVersion,omitempty"`
	// Revision is the commit spec.version resolved to
	// ("<ref>@sha1:<hash>", as the repository's catalog).
	// +optional
	Revision string `json:"revision,omitempty"`
	// Artifact is the WebAssembly module at Revision, pinned by digest
	// (wasm plugins only).
	// +optional
	Artifact *PluginArtifact `json:"artifact,omitempty"`
	// Manifest is the plugin's plugin.yaml at Revision, as JSON (type,
	// events, permissions, configSchema, entry).
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +optional
	Manifest *apiextensionsv1.JSON `json:"manifest,omitempty"`
}

// PluginArtifact is a file of the plugin repository at a commit, pinned by
// its digest.
type PluginArtifact struct {
	// Path of the file in the repository.
	Path string `json:"path"`
	// SHA256 of the file, hex.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	SHA256 string `json:"sha256"`
}

// Plugin is a plugin installed from a PluginRepository.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=plg,categories=streamspace
// +kubebuilder:printcolumn:name="Plugin",type=string,JSONPath=`.spec.pluginName`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="Enabled",type=boolean,JSONPath=`.spec.enabled`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Plugin struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PluginSpec   `json:"spec"`
	Status PluginStatus `json:"status,omitempty"`
}

// PluginList is a list of Plugins.
//
// +kubebuilder:object:root=true
type PluginList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Plugin `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Plugin{}, &PluginList{})
}
