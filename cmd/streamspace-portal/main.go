// Command streamspace-portal serves StreamSpace's web portal API.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/portal/auth"
	"github.com/streamspace/streamspace/portal/gitwrite"
)

func main() {
	cfg := portal.Config{Out: os.Stdout}
	flag.StringVar(&cfg.Addr, "addr", ":8443", "Listen address.")
	flag.StringVar(&cfg.Namespace, "namespace", "streamspace", "Platform namespace.")
	flag.StringVar(&cfg.Database, "database", os.Getenv("STREAMSPACE_DATABASE"), "postgres:// DSN, or an SQLite file (default: <state-dir>/portal.db).")
	flag.StringVar(&cfg.StateDir, "state-dir", "/var/lib/streamspace", "Folder for the SQLite database and the generated token signing key.")
	flag.BoolVar(&cfg.SecureCookies, "secure-cookies", true, "Mark cookies Secure (serve behind TLS).")
	flag.BoolVar(&cfg.LeaderElection, "leader-elect", false, "Elect one replica to record session history (set when running several).")
	flag.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", 30*time.Second, "How long requests and streams may go on after SIGTERM.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("portal")
	cfg.Log = log
	if issuer := os.Getenv("STREAMSPACE_OIDC_ISSUER"); issuer != "" {
		cfg.OIDC = &auth.OIDC{
			Name:          os.Getenv("STREAMSPACE_OIDC_NAME"),
			Issuer:        issuer,
			ClientID:      os.Getenv("STREAMSPACE_OIDC_CLIENT_ID"),
			ClientSecret:  os.Getenv("STREAMSPACE_OIDC_CLIENT_SECRET"),
			RedirectURL:   os.Getenv("STREAMSPACE_OIDC_REDIRECT_URL"),
			GroupsClaim:   os.Getenv("STREAMSPACE_OIDC_GROUPS_CLAIM"),
			UsernameClaim: os.Getenv("STREAMSPACE_OIDC_USERNAME_CLAIM"),
			AdminGroups:   list(os.Getenv("STREAMSPACE_OIDC_ADMIN_GROUPS")),
			Scopes:        list(os.Getenv("STREAMSPACE_OIDC_SCOPES")),
		}
		log.Info("Single sign-on", "issuer", issuer)
	}
	if url := os.Getenv("STREAMSPACE_GIT_URL"); url != "" {
		gw, err := gitWriteConfig(url)
		if err != nil {
			log.Error(err, "Write-back configuration")
			os.Exit(1)
		}
		cfg.GitWrite = gw
		log.Info("Write-back", "repository", url, "pullRequests", gw.GitHub != nil)
	}
	if key := os.Getenv("STREAMSPACE_TOKEN_KEY"); key != "" {
		cfg.SigningKey = []byte(key)
	}
	log.Info("Serving the portal", "addr", cfg.Addr, "namespace", cfg.Namespace)
	if err := portal.Run(ctrl.SetupSignalHandler(), cfg, ctrl.GetConfigOrDie()); err != nil {
		log.Error(err, "Portal stopped")
		os.Exit(1)
	}
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
func gitWriteConfig(url string) (*gitwrite.Config, error) {
	cfg := &gitwrite.Config{URL: url, Branch: os.Getenv("STREAMSPACE_GIT_BRANCH"), Paths: list(os.Getenv("STREAMSPACE_GIT_PATHS"))}
	if len(cfg.Paths) == 0 {
		cfg.Paths = []string{"catalog", "policies"}
	}
	cfg.Auth.Username = os.Getenv("STREAMSPACE_GIT_USERNAME")
	cfg.Auth.Token = os.Getenv("STREAMSPACE_GIT_TOKEN")
	for env, dst := range map[string]*[]byte{"STREAMSPACE_GIT_SSH_KEY_FILE": &cfg.Auth.SSHIdentity, "STREAMSPACE_GIT_KNOWN_HOSTS_FILE": &cfg.Auth.KnownHosts} {
		if path := os.Getenv(env); path != "" {
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", env, err)
			}
			*dst = b
		}
	}
	if repo := os.Getenv("STREAMSPACE_GITHUB_REPO"); repo != "" {
		owner, name, ok := strings.Cut(repo, "/")
		if !ok || owner == "" || name == "" {
			return nil, fmt.Errorf("STREAMSPACE_GITHUB_REPO must be owner/name, not %q", repo)
		}
		cfg.GitHub = &gitwrite.GitHubConfig{BaseURL: os.Getenv("STREAMSPACE_GITHUB_API_URL"), Owner: owner, Repo: name}
	}
	return cfg, nil
}
