// Package manager wires the agent's controllers and webhooks into one
// controller-runtime manager. cmd/streamspace-agent and the local platform
// (cmd/streamspace local up) both start the agent through it.
package manager

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/streamspace/streamspace/agent/gitsync"
	"github.com/streamspace/streamspace/agent/plugins"
	"github.com/streamspace/streamspace/agent/quota"
	"github.com/streamspace/streamspace/agent/reconciler"
	"github.com/streamspace/streamspace/agent/sessions"
	"github.com/streamspace/streamspace/agent/templates"
	"github.com/streamspace/streamspace/agent/users"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// Config is everything the agent needs to start.
type Config struct {
	// Namespace the agent manages (the platform namespace).
	Namespace string
	// MetricsAddr serves Prometheus metrics; "0" disables.
	MetricsAddr string
	// ProbeAddr serves /healthz and /readyz; "0" disables.
	ProbeAddr string
	// PprofAddr serves net/http/pprof (the benchmarks profile the agent
	// through it); "" or "0" disables.
	PprofAddr string
	// Webhook server: host, port and the folder with tls.crt/tls.key.
	WebhookHost    string
	WebhookPort    int
	WebhookCertDir string
	// DisableWebhooks runs without the admission webhook (the reconciler's
	// quota re-check still applies).
	DisableWebhooks bool
	// LeaderElection for running several replicas.
	LeaderElection bool
	// LeaseDuration, RenewDeadline and RetryPeriod tune leader election;
	// zero keeps controller-runtime's (15s, 10s, 2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// SyncAllowedKinds are the kinds a GitSync may apply besides the
	// StreamSpace kinds and NetworkPolicy ("ConfigMap,Kind.group").
	SyncAllowedKinds string
	// ReceiverAddr serves the Git push webhook receiver (/hook/github,
	// /hook/generic); it runs only with a ReceiverSecret.
	ReceiverAddr   string
	ReceiverSecret []byte
	// Concurrency of the session controller; 0 means DefaultSessionWorkers.
	SessionWorkers int
	Sessions       sessions.Options
	// Registry receives the agent's metrics; nil means controller-runtime's
	// global registry (served on MetricsAddr).
	Registry prometheus.Registerer
}

// DefaultSessionWorkers is how many sessions are reconciled at once. A
// launch is a handful of API round trips and almost no CPU, so the workers
// wait on the API server: with 4, a burst of 1,000 launches queued behind
// them for minutes while the agent used 16% of one core (make
// bench-controller, -profile). 16 matches the concurrency of the bare
// client-go writer the benchmark compares with.
const DefaultSessionWorkers = 16

// Scheme knows the Kubernetes and StreamSpace types.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = streamv1.AddToScheme(s)
	return s
}

