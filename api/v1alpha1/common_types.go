package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
)

// Condition types shared by every StreamSpace kind. They follow kstatus:
// Ready is the summary, Reconciling and Stalled are "abnormal-true"
// conditions that only exist while the object is in that state.
const (
	// ConditionReady is True when the object has reached its desired state.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the controller works towards the
	// desired state (abnormal-true: removed when done).
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the controller cannot make progress
	// until the spec or something it depends on changes (abnormal-true).
	ConditionStalled = "Stalled"
)

// ReconcileRequestAnnotation asks a controller to reconcile now. Its value is
// an opaque token (a timestamp by convention); the controller copies the last
// value it handled into status.lastHandledReconcileAt.
const ReconcileRequestAnnotation = "stream.space/reconcile-requested-at"

// Resources are the compute resources of a session container. Memory is both
// request and limit (a desktop app that is OOM-killed loses unsaved work, so
// we never overcommit memory); CPU is the request and the limit.
type Resources struct {
	// Memory for the session container, e.g. 2Gi.
	// +optional
	Memory *resource.Quantity `json:"memory,omitempty"`
	// CPU for the session container, e.g. 1000m.
	// +optional
	CPU *resource.Quantity `json:"cpu,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// Name of the referent.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// GitReference selects what to check out of a Git repository. At most one of
// tag or commit may be set; when neither is set the branch is followed.
// +kubebuilder:validation:XValidation:rule="!(has(self.tag) && has(self.commit))",message="set at most one of tag and commit"
type GitReference struct {
	// Branch to follow.
	// +kubebuilder:default=main
	// +optional
	Branch string `json:"branch,omitempty"`
	// Tag to check out; takes precedence over branch.
	// +optional
	Tag string `json:"tag,omitempty"`
	// Commit SHA to check out; takes precedence over branch.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{7,40}$`
	// +optional
	Commit string `json:"commit,omitempty"`
}
