package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PluginRepositorySpec is a Git repository of plugins.
type PluginRepositorySpec struct {
	// URL of the Git repository (https://, ssh:// or file://).
	// +kubebuilder:validation:Pattern=`^(https?|ssh|file)://`
	URL string `json:"url"`
	// Ref to check out.
	// +optional
	Ref GitReference `json:"ref,omitempty"`
	// Path of the folder holding one folder per plugin; the repository's
	// root when empty.
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.contains('..')",message="path must be relative and stay inside the repository"
	// +optional
	Path string `json:"path,omitempty"`
	// SecretRef names a Secret with credentials (username/password, or
	// identity/known_hosts for SSH).
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// Interval between syncs.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:default="10m"
	// +optional
	Interval metav1.Duration `json:"interval,omitempty"`
	// Suspend stops syncing.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// IndexedPlugin is a plugin found in a repository.
type IndexedPlugin struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Revision is the commit the plugin was indexed from
	// ("<ref>@sha1:<hash>").
	Revision string `json:"revision"`
	// Path of the plugin's folder in the repository.
	Path string `json:"path"`
	// +optional
	DisplayName string `json:"displayName,omitempty"`
	// +optional
	Description string `json:"description,omitempty"`
	// +optional
	Type string `json:"type,omitempty"`
	// +optional
	Category string `json:"category,omitempty"`
	// +optional
	Icon string `json:"icon,omitempty"`
	// Events the plugin subscribes to.
	// +optional
	Events []string `json:"events,omitempty"`
	// Permissions the plugin asks for, with their risk.
	// +optional
	Permissions []CatalogPermission `json:"permissions,omitempty"`
	// ExceedsTrust: the plugin asks for a permission riskier than its
	// repository may ever be granted (status.maxRisk); it cannot be enabled.
	// +optional
	ExceedsTrust bool `json:"exceedsTrust,omitempty"`
	// ConfigSchema is the JSON Schema of the plugin's configuration.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +optional
	ConfigSchema *apiextensionsv1.JSON `json:"configSchema,omitempty"`
}

// CatalogPermission is a permission a plugin of the catalog asks for.
type CatalogPermission struct {
	Name string `json:"name"`
	// +kubebuilder:validation:Enum=low;medium;high
	Risk string `json:"risk"`
	// BeyondTrust: riskier than the repository may be granted.
	// +optional
	BeyondTrust bool `json:"beyondTrust,omitempty"`
}

// BrokenPlugin is a plugin folder whose manifest was refused.
type BrokenPlugin struct {
	// Path of the plugin's folder.
	Path string `json:"path"`
	// Problems, each "file:line: message".
	Problems []string `json:"problems"`
}

// PluginRepositoryStatus is the observed state of a PluginRepository.
type PluginRepositoryStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastSyncedRevision is the commit the index was built from.
	// +optional
	LastSyncedRevision string `json:"lastSyncedRevision,omitempty"`
	// Plugins found in the repository.
	// +optional
	Plugins []IndexedPlugin `json:"plugins,omitempty"`
	// Broken plugin folders, with what is wrong; the other plugins stay
	// in the catalog.
	// +optional
	Broken []BrokenPlugin `json:"broken,omitempty"`
	// MaxRisk is the riskiest permission this repository's plugins may be
	// granted, from the plugin permission policy.
	// +optional
	MaxRisk string `json:"maxRisk,omitempty"`
}

// PluginRepository is a Git repository whose plugin manifests are indexed
// into the plugin catalog.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pr,categories=streamspace
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.lastSyncedRevision`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PluginRepository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PluginRepositorySpec   `json:"spec"`
	Status PluginRepositoryStatus `json:"status,omitempty"`
}

// PluginRepositoryList is a list of PluginRepositories.
//
// +kubebuilder:object:root=true
type PluginRepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PluginRepository `json:"items"`
}

func init() {
	SchemeBuilder.Register(&PluginRepository{}, &PluginRepositoryList{})
}
