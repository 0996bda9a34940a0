package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SessionState is what the user wants the session to be.
// +kubebuilder:validation:Enum=running;hibernated;terminated
type SessionState string

const (
	StateRunning    SessionState = "running"
	StateHibernated SessionState = "hibernated"
	StateTerminated SessionState = "terminated"
)

// SessionPhase is where the session is.
// +kubebuilder:validation:Enum=Pending;Running;Hibernated;Failed;Terminated
type SessionPhase string

const (
	PhasePending    SessionPhase = "Pending"
	PhaseRunning    SessionPhase = "Running"
	PhaseHibernated SessionPhase = "Hibernated"
	PhaseFailed     SessionPhase = "Failed"
	PhaseTerminated SessionPhase = "Terminated"
)

// Session condition types, beside Ready, Reconciling and Stalled.
const (
	// ConditionTemplateResolved is True when the session's Template exists
	// and was read. False with reason TemplateNotFound otherwise.
	ConditionTemplateResolved = "TemplateResolved"
	// ConditionHomeReady is True when the user's home volume exists (or the
	// session needs none).
	ConditionHomeReady = "HomeReady"
	// ConditionExpiringSoon is True in the last minutes before
	// maxSessionDuration ends the session (abnormal-true).
	ConditionExpiringSoon = "ExpiringSoon"
)

// StateReasonAnnotation records why spec.state last changed when a
// controller (not a person) changed it, e.g. IdleTimeout.
const StateReasonAnnotation = "stream.space/state-reason"

// SessionSpec is what a user asked for.
//
// +kubebuilder:validation:XValidation:rule="!has(self.idleTimeout) || duration(self.idleTimeout) >= duration('1m')",message="idleTimeout must be at least 1m"
// +kubebuilder:validation:XValidation:rule="!has(self.maxSessionDuration) || duration(self.maxSessionDuration) >= duration('1m')",message="maxSessionDuration must be at least 1m"
type SessionSpec struct {
	// User who owns the session; names the home volume home-<user>.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=58
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="user is immutable"
	User string `json:"user"`

	// Template to launch (a Template in the same namespace).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="template is immutable"
	Template string `json:"template"`

	// State the user wants: running, hibernated (scaled to zero, home kept)
	// or terminated (stopped for good, record kept).
	// +kubebuilder:default=running
	// +kubebuilder:validation:XValidation:rule="oldSelf != 'terminated' || self == 'terminated'",message="a terminated session cannot be restarted; launch a new one"
	// +optional
	State SessionState `json:"state,omitempty"`

	// Resources override the template's default resources.
	// +optional
	Resources Resources `json:"resources,omitempty"`

	// PersistentHome mounts the user's home volume.
	// +kubebuilder:default=true
	// +optional
	PersistentHome *bool `json:"persistentHome,omitempty"`

	// IdleTimeout without user input before the session hibernates.
	// Default: the template's, else the quota's, else 30m.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +optional
	IdleTimeout *metav1.Duration `json:"idleTimeout,omitempty"`

	// MaxSessionDuration after which the session is terminated, counted
	// from its creation. Default: the quota's, else unlimited.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +optional
	MaxSessionDuration *metav1.Duration `json:"maxSessionDuration,omitempty"`
}

// Kinds of start, in status.lastStart.kind, the start metrics and the
// events that announce a start.
const (
	StartLaunch = "Launch"
	StartWake   = "Wake"
)

// StartTimes are the moments of one start (a launch or a wake), so start
// latency can be measured per phase.
type StartTimes struct {
	// Kind of start: Launch or Wake.
	// +kubebuilder:validation:Enum=Launch;Wake
	Kind string `json:"kind"`
	// RequestedAt is when the controller began this start.
	RequestedAt metav1.Time `json:"requestedAt"`
	// ScheduledAt is when the pod was bound to a node.
	// +optional
	ScheduledAt *metav1.Time `json:"scheduledAt,omitempty"`
	// ImageReadyAt is when the app container started (image pulled).
	// +optional
	ImageReadyAt *metav1.Time `json:"imageReadyAt,omitempty"`
	// StreamReadyAt is when the stream port answered its readiness probe.
	// +optional
	StreamReadyAt *metav1.Time `json:"streamReadyAt,omitempty"`
}

// ResourceUsage is what a running session consumes.
type ResourceUsage struct {
	// +optional
	Memory string `json:"memory,omitempty"`
	// +optional
	CPU string `json:"cpu,omitempty"`
}

// SessionStatus is the observed state of a Session.
type SessionStatus struct {
	// ObservedGeneration is the last generation fully reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Phase summarises where the session is.
	// +optional
	Phase SessionPhase `json:"phase,omitempty"`

	// Conditions: Ready, Reconciling, Stalled, TemplateResolved, HomeReady,
	// ExpiringSoon.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// PodName of the running session pod.
	// +optional
	PodName string `json:"podName,omitempty"`

	// URL where the session is reached once Running.
	// +optional
	URL string `json:"url,omitempty"`

	// Image the current run uses (the template's image at the last start).
	// +optional
	Image string `json:"image,omitempty"`

	// LastActivity is the last real user input. The portal's stream proxy
	// writes it under its own field manager; the controller only
	// initialises it when a start begins.
	// +optional
	LastActivity *metav1.Time `json:"lastActivity,omitempty"`

	// IdleDeadline is when the session hibernates unless there is input.
	// +optional
	IdleDeadline *metav1.Time `json:"idleDeadline,omitempty"`

	// ExpiresAt is when maxSessionDuration ends the session.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// HibernatedAt is when the session was last scaled to zero.
	// +optional
	HibernatedAt *metav1.Time `json:"hibernatedAt,omitempty"`

	// TerminatedAt is when the session was stopped for good.
	// +optional
	TerminatedAt *metav1.Time `json:"terminatedAt,omitempty"`

	// LastStart holds the phase timestamps of the latest launch or wake.
	// +optional
	LastStart *StartTimes `json:"lastStart,omitempty"`

	// ResourceUsage of the running session (its requests until live
	// metrics are available).
	// +optional
	ResourceUsage *ResourceUsage `json:"resourceUsage,omitempty"`
}

// Session is one user's running (or hibernated) instance of a Template.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ss,categories=streamspace
// +kubebuilder:selectablefield:JSONPath=`.spec.user`
// +kubebuilder:selectablefield:JSONPath=`.spec.template`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 60",message="session name must be at most 60 characters (its Service is named ss-<name>)"
// +kubebuilder:printcolumn:name="User",type=string,JSONPath=`.spec.user`
// +kubebuilder:printcolumn:name="Template",type=string,JSONPath=`.spec.template`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.spec.state`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Session struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SessionSpec   `json:"spec"`
	Status SessionStatus `json:"status,omitempty"`
}

// SessionList is a list of Sessions.
//
// +kubebuilder:object:root=true
type SessionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Session `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Session{}, &SessionList{})
}

// DesiredState returns spec.state with its default applied.
func (s *Session) DesiredState() SessionState {
	if s.Spec.State == "" {
		return StateRunning
	}
	return s.Spec.State
}

// WantsHome reports whether the session mounts the user's home volume.
func (s *Session) WantsHome() bool {
	return s.Spec.PersistentHome == nil || *s.Spec.PersistentHome
}
