package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HomeVolumeName is the volume mount name that receives the user's home
// volume. Every other mount of a template gets an empty scratch volume.
const HomeVolumeName = "user-home"

// StreamProtocol says how a browser reaches a session's display.
// +kubebuilder:validation:Enum=KasmVNC;Selkies;WebsockifyVNC;NoVNC
type StreamProtocol string

const (
	// StreamKasmVNC: the image serves KasmVNC's own web client over HTTP and
	// WebSocket on the stream port; the portal proxies it under a per-session
	// path.
	StreamKasmVNC StreamProtocol = "KasmVNC"
	// StreamSelkies: the image serves the Selkies web client (HTTP and
	// WebSocket) on the stream port, as current linuxserver.io desktop
	// images do; proxied like KasmVNC.
	StreamSelkies StreamProtocol = "Selkies"
	// StreamWebsockifyVNC: the image serves raw RFB over WebSocket
	// (websockify) on the stream port; the portal's noVNC client connects to
	// it through /api/v1/sessions/{id}/connect.
	StreamWebsockifyVNC StreamProtocol = "WebsockifyVNC"
	// StreamNoVNC: the image serves its own web client (noVNC, or any
	// client speaking standard RFB over WebSocket) over HTTP on the stream
	// port, and its stream beside it; the viewer frames the client, served
	// on the session's apps host, and the portal reads its WebSocket as
	// standard RFB.
	StreamNoVNC StreamProtocol = "NoVNC"
)

// TemplateCapability is something an app may use.
// +kubebuilder:validation:Enum=Network;Audio;Clipboard;FileTransfer;GPU
type TemplateCapability string

// TemplateSpec describes an app that users can launch.
//
// +kubebuilder:validation:XValidation:rule="self.ports.exists(p, p.containerPort == self.stream.port)",message="stream.port must be one of ports[].containerPort"
type TemplateSpec struct {
	// DisplayName is shown in the catalog.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=80
	DisplayName string `json:"displayName"`

	// Description is a sentence or two about the app.
	// +kubebuilder:validation:MaxLength=1000
	// +optional
	Description string `json:"description,omitempty"`

	// Category groups templates in the catalog. Any name people understand
	// ("Audio & Video", "Administration"); `streamspace validate` warns
	// about one outside the recommended list (catalog.Recommended), so that
	// a typo stands out. One line, no leading or trailing spaces.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^\S(.*\S)?$`
	Category string `json:"category"`

	// Icon is the URL (https or a data: URI) of the app's icon.
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') || self.startsWith('data:image/')",message="icon must be an https:// URL or a data:image/ URI"
	// +optional
	Icon string `json:"icon,omitempty"`

	// BaseImage is the container image, pinned to a version tag or a digest
	// so that a session wakes into the same app it hibernated from.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="self.matches('@sha256:[a-f0-9]{64}$') || self.matches(':[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$')",message="baseImage must carry a tag or a digest (e.g. lscr.io/linuxserver/firefox:1.2.3)"
	// +kubebuilder:validation:XValidation:rule="!self.matches(':latest(@sha256:[a-f0-9]{64})?$')",message="baseImage must not use the mutable :latest tag; pin a version"
	BaseImage string `json:"baseImage"`

	// ImagePullPolicy of the session container; images built locally without
	// a registry need Never.
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +kubebuilder:default=IfNotPresent
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// DefaultResources are used unless a Session asks for its own.
	// +optional
	DefaultResources Resources `json:"defaultResources,omitempty"`

	// Ports the app listens on.
	// +kubebuilder:validation:MinItems=1
	// +listType=map
	// +listMapKey=name
	Ports []TemplatePort `json:"ports"`

	// Stream says how the browser reaches the display.
	Stream StreamSpec `json:"stream"`

	// Env is passed to the app container.
	// +listType=map
	// +listMapKey=name
	// +optional
	Env []EnvVar `json:"env,omitempty"`

	// VolumeMounts of the app container. The mount named user-home receives
	// the user's persistent home volume; others get an empty scratch volume.
	// +listType=map
	// +listMapKey=name
	// +optional
	VolumeMounts []VolumeMount `json:"volumeMounts,omitempty"`

	// ReadinessProbe overrides the default probe (TCP on the stream port).
	// +optional
	ReadinessProbe *corev1.Probe `json:"readinessProbe,omitempty"`

	// Security of the session container.
	// +optional
	Security TemplateSecurity `json:"security,omitempty"`

	// Capabilities the app uses; shown in the catalog.
	// +listType=set
	// +optional
	Capabilities []TemplateCapability `json:"capabilities,omitempty"`

	// Tags for search.
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +optional
	Tags []string `json:"tags,omitempty"`

	// DataPolicy says what may cross between the user's device and the
	// session; the portal enforces it.
	// +optional
	DataPolicy DataPolicy `json:"dataPolicy,omitempty"`

	// IdleTimeout is the default idle time before hibernation for sessions of
	// this template.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +optional
	IdleTimeout *metav1.Duration `json:"idleTimeout,omitempty"`
}

