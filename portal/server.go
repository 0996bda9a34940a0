package portal

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/streamspace/streamspace/agent/quota"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal/api"
	"github.com/streamspace/streamspace/portal/audit"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/gitwrite"
	"github.com/streamspace/streamspace/portal/history"
	"github.com/streamspace/streamspace/portal/leader"
	"github.com/streamspace/streamspace/portal/plugins"
	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/portal/store/postgres"
	"github.com/streamspace/streamspace/portal/store/sqlite"
	"github.com/streamspace/streamspace/portal/stream"
	"github.com/streamspace/streamspace/portal/web"
)

// OpenStore opens PostgreSQL for a postgres:// DSN, else the embedded
// SQLite database.
func OpenStore(ctx context.Context, cfg Config) (store.Store, error) {
	if strings.HasPrefix(cfg.Database, "postgres://") || strings.HasPrefix(cfg.Database, "postgresql://") {
		return postgres.Open(ctx, cfg.Database)
	}
	path := cfg.Database
	if path == "" {
		path = filepath.Join(cfg.StateDir, "portal.db")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return sqlite.Open(ctx, path)
}

// Scheme is what the portal reads and writes in the cluster.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = streamv1.AddToScheme(s)
	return s
}

// Run serves the portal until ctx ends, then lets requests and streams
// finish for the grace period. Reads come from a cache of the platform
// namespace's StreamSpace objects (a session list is answered from memory,
// not by the API server); writes go to the API server.
func Run(ctx context.Context, cfg Config, restCfg *rest.Config) error {
	gin.SetMode(gin.ReleaseMode)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	st, err := openState(ctx, cfg, restCfg, reg)
	if err != nil {
		return err
	}
	defer st.close()
	h, err := NewHandlers(Components{
		Client: st.client, Cache: st.cache, Reader: st.reader, Namespace: cfg.Namespace, Store: st.db, Audit: st.audit, Events: st.events, Registry: reg, Log: cfg.Log,
		Tokens:        &auth.Tokens{Store: st.db, Key: st.key, Issuer: "streamspace", RecheckEvery: cfg.SSORecheck},
		LoginLimiter:  auth.NewLoginLimiter(12*time.Second, 5), // 5 tries, then 5 a minute
		SecureCookies: cfg.SecureCookies, OIDC: cfg.OIDC, Writer: st.writer, StreamViaPodIP: cfg.StreamViaPodIP,
		IngressHost: cfg.IngressHost,
		AppsDomain:  cfg.AppsDomain, PublicURL: cfg.PublicURL, PathWebClients: cfg.PathWebClients,
		TrustedProxies: cfg.TrustedProxies,
	})
	if err != nil {
		return err
	}
	if h.PathWebClients {
		cfg.Log.Info("Web clients are served on the portal's own origin (/api/v1/sessions/{id}/web/): a session's page can act as whoever opens it, admins included; set --apps-domain to serve each session on its own host")
	}
	h.UI = web.Handler()
	return serve(ctx, cfg, Handler(h), h.Stream, st.cacheStopped)
}

// HistoryLease is the Lease (in the platform namespace) whose holder
// records session history when several replicas run (--leader-elect).
const HistoryLease = "streamspace-portal-history"

// PluginsLease is the Lease whose holder delivers plugin events.
const PluginsLease = "streamspace-portal-plugins"

// state is what the portal opens before it serves: the Kubernetes cache
// (started, synced), the store, the audit log, the signing key and the
// write-back.
type state struct {
	client       client.Client
	cache        cache.Cache   // what client reads from
	reader       client.Reader // uncached: for what the portal may only get
	db           store.Store
	audit        *audit.Log
	key          []byte
	writer       *gitwrite.Writer
	events       *plugins.Events
	cacheStopped <-chan error
	close        func()
}

