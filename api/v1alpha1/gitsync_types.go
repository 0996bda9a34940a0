package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DriftMode says what the agent does when a live object no longer matches
// Git.
// +kubebuilder:validation:Enum=warn;correct
type DriftMode string

const (
	// DriftWarn reports drift (condition, event, metrics) and leaves it.
	DriftWarn DriftMode = "warn"
	// DriftCorrect reports drift and reverts it to what Git says.
	DriftCorrect DriftMode = "correct"
)

// DeletionPolicy says what happens to the objects a GitSync applied when the
// GitSync itself is deleted.
// +kubebuilder:validation:Enum=Orphan;Delete
type DeletionPolicy string

const (
	// DeletionOrphan leaves every applied object in place: deleting the
	// sync object never takes the catalog away from running sessions.
	DeletionOrphan DeletionPolicy = "Orphan"
	// DeletionDelete deletes what the GitSync applied, except what live
	// sessions (or installed plugins) still use, which is left in place.
	DeletionDelete DeletionPolicy = "Delete"
)

// GitSync condition types, beside Ready, Reconciling and Stalled.
const (
	// ConditionDrifted is True while live objects differ from Git
	// (abnormal-true).
	ConditionDrifted = "Drifted"
	// ConditionPruneBlocked is True while an object that left Git cannot be
	// pruned because live Sessions use it (abnormal-true).
	ConditionPruneBlocked = "PruneBlocked"
)

// GitSyncSpec is the agent's own desired state: which repository, ref and
// overlay to make the cluster match.
type GitSyncSpec struct {
	// URL of the repository: https://, ssh://, file:// or an absolute path.
	// Unset, nothing is synced (Ready=False, NotConfigured) until it is set:
	// deploy/ ships so, following no repository by default.
	// +kubebuilder:validation:XValidation:rule="self.matches('^(https?|ssh|file)://') || self.startsWith('/')",message="url must be https://, ssh://, file:// or an absolute path"
	// +optional
	URL string `json:"url,omitempty"`
	// Ref to follow.
	// +optional
	Ref GitReference `json:"ref,omitempty"`
	// Path of the kustomize overlay inside the repository, e.g.
	// environments/prod.
	// +kubebuilder:default="environments/local"
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.contains('..')",message="path must be relative and stay inside the repository"
	// +optional
	Path string `json:"path,omitempty"`
	// Interval between syncs (a jitter is added).
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:default="5m"
	// +optional
	Interval metav1.Duration `json:"interval,omitempty"`
	// Timeout of one fetch + build + apply.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:default="2m"
	// +optional
	Timeout metav1.Duration `json:"timeout,omitempty"`
	// SecretRef names a Secret with read credentials: "token" (https) or
	// "identity" and "known_hosts" (ssh).
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// Prune deletes objects that left Git (never those live sessions use).
	// +kubebuilder:default=true
	// +optional
	Prune bool `json:"prune"`
	// DeletionPolicy: when the GitSync is deleted, Orphan keeps what it
	// applied, Delete prunes it (never what live sessions use). Independent
	// of prune, which is about objects that leave Git.
	// +kubebuilder:default=Orphan
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
	// DriftMode: warn reports drift, correct also reverts it.
	// +kubebuilder:default=warn
	// +optional
	DriftMode DriftMode `json:"driftMode,omitempty"`
	// Suspend stops syncing.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// InventoryEntry is one object the agent applied.
type InventoryEntry struct {
	// ID is <namespace>_<name>_<group>_<kind>.
	ID string `json:"id"`
	// Version is the object's API version.
	Version string `json:"v"`
}

// DriftedObject is a live object that differs from Git.
type DriftedObject struct {
	// ID is <namespace>_<name>_<group>_<kind>.
	ID string `json:"id"`
	// Fields that differ.
	// +optional
	Fields []string `json:"fields,omitempty"`
	// Manager is the field manager that made the change.
	// +optional
	Manager string `json:"manager,omitempty"`
	// DetectedAt is when the drift was found.
	DetectedAt metav1.Time `json:"detectedAt"`
	// Corrected is true when the agent reverted it.
	// +optional
	Corrected bool `json:"corrected,omitempty"`
}

// GitSyncStatus is the observed state of a GitSync.
type GitSyncStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, Reconciling, Stalled, Drifted, PruneBlocked.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastAppliedRevision is the revision last applied successfully.
	// +optional
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`
	// LastAttemptedRevision is the revision last tried.
	// +optional
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`
	// LastHandledReconcileAt is the last reconcile request handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
	// Inventory of applied objects.
	// +optional
	Inventory []InventoryEntry `json:"inventory,omitempty"`
	// Drift found in the live objects.
	// +optional
	Drift []DriftedObject `json:"drift,omitempty"`
}

// GitSync makes the cluster match a kustomize overlay in a Git repository.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=gs,categories=streamspace
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Path",type=string,JSONPath=`.spec.path`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.lastAppliedRevision`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type GitSync struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   GitSyncSpec   `json:"spec"`
	Status GitSyncStatus `json:"status,omitempty"`
}

// GitSyncList is a list of GitSyncs.
//
// +kubebuilder:object:root=true
type GitSyncList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GitSync `json:"items"`
}

func init() {
	SchemeBuilder.Register(&GitSync{}, &GitSyncList{})
}
