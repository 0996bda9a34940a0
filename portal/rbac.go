package portal

// What the portal may do in the platform namespace (deploy/portal/rbac is
// generated from these by `make generate`; a RoleBinding confines it to
// the namespace):
//
//   - sessions: read (from its cache), create (launches), patch spec.state
//     (wake, terminate) and status.lastActivity (the stream proxy);
//   - templates and quotas: read, and update with dry run only (an admin's
//     edit is checked by the API server before it becomes a pull request);
//   - users: read, and apply the identity (groups, disabled) of accounts;
//   - gitsyncs: read, and annotate (sync now);
//   - services, and pods with their replicasets and deployments: read, to
//     check that what the stream proxy dials is the session's own (its
//     Service, or its pod by IP where cluster DNS is not available);
//   - leases: elect the replica that records session history (and the one
//     that delivers plugin events);
//   - plugins: read, and apply their Delivering condition (the plugin
//     event dispatcher);
//   - secrets: get only, for a webhook plugin's signing key
//     (plugin-<name>-signing; the portal caches, lists and watches no
//     Secrets, and uses a key only from a Secret its Plugin owns), and
//     for a plugin repository's credentials;
//   - pluginrepositories: get, to fetch a WebAssembly plugin's module at
//     its pinned revision (a plugin granted sessions:hibernate or
//     sessions:annotate acts through the sessions patch above).
//
// +kubebuilder:rbac:groups=stream.space,resources=sessions,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=stream.space,resources=sessions/status,verbs=patch
// +kubebuilder:rbac:groups=stream.space,resources=templates;quotas,verbs=get;list;watch;update
// +kubebuilder:rbac:groups=stream.space,resources=users,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=stream.space,resources=gitsyncs,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=pods;services,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=replicasets;deployments,verbs=get;list;watch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=stream.space,resources=plugins,verbs=get;list;watch
// +kubebuilder:rbac:groups=stream.space,resources=pluginrepositories,verbs=get
// +kubebuilder:rbac:groups=stream.space,resources=plugins/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