// New builds the agent's manager with its controllers and webhooks.
func New(ctx context.Context, restCfg *rest.Config, cfg Config) (ctrl.Manager, error) {
	// Only our own children are cached: a cluster with thousands of pods
	// must not cost the agent their memory.
	ours := labels.SelectorFromSet(labels.Set{users.LabelManagedBy: users.ManagedBy})
	fromGit, err := labels.Parse(gitsync.OwnerNameLabel)
	if err != nil {
		return nil, err
	}
	opts := ctrl.Options{
		Scheme:                 Scheme(),
		Metrics:                metricsserver.Options{BindAddress: cfg.MetricsAddr},
		HealthProbeBindAddress: cfg.ProbeAddr,
		PprofBindAddress:       cfg.PprofAddr,
		LeaderElection:         cfg.LeaderElection,
		LeaderElectionID:       reconciler.AgentName + ".stream.space",
		// A replica that stops gracefully (a rollout, a drain) hands the
		// lease over at once instead of leaving the others to wait it out.
		// Safe: the manager releases it only after its controllers
		// stopped, and the binary exits when Start returns.
		LeaderElectionReleaseOnCancel: true,
		Cache: cache.Options{
			ByObject: map[client.Object]cache.ByObject{
				&appsv1.Deployment{}:    {Label: ours},
				&corev1.Service{}:       {Label: ours},
				&networkingv1.Ingress{}: {Label: ours},
				&corev1.Pod{}:           {Label: ours},
				// Of these kinds the agent only watches what Git applied.
				&corev1.ConfigMap{}:           {Label: fromGit},
				&networkingv1.NetworkPolicy{}: {Label: fromGit},
			},
		},
	}
	for _, d := range []struct {
		to  **time.Duration
		val time.Duration
	}{{&opts.LeaseDuration, cfg.LeaseDuration}, {&opts.RenewDeadline, cfg.RenewDeadline}, {&opts.RetryPeriod, cfg.RetryPeriod}} {
		if d.val > 0 {
			*d.to = &d.val
		}
	}
	// The cache lists and watches the platform namespace only: the agent's
	// RBAC (deploy/rbac, generated from its markers) is a Role there, plus
	// a ClusterRole for Nodes alone (cluster-scoped objects are cached
	// cluster-wide whatever DefaultNamespaces says). An empty Namespace
	// watches every namespace and needs cluster-wide rules deploy/ does not
	// grant.
	if cfg.Namespace != "" {
		opts.Cache.DefaultNamespaces = map[string]cache.Config{cfg.Namespace: {}}
		opts.LeaderElectionNamespace = cfg.Namespace
	}
	if !cfg.DisableWebhooks {
		opts.WebhookServer = webhook.NewServer(webhook.Options{Host: cfg.WebhookHost, Port: cfg.WebhookPort, CertDir: cfg.WebhookCertDir})
	}
	mgr, err := ctrl.NewManager(restCfg, opts)
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}

	reg := cfg.Registry
	if reg == nil {
		reg = ctrlmetrics.Registry
	}
	reconciles, err := reconciler.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	events := mgr.GetEventRecorder(reconciler.AgentName)
	metrics, err := sessions.NewLeaderMetrics(reg, mgr.GetCache(), mgr.Elected())
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	// Real use from metrics.k8s.io, read past the cache (it cannot be watched).
	if err := sessions.RegisterRealUse(reg, mgr.GetAPIReader(), cfg.Namespace, mgr.Elected()); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	workers := cfg.SessionWorkers
	if workers == 0 {
		workers = DefaultSessionWorkers
	}
	// First: it registers the session indexes the status controllers use.
	if err := (&sessions.SessionReconciler{
		Client:     mgr.GetClient(),
		APIReader:  mgr.GetAPIReader(),
		Recorder:   events,
		Options:    cfg.Sessions,
		Metrics:    metrics,
		Reconciles: reconciles,
	}).SetupWithManager(ctx, mgr, controller.Options{MaxConcurrentReconciles: workers}); err != nil {
		return nil, fmt.Errorf("set up session controller: %w", err)
	}
	if err := (&templates.StatusReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up template status controller: %w", err)
	}
	if err := (&quota.StatusReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up quota status controller: %w", err)
	}
	syncMetrics, err := gitsync.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	desired := gitsync.NewDesiredStore()
	if err := (&gitsync.GitSyncReconciler{
		Allowed:    gitsync.ParseAllowed(cfg.SyncAllowedKinds),
		Client:     mgr.GetClient(),
		Recorder:   events,
		Metrics:    syncMetrics,
		Reconciles: reconciles,
		Desired:    desired,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up git sync controller: %w", err)
	}
	if err := (&gitsync.DriftReconciler{
		Client:   mgr.GetClient(),
		Recorder: events,
		Metrics:  syncMetrics,
		Desired:  desired,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up drift controller: %w", err)
	}
	pluginMetrics, err := plugins.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if err := (&plugins.RepositoryReconciler{
		Client:     mgr.GetClient(),
		Recorder:   events,
		Metrics:    pluginMetrics,
		Reconciles: reconciles,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up plugin repository controller: %w", err)
	}
	if err := (&plugins.PluginReconciler{Client: mgr.GetClient(), Recorder: events, Reconciles: reconciles}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up plugin controller: %w", err)
	}
	if cfg.ReceiverAddr != "" && len(cfg.ReceiverSecret) > 0 {
		requests, err := gitsync.NewReceiverMetrics(reg)
		if err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
		rc := &gitsync.Receiver{Client: mgr.GetClient(), Secret: cfg.ReceiverSecret, Namespace: cfg.Namespace,
			Log: ctrl.Log.WithName("receiver"), Requests: requests}
		srv := &receiverServer{addr: cfg.ReceiverAddr, handler: rc}
		if err := mgr.Add(srv); err != nil {
			return nil, err
		}
		if err := mgr.AddReadyzCheck("receiver", srv.listening); err != nil {
			return nil, err
		}
	}
	if err := (&users.UserReconciler{Client: mgr.GetClient(), Home: cfg.Sessions.Home, Reconciles: reconciles}).
		SetupWithManager(mgr, controller.Options{MaxConcurrentReconciles: 2}); err != nil {
		return nil, fmt.Errorf("set up user controller: %w", err)
	}
	if !cfg.DisableWebhooks {
		if err := (&quota.SessionValidator{}).SetupWebhookWithManager(mgr); err != nil {
			return nil, fmt.Errorf("set up session webhook: %w", err)
		}
		if err := (&plugins.PluginValidator{}).SetupWebhookWithManager(mgr); err != nil {
			return nil, fmt.Errorf("set up plugin webhook: %w", err)
		}
		if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
			return nil, err
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}

// receiverServer serves the push receiver on every replica, leader or
// not: the agent Service spreads pushes over all replicas, and the receiver
// only annotates the GitSync, which the leader then syncs. A plain runnable
// would run on the leader only, and half of the pushes would meet a closed
// port.
type receiverServer struct {
	addr    string
	handler http.Handler
	ready   atomic.Bool
}

// NeedLeaderElection: every replica serves pushes.
func (s *receiverServer) NeedLeaderElection() bool { return false }

// listening is the readiness check: the Service sends pushes to a replica
// only once its receiver accepts them.
func (s *receiverServer) listening(*http.Request) error {
	if !s.ready.Load() {
		return errors.New("the push receiver is not listening yet")
	}
	return nil
}

// Start serves until ctx ends, then shuts the server down gracefully.
func (s *receiverServer) Start(ctx context.Context) error {
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("serve push receiver: %w", err)
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	s.ready.Store(true)
	select {
	case err := <-errc:
		return fmt.Errorf("serve push receiver on %s: %w", s.addr, err)
	case <-ctx.Done():
		s.ready.Store(false)
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	}
}
