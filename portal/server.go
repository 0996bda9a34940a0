package portal

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
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
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/streamspace/streamspace/agent/quota"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal/api"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/gitwrite"
	"github.com/streamspace/streamspace/portal/history"
	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/portal/store/postgres"
	"github.com/streamspace/streamspace/portal/store/sqlite"
	"github.com/streamspace/streamspace/portal/stream"
	"github.com/streamspace/streamspace/portal/web"
)

// Config is what the portal needs to run.
type Config struct {
	Addr      string
	Namespace string
	// Database: a postgres:// DSN, else an SQLite file path.
	Database string
	// StateDir holds the SQLite file and the generated signing key when
	// none is given.
	StateDir string
	// SigningKey signs access tokens; generated and kept in StateDir when
	// empty.
	SigningKey    []byte
	SecureCookies bool
	// OIDC enables single sign-on; nil: local accounts only.
	OIDC *auth.OIDC
	// GitWrite is where admins' changes go (the platform repository, with
	// write credentials separate from the agent's); nil: admins cannot
	// change templates and quotas through the portal.
	GitWrite *gitwrite.Config
	// StreamViaPodIP reaches session pods by IP rather than their
	// Service's DNS name (a portal outside the cluster network's DNS).
	StreamViaPodIP bool
	// LeaderElection makes one replica of several record session history.
	LeaderElection bool
	// ShutdownGrace is how long requests and streams may go on once the
	// portal is asked to stop (default 30 s).
	ShutdownGrace time.Duration
	// Out receives the bootstrap admin's one-time password.
	Out io.Writer
	Log logr.Logger
}

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
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme: Scheme(),
		Logger: cfg.Log,
		Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{cfg.Namespace: {}},
			// the portal never reads managedFields; without them a session
			// costs the cache (and every list) about half as much
			DefaultTransform: cache.TransformStripManagedFields()},
		Metrics:                 metricsserver.Options{BindAddress: "0"}, // the portal serves its own /metrics
		HealthProbeBindAddress:  "0",
		LeaderElection:          cfg.LeaderElection,
		LeaderElectionID:        "streamspace-portal-history",
		LeaderElectionNamespace: cfg.Namespace,
	})
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	if err := quota.IndexSessionUser(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}
	db, err := OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := mgr.Add(&history.Recorder{Store: db, Cache: mgr.GetCache(), Log: cfg.Log.WithName("history")}); err != nil {
		return err
	}
	mgrCtx, stopMgr := context.WithCancel(context.WithoutCancel(ctx))
	defer stopMgr()
	mgrErr := make(chan error, 1)
	go func() { mgrErr <- mgr.Start(mgrCtx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return errors.New("the Kubernetes cache did not sync")
	}
	k8s := mgr.GetClient()
	if _, err := auth.Bootstrap(ctx, db, "admin", cfg.Out); err != nil {
		return err
	}
	key := cfg.SigningKey
	if len(key) == 0 {
		if key, err = stateKey(cfg.StateDir); err != nil {
			return err
		}
	}
	tokens := &auth.Tokens{Store: db, Key: key, Issuer: "streamspace"}
	gin.SetMode(gin.ReleaseMode)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := NewMetrics(reg)
	if err != nil {
		return err
	}
	streamMetrics, err := stream.NewMetrics(reg)
	if err != nil {
		return err
	}
	identities := &api.Identities{Client: k8s, Namespace: cfg.Namespace}
	sessions := &api.SessionsAPI{Client: k8s, Namespace: cfg.Namespace, Audit: db}
	proxy := &stream.Proxy{Client: k8s, Namespace: cfg.Namespace, Fail: FailStream, NotRunning: sessions.NotRunning,
		Audit: db, Metrics: streamMetrics, Log: cfg.Log.WithName("stream"), ViaPodIP: cfg.StreamViaPodIP}
	var writer *gitwrite.Writer
	if cfg.GitWrite != nil {
		if writer, err = gitwrite.New(*cfg.GitWrite); err != nil {
			return fmt.Errorf("write-back: %w", err)
		}
	}
	authAPI := &api.AuthAPI{Store: db, Tokens: tokens, SecureCookies: cfg.SecureCookies,
		Limiter: auth.NewLoginLimiter(12*time.Second, 5), Identities: identities} // 5 tries, then 5 a minute
	h := NewRouter(Handlers{
		Metrics:  metrics,
		Gatherer: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Log:      cfg.Log,
		Ready: func(c *gin.Context) error {
			if err := db.Ping(c); err != nil {
				return fmt.Errorf("database: %w", err)
			}
			if err := k8s.List(c, &streamv1.TemplateList{}, client.InNamespace(cfg.Namespace), client.Limit(1)); err != nil {
				return fmt.Errorf("kubernetes API: %w", err)
			}
			return nil
		},
		Auth:       authAPI,
		OIDC:       &api.OIDCAPI{OIDC: cfg.OIDC, Auth: authAPI},
		Sessions:   sessions,
		Templates:  &api.TemplatesAPI{Client: k8s, Namespace: cfg.Namespace},
		Users:      &api.UsersAPI{Client: k8s, Namespace: cfg.Namespace},
		Tokens:     &api.TokensAPI{Store: db, Tokens: tokens},
		Stream:     proxy,
		AdminUsers: &api.AdminUsersAPI{Store: db, Tokens: tokens, Client: k8s, Namespace: cfg.Namespace, Identities: identities},
		Analytics:  &api.AnalyticsAPI{Store: db, Client: k8s, Namespace: cfg.Namespace},
		Platform:   &api.PlatformAPI{Client: k8s, Namespace: cfg.Namespace, Audit: db},
		Changes:    &api.ChangesAPI{Client: k8s, Namespace: cfg.Namespace, Writer: writer, Store: db},
		UI:         web.Handler(),
	})
	srv := &http.Server{Addr: cfg.Addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", cfg.Addr, err)
	case err := <-mgrErr:
		_ = srv.Close()
		return fmt.Errorf("kubernetes cache stopped: %w", err)
	case <-ctx.Done():
		// requests and streams share one grace period
		shutdown, cancel := context.WithTimeout(context.Background(), cfg.grace())
		defer cancel()
		streamsDone := make(chan error, 1)
		go func() { streamsDone <- proxy.Shutdown(shutdown) }()
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

func (c Config) grace() time.Duration {
	if c.ShutdownGrace > 0 {
		return c.ShutdownGrace
	}
	return 30 * time.Second
}
