package portal

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/streamspace/streamspace/portal/api"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/gitwrite"
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
	// AppsDomain serves what sessions serve on hosts of their own,
	// <session>.<AppsDomain>, with PublicURL's scheme and port; empty:
	// web clients are served on the portal's origin (PathWebClients).
	AppsDomain string
	// PublicURL is the portal's URL as browsers reach it (needed with
	// AppsDomain: only it may frame the apps hosts).
	PublicURL string
	// PathWebClients serves web clients under /api/v1/sessions/{id}/web/,
	// on the portal's origin; nil: on without AppsDomain, off with it.
	PathWebClients *bool
	// LeaderElection makes one replica of several record session history.
	LeaderElection bool
	// IngressHost is the agent's --ingress-host pattern, by which forward
	// auth (/api/v1/auth/forward) finds the session a host belongs to.
	IngressHost string
	// TrustedProxies are the addresses or CIDRs of the proxies in front of
	// the portal whose X-Forwarded-For it believes; none by default.
	TrustedProxies []string
	// ShutdownGrace is how long requests and streams may go on once the
	// portal is asked to stop (default 30 s).
	ShutdownGrace time.Duration
	// SSORecheck is how long the identity provider's word about an SSO
	// login holds before the provider is asked again (default 1 h).
	SSORecheck time.Duration
	// Out receives the bootstrap admin's one-time password.
	Out io.Writer
	Log logr.Logger
}

// BindFlags registers the portal binary's flags on fs, writing into c.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", ":8443", "Listen address.")
	fs.StringVar(&c.Namespace, "namespace", "streamspace", "Platform namespace.")
	fs.StringVar(&c.Database, "database", "", "postgres:// DSN, or an SQLite file (default: $STREAMSPACE_DATABASE, else <state-dir>/portal.db).")
	fs.StringVar(&c.StateDir, "state-dir", "/var/lib/streamspace", "Folder for the SQLite database and the generated token signing key.")
	fs.BoolVar(&c.SecureCookies, "secure-cookies", true, "Mark cookies Secure (serve behind TLS).")
	fs.BoolVar(&c.LeaderElection, "leader-elect", false, "Elect one replica to record session history (set when running several).")
	fs.StringVar(&c.AppsDomain, "apps-domain", "", "Wildcard domain serving each session on its own host, <session>.<apps-domain> (e.g. apps.example.com, with DNS and a TLS certificate for *.apps.example.com; localhost locally); needs --public-url (default: $STREAMSPACE_APPS_DOMAIN).")
	fs.StringVar(&c.PublicURL, "public-url", "", "The portal's URL as browsers reach it, e.g. https://portal.example.com (default: $STREAMSPACE_PUBLIC_URL).")
	fs.BoolFunc("path-web-clients", "Also serve web clients under /api/v1/sessions/{id}/web/ (default: on without --apps-domain, off with it). Unsafe for more than one user: the session's page then runs on the portal's own origin, where it can act as whoever opens it.", func(v string) error {
		on, err := strconv.ParseBool(v)
		c.PathWebClients = &on
		return err
	})
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 30*time.Second, "How long requests and streams may go on after SIGTERM.")
	c.SSORecheck = auth.DefaultRecheckEvery
	fs.Func("sso-recheck", "How often an SSO login is checked again with the identity provider (a refresh grant): a person removed or disabled there, or moved out of the admin groups, loses access or the role within this time. A provider that gives no refresh token makes its people sign in again as often (default 1h).", func(v string) error {
		d, err := time.ParseDuration(v)
		if err == nil && d <= 0 {
			err = errors.New("must be a positive duration, e.g. 15m or 1h")
		}
		c.SSORecheck = d
		return err
	})
	fs.Func("trusted-proxies", "Comma-separated addresses or CIDRs of the reverse proxies in front of the portal (e.g. 10.0.0.0/8): only their X-Forwarded-For names the client, for login limits and the audit log (default: none, the connection's own address).", func(v string) error {
		proxies, err := api.ParseTrustedProxies(v)
		c.TrustedProxies = proxies
		return err
	})
	fs.StringVar(&c.IngressHost, "ingress-host", "", "The agent's --ingress-host pattern, e.g. {session}.apps.example.com: forward auth (/api/v1/auth/forward) finds a session by its host (empty: every host is refused).")
}

