package v1alpha1

// Reasons of conditions and events, one list for every kind, so that the
// portal, alerts and `kubectl get events --field-selector reason=…` can rely
// on them. The agent writes no reason that is not named here.

// Reasons shared by every reconciler.
const (
	// ReasonSucceeded: the object reached its desired state.
	ReasonSucceeded = "Succeeded"
	// ReasonProgressing: the controller is working on it (Reconciling).
	ReasonProgressing = "Progressing"
	// ReasonProgressingWithRetry: the last attempt failed with an error
	// that may pass; the controller retries with backoff (Reconciling).
	ReasonProgressingWithRetry = "ProgressingWithRetry"
	// ReasonReconciliationFailed: an error without a more specific reason.
	ReasonReconciliationFailed = "ReconciliationFailed"
	// ReasonSuspended: spec.suspend is set; nothing is reconciled until it
	// is cleared (Ready Unknown when it never reconciled before).
	ReasonSuspended = "Suspended"
)

// Session reasons.
const (
	ReasonTemplateNotFound = "TemplateNotFound"
	ReasonQuotaExceeded    = "QuotaExceeded"
	ReasonImageCannotStart = "ImageCannotStart"
	ReasonStarting         = "Starting"
	ReasonStreamReady      = "StreamReady"
	ReasonIdleTimeout      = "IdleTimeout"
	ReasonMaxDuration      = "MaxSessionDurationReached"
	ReasonUserRequest      = "UserRequest"
	ReasonHibernated       = "Hibernated"
	ReasonTerminated       = "Terminated"
	// ReasonPluginRequest: a plugin granted sessions:hibernate asked.
	ReasonPluginRequest = "PluginRequest"
	// ReasonInputSeen: the session pod's idle reporter says the X server
	// saw input after status.lastActivity; the idle deadline moved.
	ReasonInputSeen = "InputSeen"
	// ReasonIdleReporterUnavailable: at the idle deadline the idle
	// reporter did not answer; the session hibernates on lastActivity.
	ReasonIdleReporterUnavailable = "IdleReporterUnavailable"
)

// Home volume reasons (HomeReady of Sessions and Users).
const (
	ReasonHomeProvisioned  = "HomeProvisioned"
	ReasonNoPersistentHome = "NoPersistentHome"
	// ReasonWaitingForHome: the home volume was just created (by this or
	// another reconciler) and is not visible yet; an expected wait, not an
	// error.
	ReasonWaitingForHome   = "WaitingForHome"
	ReasonHomeFailed       = "HomeFailed"
	ReasonHomeBeingDeleted = "HomeBeingDeleted"
	// ReasonGrowthPending: a larger size was asked; the volume grows once
	// bound.
	ReasonGrowthPending = "GrowthPending"
	// ReasonGrowthRefused: the storage class cannot grow the volume; it is
	// kept at its size.
	ReasonGrowthRefused = "GrowthRefused"
	// ReasonSizeKept: a smaller size was asked; volumes never shrink.
	ReasonSizeKept = "SizeKept"
)

// User reasons.
const (
	// ReasonQuotaNotFound: the User names a Quota that does not exist.
	ReasonQuotaNotFound = "QuotaNotFound"
)

// Template reasons (ImageVerified).
const (
	// ReasonImageStarted: a session ran the template's current image.
	ReasonImageStarted = "ImageStarted"
	// ReasonNotYetStarted: no session has run the current image yet.
	ReasonNotYetStarted = "NotYetStarted"
)

// GitSync reasons.
const (
	// ReasonNotConfigured: spec.url is unset; nothing is synced until the
	// operator sets it (Ready=False, Stalled).
	ReasonNotConfigured      = "NotConfigured"
	ReasonCredentialsInvalid = "CredentialsInvalid"
	ReasonFetchFailed        = "FetchFailed"
	ReasonBuildFailed        = "BuildFailed"
	ReasonValidationFailed   = "ValidationFailed"
	ReasonApplyFailed        = "ApplyFailed"
	ReasonPruneFailed        = "PruneFailed"
	ReasonApplied            = "Applied"
	ReasonPruned             = "Pruned"
	// ReasonInUse: an object that left Git is kept while live sessions (or
	// installed plugins) use it (PruneBlocked, and its event).
	ReasonInUse          = "InUse"
	ReasonDriftDetected  = "DriftDetected"
	ReasonDriftCorrected = "DriftCorrected"
	// ReasonOrphaned: a deleted GitSync left what it applied in place
	// (deletionPolicy Orphan).
	ReasonOrphaned = "Orphaned"
)

// PluginRepository reasons.
const (
	// ReasonIndexed: the repository's manifests were read into its
	// catalog (broken ones are listed in status.broken).
	ReasonIndexed = "Indexed"
	// ReasonManifestInvalid: a plugin's manifest was refused (event).
	ReasonManifestInvalid = "ManifestInvalid"
	// ReasonPolicyInvalid: the plugin permission policy cannot be read;
	// the catalog is not published until it is fixed.
	ReasonPolicyInvalid = "PolicyInvalid"
)

// Plugin reasons (Ready of a Plugin).
const (
	// ReasonInstalled: the plugin's version resolved to a commit, its
	// artifact and config were checked and every permission is approved.
	ReasonInstalled = "Installed"
	// ReasonPermissionsPending: the manifest asks for permissions that
	// spec.approvedPermissions does not grant (the message names them).
	ReasonPermissionsPending = "PermissionsPending"
	// ReasonConfigInvalid: spec.config breaks the plugin's JSON Schema
	// (the message is the schema's).
	ReasonConfigInvalid = "ConfigInvalid"
	// ReasonVersionNotFound: the repository has no such plugin at
	// spec.version.
	ReasonVersionNotFound = "VersionNotFound"
	// ReasonArtifactMismatch: the plugin's module does not have the digest
	// its manifest declares.
	ReasonArtifactMismatch = "ArtifactMismatch"
	// ReasonBeyondTrust: the plugin asks for a permission riskier than its
	// repository may be granted (the plugin permission policy).
	ReasonBeyondTrust = "BeyondTrust"
	// ReasonDisabled: spec.enabled is false; the plugin is resolved but
	// receives nothing.
	ReasonDisabled = "Disabled"
	// ReasonRepositoryUnavailable: the plugin's PluginRepository is
	// missing, not indexed yet, or cannot be fetched.
	ReasonRepositoryUnavailable = "RepositoryUnavailable"
)

// Plugin delivery reasons (Delivering of a Plugin, written by the portal).
const (
	// ReasonDelivered: the latest event reached the plugin.
	ReasonDelivered = "Delivered"
	// ReasonRuntimeStopped: the plugin's runtime stopped an event for good
	// (the message says why: time or memory limit, unapproved host, a
	// receiver refusing it).
	ReasonRuntimeStopped = "RuntimeStopped"
)