// TemplatePort is a port the app listens on.
type TemplatePort struct {
	// Name of the port (an IANA service name).
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=15
	Name string `json:"name"`
	// ContainerPort is the port number.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	ContainerPort int32 `json:"containerPort"`
}

// StreamSpec says how a browser reaches the session's display.
type StreamSpec struct {
	// Protocol of the stream.
	Protocol StreamProtocol `json:"protocol"`
	// Port the stream is served on; must be one of the template's ports.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
	// Path of the WebSocket (WebsockifyVNC) or of the web client (KasmVNC,
	// Selkies, NoVNC).
	// +kubebuilder:default=/
	// +kubebuilder:validation:Pattern=`^/`
	// +optional
	Path string `json:"path,omitempty"`
}

// EnvVar is a plain environment variable. Secrets never go in templates:
// templates live in Git.
type EnvVar struct {
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Name string `json:"name"`
	// +optional
	Value string `json:"value,omitempty"`
}

// VolumeMount mounts a volume into the app container.
type VolumeMount struct {
	// Name of the mount; user-home is the persistent home.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// MountPath inside the container.
	// +kubebuilder:validation:Pattern=`^/`
	MountPath string `json:"mountPath"`
	// SizeLimit of the scratch volume (every mount but a persistent home);
	// the node evicts a session that writes more. Default 2Gi.
	// +optional
	SizeLimit *resource.Quantity `json:"sizeLimit,omitempty"`
}

// TemplateSecurity is the security context of a session container.
//
// +kubebuilder:validation:XValidation:rule="!has(self.addCapabilities) || size(self.addCapabilities) == 0 || (has(self.runAsNonRoot) && !self.runAsNonRoot)",message="addCapabilities needs runAsNonRoot: false: a non-root app cannot use capabilities"
type TemplateSecurity struct {
	// RunAsNonRoot runs the app as RunAsUser with every capability dropped.
	// Images that start as root and drop privileges themselves (the
	// linuxserver.io s6 images) must set this to false.
	// +kubebuilder:default=true
	// +optional
	RunAsNonRoot *bool `json:"runAsNonRoot,omitempty"`
	// RunAsUser is the uid of the app when RunAsNonRoot; default 1000.
	// +kubebuilder:validation:Minimum=1
	// +optional
	RunAsUser *int64 `json:"runAsUser,omitempty"`
	// FSGroup owns the home volume; default 1000.
	// +kubebuilder:validation:Minimum=0
	// +optional
	FSGroup *int64 `json:"fsGroup,omitempty"`
	// SharedMemory is the size of /dev/shm (browsers need more than the
	// container runtime's 64Mi default).
	// +optional
	SharedMemory *resource.Quantity `json:"sharedMemory,omitempty"`
	// AddCapabilities are the Linux capabilities the app keeps: every
	// session container drops ALL and gets back only these. An image that
	// starts as root and drops to its user itself (the linuxserver.io s6
	// images) needs a few; a non-root app cannot use any.
	// +listType=set
	// +kubebuilder:validation:MaxItems=14
	// +optional
	AddCapabilities []LinuxCapability `json:"addCapabilities,omitempty"`
	// AllowPrivilegeEscalation lets the app's processes gain privileges
	// (setuid binaries such as sudo, file capabilities). Off unless an image
	// cannot start without it.
	// +kubebuilder:default=false
	// +optional
	AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation,omitempty"`
}