func openState(ctx context.Context, cfg Config, restCfg *rest.Config, reg prometheus.Registerer) (*state, error) {
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme: Scheme(),
		Logger: cfg.Log,
		Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{cfg.Namespace: {}},
			// the portal never reads managedFields; without them a session
			// costs the cache (and every list) about half as much
			DefaultTransform: cache.TransformStripManagedFields()},
		Metrics:                metricsserver.Options{BindAddress: "0"}, // the portal serves its own /metrics
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	if err := quota.IndexSessionUser(ctx, mgr.GetFieldIndexer()); err != nil {
		return nil, err
	}
	writer, err := newWriter(cfg.GitWrite)
	if err != nil {
		return nil, err
	}
	db, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	st := &state{client: mgr.GetClient(), cache: mgr.GetCache(), reader: mgr.GetAPIReader(), db: db, writer: writer, close: func() { _ = db.Close() }}
	fail := func(err error) (*state, error) {
		st.close()
		return nil, err
	}
	if st.audit, err = audit.NewLog(db, cfg.Log.WithName("audit"), reg); err != nil {
		return fail(err)
	}
	pluginMetrics, err := plugins.NewMetrics(reg)
	if err != nil {
		return fail(err)
	}
	st.events = plugins.NewEvents(db, pluginMetrics, cfg.Log.WithName("plugins"))
	var recorder manager.Runnable = &history.Recorder{Store: db, Audit: st.audit, Cache: mgr.GetCache(), Log: cfg.Log.WithName("history"),
		Namespace: cfg.Namespace, Events: st.events, ReplayWithin: plugins.DefaultRetention, Reader: mgr.GetAPIReader()}
	var dispatcher manager.Runnable = &plugins.Dispatcher{Client: mgr.GetClient(), Namespace: cfg.Namespace, Cache: mgr.GetCache(),
		Store: db, Events: st.events, Source: cfg.PublicURL, Metrics: pluginMetrics, Log: cfg.Log.WithName("plugins"),
		Runtime: plugins.NewRuntime(mgr.GetClient(), mgr.GetAPIReader(), cfg.Namespace, cfg.Log.WithName("plugins"))}
	if cfg.LeaderElection {
		// one replica of several records and delivers; losing a lease
		// stops that task, never the replica's requests and streams
		recorder = &leader.Only{Config: restCfg, Namespace: cfg.Namespace, Name: HistoryLease, Task: recorder, Log: cfg.Log.WithName("history")}
		dispatcher = &leader.Only{Config: restCfg, Namespace: cfg.Namespace, Name: PluginsLease, Task: dispatcher, Log: cfg.Log.WithName("plugins")}
	}
	if err := mgr.Add(recorder); err != nil {
		return fail(err)
	}
	if err := mgr.Add(dispatcher); err != nil {
		return fail(err)
	}
	// the cache outlives ctx until the requests it answers have drained
	mgrCtx, stopMgr := context.WithCancel(context.WithoutCancel(ctx))
	cacheStopped, mgrDone := make(chan error, 1), make(chan struct{})
	st.close = func() {
		// the recorder and the dispatcher write to the store until the
		// manager has stopped them: close it only then (bounded: the
		// manager gives its runnables 30 s)
		stopMgr()
		select {
		case <-mgrDone:
		case <-time.After(35 * time.Second):
			cfg.Log.Info("Shutdown: the history recorder or the plugin dispatcher did not stop within 35s; closing the store under it")
		}
		_ = db.Close()
	}
	go func() { cacheStopped <- mgr.Start(mgrCtx); close(mgrDone) }()
	st.cacheStopped = cacheStopped
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return fail(errors.New("the Kubernetes cache did not sync"))
	}
	if _, err := auth.Bootstrap(ctx, db, "admin", cfg.StateDir, cfg.Out); err != nil {
		return fail(err)
	}
	if st.key = cfg.SigningKey; len(st.key) == 0 {
		if st.key, err = stateKey(cfg.StateDir); err != nil {
			return fail(err)
		}
	}
	return st, nil
}

func newWriter(cfg *gitwrite.Config) (*gitwrite.Writer, error) {
	if cfg == nil {
		return nil, nil
	}
	w, err := gitwrite.New(*cfg)
	if err != nil {
		return nil, fmt.Errorf("write-back: %w", err)
	}
	return w, nil
}

