package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// QuotaSpec limits what users may run. The most specific Quota applies: one
// naming the user beats one naming one of their groups (the first by name
// when several match), which beats the default.
//
// +kubebuilder:validation:XValidation:rule="self.default || (has(self.users) && size(self.users) > 0) || (has(self.groups) && size(self.groups) > 0)",message="a quota must be the default or name at least one user or group"
// +kubebuilder:validation:XValidation:rule="!self.default || ((!has(self.users) || size(self.users) == 0) && (!has(self.groups) || size(self.groups) == 0))",message="the default quota cannot also name users or groups"
type QuotaSpec struct {
	// Default marks the quota that applies to everyone not named elsewhere.
	// +kubebuilder:default=false
	// +optional
	Default bool `json:"default,omitempty"`

	// Users this quota applies to.
	// +listType=set
	// +optional
	Users []string `json:"users,omitempty"`

	// Groups this quota applies to.
	// +listType=set
	// +optional
	Groups []string `json:"groups,omitempty"`

	// Limits of the quota.
	Limits QuotaLimits `json:"limits"`
}

// QuotaLimits are the limits of a quota. An unset limit is unlimited.
//
// +kubebuilder:validation:XValidation:rule="!has(self.maxSessions) || !has(self.maxRunningSessions) || self.maxRunningSessions <= self.maxSessions",message="maxRunningSessions cannot exceed maxSessions"
// +kubebuilder:validation:XValidation:rule="!has(self.maxSessionDuration) || duration(self.maxSessionDuration) >= duration('1m')",message="maxSessionDuration must be at least 1m"
// +kubebuilder:validation:XValidation:rule="!has(self.idleTimeout) || duration(self.idleTimeout) >= duration('1m')",message="idleTimeout must be at least 1m"
type QuotaLimits struct {
	// MaxSessions a user may have, running or hibernated.
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaxSessions *int32 `json:"maxSessions,omitempty"`
	// MaxRunningSessions a user may have running at once.
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaxRunningSessions *int32 `json:"maxRunningSessions,omitempty"`
	// Memory is the total memory of a user's running sessions.
	// +optional
	Memory *resource.Quantity `json:"memory,omitempty"`
	// CPU is the total CPU of a user's running sessions.
	// +optional
	CPU *resource.Quantity `json:"cpu,omitempty"`
	// HomeStorage is the size of the user's home volume.
	// +optional
	HomeStorage *resource.Quantity `json:"homeStorage,omitempty"`
	// MaxSessionDuration is the longest a session may live.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +optional
	MaxSessionDuration *metav1.Duration `json:"maxSessionDuration,omitempty"`
	// IdleTimeout is the default idle time before hibernation.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +optional
	IdleTimeout *metav1.Duration `json:"idleTimeout,omitempty"`
}

// QuotaUser is one person a Quota applies to and what they use now.
type QuotaUser struct {
	// Name of the user.
	Name string `json:"name"`
	// Via says why this quota applies: user-override, user, group <name>
	// or default.
	Via string `json:"via"`
	// Sessions the user has, running or hibernated (against maxSessions).
	Sessions int32 `json:"sessions"`
	// RunningSessions the user has (against maxRunningSessions).
	RunningSessions int32 `json:"runningSessions"`
	// Memory of the user's running sessions (against limits.memory).
	// +optional
	Memory *resource.Quantity `json:"memory,omitempty"`
	// CPU of the user's running sessions (against limits.cpu).
	// +optional
	CPU *resource.Quantity `json:"cpu,omitempty"`
	// AtLimit names the limits the user has reached: another session
	// (or another running one) would be refused.
	// +listType=set
	// +optional
	AtLimit []string `json:"atLimit,omitempty"`
}

// QuotaStatus is the observed state of a Quota: who it applies to and
// their current use, for the admins' quota view.
type QuotaStatus struct {
	// ObservedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Users this quota applies to (those with a User object or a
	// session), by name.
	// +listType=map
	// +listMapKey=name
	// +optional
	Users []QuotaUser `json:"users,omitempty"`
}

// Quota limits the sessions and resources of users and groups.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sq,categories=streamspace
// +kubebuilder:printcolumn:name="Default",type=boolean,JSONPath=`.spec.default`
// +kubebuilder:printcolumn:name="Sessions",type=integer,JSONPath=`.spec.limits.maxSessions`
// +kubebuilder:printcolumn:name="Running",type=integer,JSONPath=`.spec.limits.maxRunningSessions`
// +kubebuilder:printcolumn:name="Memory",type=string,JSONPath=`.spec.limits.memory`
// +kubebuilder:printcolumn:name="CPU",type=string,JSONPath=`.spec.limits.cpu`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Quota struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   QuotaSpec   `json:"spec"`
	Status QuotaStatus `json:"status,omitempty"`
}

// QuotaList is a list of Quotas.
//
// +kubebuilder:object:root=true
type QuotaList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Quota `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Quota{}, &QuotaList{})
}