// LinuxCapability is a capability a session container may keep: only one
// that container runtimes grant an ordinary container by default, so no
// template can ask for more than that (never SYS_ADMIN, NET_ADMIN,
// SYS_PTRACE…).
// +kubebuilder:validation:Enum=AUDIT_WRITE;CHOWN;DAC_OVERRIDE;FOWNER;FSETID;KILL;MKNOD;NET_BIND_SERVICE;NET_RAW;SETFCAP;SETGID;SETPCAP;SETUID;SYS_CHROOT
type LinuxCapability string

// DataPolicy controls what crosses between the user's device and a session.
type DataPolicy struct {
	// ClipboardIn allows pasting from the user's device into the session.
	// +kubebuilder:default=true
	// +optional
	ClipboardIn *bool `json:"clipboardIn,omitempty"`
	// ClipboardOut allows copying from the session to the user's device.
	// +kubebuilder:default=true
	// +optional
	ClipboardOut *bool `json:"clipboardOut,omitempty"`
	// FileUpload allows uploading files into the session.
	// +optional
	FileUpload bool `json:"fileUpload,omitempty"`
	// FileDownload allows downloading files from the session.
	// +optional
	FileDownload bool `json:"fileDownload,omitempty"`
	// Audio allows streaming the session's audio.
	// +optional
	Audio bool `json:"audio,omitempty"`
}

// Template condition types.
const (
	// ConditionImageVerified is True once a session was seen running the
	// template's current baseImage, False while a session cannot start it
	// (the runtime's words in the message), and Unknown until either
	// happens. It is evidence from real starts, not a registry lookup.
	ConditionImageVerified = "ImageVerified"
)

// TemplateSessions counts the sessions of a template that are not
// terminated.
type TemplateSessions struct {
	// Total sessions, whatever their phase.
	Total int32 `json:"total"`
	// Running sessions (phase Running).
	Running int32 `json:"running"`
	// Hibernated sessions (phase Hibernated).
	Hibernated int32 `json:"hibernated"`
}

// ImageStart is the latest moment a session's container started an image.
type ImageStart struct {
	// Image that started.
	Image string `json:"image"`
	// At is when its container started.
	At metav1.Time `json:"at"`
	// Session that started it.
	Session string `json:"session"`
}

// TemplateStatus is the observed state of a Template: who uses it and
// whether its image starts.
type TemplateStatus struct {
	// ObservedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: ImageVerified.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Sessions using the template now.
	// +optional
	Sessions TemplateSessions `json:"sessions,omitempty"`
	// LastImageStart is the latest start of the template's image seen in a
	// session; it outlives the session.
	// +optional
	LastImageStart *ImageStart `json:"lastImageStart,omitempty"`
}

// Template is an app in the catalog that users can launch as a Session.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tpl,categories=streamspace
// +kubebuilder:printcolumn:name="Display Name",type=string,JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Category",type=string,JSONPath=`.spec.category`
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.baseImage`
// +kubebuilder:printcolumn:name="Stream",type=string,JSONPath=`.spec.stream.protocol`
// +kubebuilder:printcolumn:name="Sessions",type=integer,JSONPath=`.status.sessions.total`
// +kubebuilder:printcolumn:name="Image Verified",type=string,JSONPath=`.status.conditions[?(@.type=="ImageVerified")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Template struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TemplateSpec   `json:"spec"`
	Status TemplateStatus `json:"status,omitempty"`
}

// TemplateList is a list of Templates.
//
// +kubebuilder:object:root=true
type TemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Template `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Template{}, &TemplateList{})
}

// HomeMountPath returns where the user's home is mounted, or "" when the
// template mounts no home.
func (t *Template) HomeMountPath() string {
	for _, m := range t.Spec.VolumeMounts {
		if m.Name == HomeVolumeName {
			return m.MountPath
		}
	}
	return ""
}