// Components are what the portal's handlers are made of: Run opens them
// from its Config; tests bring their own.
type Components struct {
	Client client.Client
	// Cache is the informer cache Client reads from; nil: Client is
	// uncached (the session list then reads it per request).
	Cache cache.Cache
	// Reader reads, uncached, what the portal may get but not list or
	// watch (a plugin repository, its credentials); nil: Client.
	Reader    client.Reader
	Namespace string
	Store     store.Store
	Tokens    *auth.Tokens
	// Registry receives the portal's metrics, and /metrics serves it.
	Registry *prometheus.Registry
	// Audit is the audit log; nil: one writing to Store, its lost records
	// counted on Registry.
	Audit *audit.Log
	// Events records user events for plugins; nil: none.
	Events *plugins.Events
	Log    logr.Logger

	SecureCookies bool
	// LoginLimiter slows password guessing; nil allows every attempt.
	LoginLimiter *auth.LoginLimiter
	// OIDC is single sign-on; nil: off.
	OIDC *auth.OIDC
	// Writer proposes admins' changes to Git; nil: not configured.
	Writer         *gitwrite.Writer
	StreamViaPodIP bool
	// IngressHost: as in Config.
	IngressHost string
	// TrustedProxies: as in Config.
	TrustedProxies []string
	// AppsDomain, PublicURL and PathWebClients: as in Config.
	AppsDomain     string
	PublicURL      string
	PathWebClients *bool
}

// NewHandlers composes every handler from c, each given only what it uses.
func NewHandlers(c Components) (Handlers, error) {
	metrics, err := NewMetrics(c.Registry)
	if err != nil {
		return Handlers{}, err
	}
	streamMetrics, err := stream.NewMetrics(c.Registry)
	if err != nil {
		return Handlers{}, err
	}
	auditLog := c.Audit
	if auditLog == nil {
		if auditLog, err = audit.NewLog(c.Store, c.Log.WithName("audit"), c.Registry); err != nil {
			return Handlers{}, err
		}
	}
	k8s, ns := c.Client, c.Namespace
	identities := &api.Identities{Client: k8s, Namespace: ns}
	sessions := &api.SessionsAPI{Client: k8s, Cache: c.Cache, Namespace: ns, Audit: auditLog}
	proxy := &stream.Proxy{Client: k8s, Namespace: ns, NotRunning: sessions.NotRunning, Audit: auditLog,
		Metrics: streamMetrics, Log: c.Log.WithName("stream"), ViaPodIP: c.StreamViaPodIP}
	// these handlers' own copy: SSO logins re-check with this provider,
	// and an account that loses access loses this proxy's streams
	tokens := *c.Tokens
	if tokens.Provider == nil {
		tokens.Provider = c.OIDC
	}
	tokens.Watcher = proxy
	c.Tokens = &tokens
	authAPI := &api.AuthAPI{Store: c.Store, Tokens: c.Tokens, SecureCookies: c.SecureCookies, Limiter: c.LoginLimiter,
		Identities: identities, Audit: auditLog, Events: c.Events}
	forwardAuth, err := api.NewForwardAuthAPI(c.Registry, k8s, ns, c.IngressHost)
	if err != nil {
		return Handlers{}, err
	}
	var apps *stream.Apps
	if c.AppsDomain != "" {
		public, err := url.Parse(c.PublicURL)
		if err != nil {
			return Handlers{}, fmt.Errorf("public URL: %w", err)
		}
		if apps, err = stream.NewApps(c.AppsDomain, public, proxy, c.Store, c.Tokens.Key, c.TrustedProxies, requestID()); err != nil {
			return Handlers{}, err
		}
		forwardAuth.Apps = apps // a session's Ingress host takes its apps cookie
	}
	return Handlers{
		TrustedProxies: c.TrustedProxies,
		Apps:           apps,
		PathWebClients: Config{AppsDomain: c.AppsDomain, PathWebClients: c.PathWebClients}.pathWebClients(),
		Metrics:        metrics,
		Gatherer:       promhttp.HandlerFor(c.Registry, promhttp.HandlerOpts{}),
		Log:            c.Log,
		Ready:          ready(c.Store, k8s, ns),
		Auth:           authAPI,
		OIDC:           &api.OIDCAPI{OIDC: c.OIDC, Auth: authAPI},
		Sessions:       sessions,
		ForwardAuth:    forwardAuth,
		Templates:      &api.TemplatesAPI{Client: k8s, Namespace: ns},
		Users:          &api.UsersAPI{Client: k8s, Namespace: ns},
		Tokens:         &api.TokensAPI{Store: c.Store, Tokens: c.Tokens, Audit: auditLog},
		Stream:         proxy,
		AdminUsers:     &api.AdminUsersAPI{Store: c.Store, Tokens: c.Tokens, Client: k8s, Namespace: ns, Identities: identities, Audit: auditLog, Watcher: proxy, Events: c.Events},
		Analytics:      &api.AnalyticsAPI{History: c.Store, Client: k8s, Namespace: ns},
		Platform:       &api.PlatformAPI{Client: k8s, Namespace: ns, Audit: auditLog},
		Changes:        &api.ChangesAPI{Client: k8s, Namespace: ns, Writer: c.Writer, Users: c.Store, Audit: auditLog},
		Plugins:        &api.PluginsAPI{Client: k8s, Reader: c.Reader, Namespace: ns, Writer: c.Writer, Users: c.Store, Audit: auditLog, History: c.Store, Deliveries: c.Store},
	}, nil
}

