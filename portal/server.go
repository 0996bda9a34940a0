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
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal/api"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/store"
	"github.com/streamspace/streamspace/portal/store/postgres"
	"github.com/streamspace/streamspace/portal/store/sqlite"
	"github.com/streamspace/streamspace/portal/stream"
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

// Run serves the portal until ctx ends, then lets requests finish for up
// to 30 s.
func Run(ctx context.Context, cfg Config, k8s client.Client) error {
	db, err := OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
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
		Auth: &api.AuthAPI{Store: db, Tokens: tokens, SecureCookies: cfg.SecureCookies,
			Limiter: auth.NewLoginLimiter(12*time.Second, 5)}, // 5 tries, then 5 a minute
		Sessions:  &api.SessionsAPI{Client: k8s, Namespace: cfg.Namespace, Audit: db},
		Templates: &api.TemplatesAPI{Client: k8s, Namespace: cfg.Namespace},
		Users:     &api.UsersAPI{Client: k8s, Namespace: cfg.Namespace},
		Stream:    &stream.Proxy{Client: k8s, Namespace: cfg.Namespace, Fail: FailStream},
	})
	srv := &http.Server{Addr: cfg.Addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", cfg.Addr, err)
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
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
