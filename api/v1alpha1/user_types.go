package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// UserSpec describes one person.
type UserSpec struct {
	// DisplayName of the person.
	// +optional
	DisplayName string `json:"displayName,omitempty"`
	// Email of the person.
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+$`
	// +optional
	Email string `json:"email,omitempty"`
	// Groups the person belongs to; they select group quotas and roles.
	// +listType=set
	// +optional
	Groups []string `json:"groups,omitempty"`
	// Home volume of the person.
	// +optional
	Home HomeSpec `json:"home,omitempty"`
	// Quota names a Quota that applies to this person whatever their groups.
	// +optional
	Quota string `json:"quota,omitempty"`
	// Disabled users cannot start sessions.
	// +optional
	Disabled bool `json:"disabled,omitempty"`
}

// HomeSpec is a user's persistent home volume.
type HomeSpec struct {
	// Size of the home volume; default: the quota's homeStorage, else the
	// agent's default. A volume only ever grows.
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`
	// StorageClassName of the home volume (ReadWriteMany); default: the
	// agent's.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// UserStatus is the observed state of a User.
type UserStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, Reconciling, Stalled, HomeReady.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// HomeVolume is the name of the user's home PersistentVolumeClaim.
	// +optional
	HomeVolume string `json:"homeVolume,omitempty"`
	// HomeSize is the size the home volume was asked for.
	// +optional
	HomeSize string `json:"homeSize,omitempty"`
	// Quota is the Quota that applies to this user.
	// +optional
	Quota string `json:"quota,omitempty"`
}

// User is a person using StreamSpace; the object name is the user name
// sessions refer to.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ssu,categories=streamspace
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 58",message="user name must be a DNS label of at most 58 characters (its home volume is home-<name>)"
// +kubebuilder:printcolumn:name="Email",type=string,JSONPath=`.spec.email`
// +kubebuilder:printcolumn:name="Home",type=string,JSONPath=`.status.homeVolume`
// +kubebuilder:printcolumn:name="Size",type=string,JSONPath=`.status.homeSize`
// +kubebuilder:printcolumn:name="Quota",type=string,JSONPath=`.status.quota`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type User struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   UserSpec   `json:"spec,omitempty"`
	Status UserStatus `json:"status,omitempty"`
}

// UserList is a list of Users.
//
// +kubebuilder:object:root=true
type UserList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []User `json:"items"`
}

func init() {
	SchemeBuilder.Register(&User{}, &UserList{})
}

// HomeVolumeName returns the name of a user's home PersistentVolumeClaim.
func HomeVolumeNameFor(user string) string { return "home-" + user }