// LoadEnv reads the settings that come from the environment (credentials
// among them, which flags would show in the process list): the database
// unless a flag gave one, single sign-on, write-back and the token signing
// key. getenv is os.Getenv outside tests; files it names are read.
func (c *Config) LoadEnv(getenv func(string) string) error {
	if c.Database == "" {
		c.Database = getenv("STREAMSPACE_DATABASE")
	}
	if c.AppsDomain == "" {
		c.AppsDomain = getenv("STREAMSPACE_APPS_DOMAIN")
	}
	if c.PublicURL == "" {
		c.PublicURL = getenv("STREAMSPACE_PUBLIC_URL")
	}
	if issuer := getenv("STREAMSPACE_OIDC_ISSUER"); issuer != "" {
		c.OIDC = &auth.OIDC{
			Name:          getenv("STREAMSPACE_OIDC_NAME"),
			Issuer:        issuer,
			ClientID:      getenv("STREAMSPACE_OIDC_CLIENT_ID"),
			ClientSecret:  getenv("STREAMSPACE_OIDC_CLIENT_SECRET"),
			RedirectURL:   getenv("STREAMSPACE_OIDC_REDIRECT_URL"),
			GroupsClaim:   getenv("STREAMSPACE_OIDC_GROUPS_CLAIM"),
			UsernameClaim: getenv("STREAMSPACE_OIDC_USERNAME_CLAIM"),
			AdminGroups:   list(getenv("STREAMSPACE_OIDC_ADMIN_GROUPS")),
			Scopes:        list(getenv("STREAMSPACE_OIDC_SCOPES")),
		}
	}
	if url := getenv("STREAMSPACE_GIT_URL"); url != "" {
		gw, err := gitWriteConfig(url, getenv)
		if err != nil {
			return fmt.Errorf("write-back: %w", err)
		}
		c.GitWrite = gw
	}
	if key := getenv("STREAMSPACE_TOKEN_KEY"); key != "" {
		c.SigningKey = []byte(key)
	}
	return nil
}

// list splits a comma-separated setting.
func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// gitWriteConfig reads the write-back settings: the platform repository,
// write credentials (separate from the agent's read-only ones) and, for
// pull requests, the GitHub repository.
func gitWriteConfig(url string, getenv func(string) string) (*gitwrite.Config, error) {
	cfg := &gitwrite.Config{URL: url, Branch: getenv("STREAMSPACE_GIT_BRANCH"), Paths: list(getenv("STREAMSPACE_GIT_PATHS"))}
	if len(cfg.Paths) == 0 {
		cfg.Paths = []string{"catalog", "policies"}
	}
	cfg.Auth.Username = getenv("STREAMSPACE_GIT_USERNAME")
	cfg.Auth.Token = getenv("STREAMSPACE_GIT_TOKEN")
	for env, dst := range map[string]*[]byte{"STREAMSPACE_GIT_SSH_KEY_FILE": &cfg.Auth.SSHIdentity, "STREAMSPACE_GIT_KNOWN_HOSTS_FILE": &cfg.Auth.KnownHosts} {
		if path := getenv(env); path != "" {
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", env, err)
			}
			*dst = b
		}
	}
	if repo := getenv("STREAMSPACE_GITHUB_REPO"); repo != "" {
		owner, name, ok := strings.Cut(repo, "/")
		if !ok || owner == "" || name == "" {
			return nil, fmt.Errorf("STREAMSPACE_GITHUB_REPO must be owner/name, not %q", repo)
		}
		cfg.GitHub = &gitwrite.GitHubConfig{BaseURL: getenv("STREAMSPACE_GITHUB_API_URL"), Owner: owner, Repo: name}
	}
	return cfg, nil
}

// pathWebClients tells whether web clients are served on the portal's
// origin: when asked, else when there is no apps domain to serve them.
func (c Config) pathWebClients() bool {
	if c.PathWebClients != nil {
		return *c.PathWebClients
	}
	return c.AppsDomain == ""
}

func (c Config) grace() time.Duration {
	if c.ShutdownGrace > 0 {
		return c.ShutdownGrace
	}
	return 30 * time.Second
}