// Handler routes a request by its Host before anything else reads it: an
// apps host (under --apps-domain) to the session it names, where nothing of
// the portal answers; any other host to the portal, under its
// Content-Security-Policy.
func Handler(h Handlers) http.Handler {
	router := NewRouter(h)
	csp := portalCSP(h.Apps)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.Apps != nil && h.Apps.Serves(r.Host) {
			h.Apps.ServeHTTP(w, r)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if isPathWebClient(r.URL.Path) {
			// a web client under --path-web-clients: not our page, its
			// scripts are its own; only the viewer may frame it
			w.Header().Set("Content-Security-Policy", "frame-ancestors 'self'")
		} else {
			w.Header().Set("Content-Security-Policy", csp)
		}
		router.ServeHTTP(w, r)
	})
}

// portalCSP: the UI runs only its own scripts, talks only to the portal,
// frames only the apps hosts and is framed by nobody. Styles allow inline:
// MUI (emotion) injects <style> elements at run time. Images allow https:
// for the catalog's template icons (an image runs no script). Fonts allow
// data: because Vite inlines the small Roboto subsets into the CSS.
func portalCSP(apps *stream.Apps) string {
	frames, connect := "'self'", "'self'" // web clients under /api/v1/sessions/{id}/web/, noVNC on /connect
	if apps != nil {
		// the viewer's noVNC streams from the session's apps host
		frames, connect = apps.Sources(), "'self' "+apps.SocketSources()
	}
	return strings.Join([]string{"default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'",
		"img-src 'self' data: https:", "font-src 'self' data:", "connect-src " + connect, "frame-src " + frames, "frame-ancestors 'none'",
		"base-uri 'none'", "object-src 'none'", "form-action 'self'"}, "; ")
}

func isPathWebClient(path string) bool {
	rest, ok := strings.CutPrefix(path, "/api/v1/sessions/")
	_, after, found := strings.Cut(rest, "/")
	return ok && found && strings.HasPrefix(after, "web/")
}

// ready answers /readyz: the portal serves when its database and the
// Kubernetes API answer.
func ready(db store.Store, k8s client.Reader, namespace string) func(*gin.Context) error {
	return func(c *gin.Context) error {
		if err := db.Ping(c); err != nil {
			return &NotReadyError{Dependency: "database", Err: err}
		}
		if err := k8s.List(c, &streamv1.TemplateList{}, client.InNamespace(namespace), client.Limit(1)); err != nil {
			return &NotReadyError{Dependency: "kubernetes-api", Err: err}
		}
		return nil
	}
}

// NotReadyError names the dependency that keeps the portal from serving.
// /readyz answers only its name: the cause (a DSN, an address) goes to the
// log, not to whoever can reach the probe.
type NotReadyError struct {
	Dependency string
	Err        error
}

func (e *NotReadyError) Error() string { return e.Dependency + ": " + e.Err.Error() }
func (e *NotReadyError) Unwrap() error { return e.Err }

// serve answers on cfg.Addr until ctx ends, then drains: requests and
// streams share one grace period.
func serve(ctx context.Context, cfg Config, h http.Handler, streams *stream.Proxy, cacheStopped <-chan error) error {
	srv := &http.Server{Addr: cfg.Addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", cfg.Addr, err)
	case err := <-cacheStopped:
		_ = srv.Close()
		return fmt.Errorf("kubernetes cache stopped: %w", err)
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), cfg.grace())
		defer cancel()
		streamsDone := make(chan error, 1)
		go func() { streamsDone <- streams.Shutdown(shutdown) }()
		if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		if err := <-streamsDone; err != nil {
			cfg.Log.Info("Shutdown", "streams", err.Error())
		}
		return nil
	}
}

// stateKey reads the signing key kept in dir, creating it the first time,
// so tokens survive a restart.
func stateKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, "token-signing.key")
	if key, err := os.ReadFile(path); err == nil && len(key) >= 32 {
		return key, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return key, os.WriteFile(path, key, 0o600)
}
