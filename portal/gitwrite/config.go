package gitwrite

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// Config is where and as whom the portal writes. Its credentials are the
// portal's own: the agent's are read-only and stay with the agent.
type Config struct {
	// URL of the platform repository: https://, http://, ssh:// (or
	// scp-like git@host:path) or file://.
	URL string
	// Branch the agent syncs from: pull requests target it, direct commits
	// land on it. Default "main".
	Branch string
	// Paths, relative to the repository root, searched for the object to
	// edit; empty means the whole repository. Folders named testdata and
	// dot-folders are never searched.
	Paths []string
	// Auth for clone and push.
	Auth Auth
	// Author signs every commit (author and committer); the admin who asked
	// is named in the Requested-by trailer. Defaults: "StreamSpace Portal",
	// "streamspace-portal@users.noreply.stream.space".
	Author Signature
	// GitHub opens a pull request for every change. Nil means the remote is
	// plain Git: changes are committed straight to Branch.
	GitHub *GitHubConfig
}

// Auth are the write credentials. Token is used over http(s); SSHIdentity
// and KnownHosts over ssh.
type Auth struct {
	// Username of https basic auth; default "x-access-token", which GitHub
	// App installation tokens need and personal access tokens accept.
	Username string
	// Token (or password) of https basic auth.
	Token string
	// SSHIdentity is a PEM private key; SSHPassphrase unlocks it if set.
	SSHIdentity   []byte
	SSHPassphrase string
	// KnownHosts pins the ssh server's host keys (known_hosts format). It is
	// required for ssh: there is no trust on first use.
	KnownHosts []byte
}

// Signature is a commit identity.
type Signature struct {
	Name  string
	Email string
}

// GitHubConfig is the GitHub (or GitHub Enterprise) repository that pull
// requests are opened on.
type GitHubConfig struct {
	// BaseURL of the API; empty means https://api.github.com/. A GitHub
	// Enterprise host such as https://github.example.com gets /api/v3/
	// appended.
	BaseURL string
	Owner   string
	Repo    string
	// Token for the API; empty means Auth.Token.
	Token string
}

const (
	defaultBranch      = "main"
	defaultUsername    = "x-access-token"
	defaultAuthorName  = "StreamSpace Portal"
	defaultAuthorEmail = "streamspace-portal@users.noreply.stream.space"
)

// withDefaults returns cfg with its defaults filled in, or an error naming
// the first setting that cannot work.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.URL == "" {
		return cfg, errors.New("write-back needs the URL of the platform repository")
	}
	if cfg.Branch == "" {
		cfg.Branch = defaultBranch
	}
	if cfg.Author.Name == "" {
		cfg.Author.Name = defaultAuthorName
	}
	if cfg.Author.Email == "" {
		cfg.Author.Email = defaultAuthorEmail
	}
	if cfg.Auth.Username == "" {
		cfg.Auth.Username = defaultUsername
	}
	for _, p := range cfg.Paths {
		if p == "" || strings.HasPrefix(p, "/") || strings.Contains("/"+p+"/", "/../") {
			return cfg, fmt.Errorf("write-back path %q must be relative to the repository root", p)
		}
	}
	if gh := cfg.GitHub; gh != nil {
		c := *gh
		if c.Token == "" {
			c.Token = cfg.Auth.Token
		}
		switch {
		case c.Owner == "" || c.Repo == "":
			return cfg, errors.New("write-back to GitHub needs the repository owner and name")
		case c.Token == "":
			return cfg, errors.New("write-back to GitHub needs a token for the API")
		}
		cfg.GitHub = &c
	}
	return cfg, nil
}

// authMethod builds the go-git auth for cfg.URL. An ssh remote must pin its
// host keys, as the agent's must.
func (cfg Config) authMethod() (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("invalid repository URL %q: %w", redact(cfg.URL), err)
	}
	switch ep.Protocol {
	case "http", "https":
		if cfg.Auth.Token == "" {
			return nil, nil
		}
		return &githttp.BasicAuth{Username: cfg.Auth.Username, Password: strings.TrimSpace(cfg.Auth.Token)}, nil
	case "ssh":
		if len(cfg.Auth.SSHIdentity) == 0 || len(cfg.Auth.KnownHosts) == 0 {
			return nil, errors.New("an ssh repository needs an SSH identity and known_hosts for write-back")
		}
		keys, err := gitssh.NewPublicKeys(orDefault(ep.User, "git"), cfg.Auth.SSHIdentity, cfg.Auth.SSHPassphrase)
		if err != nil {
			return nil, fmt.Errorf("read the write-back SSH identity: %w", err)
		}
		cb, algos, err := pinnedHostKeys(cfg.Auth.KnownHosts, ep.Host, ep.Port)
		if err != nil {
			return nil, err
		}
		keys.HostKeyCallback = cb
		keys.HostKeyAlgorithms = algos
		return keys, nil
	case "file":
		return nil, nil
	default:
		return nil, fmt.Errorf("unsupported repository protocol %q", ep.Protocol)
	}
}

// pinnedHostKeys parses known_hosts with the same library go-git uses, so
// hashed host names and every key type work, and so the ssh handshake
// offers only the host key algorithms that are pinned (otherwise a server
// with an ed25519 and an rsa key may present the one not listed).
func pinnedHostKeys(knownHosts []byte, host string, port int) (ssh.HostKeyCallback, []string, error) {
	// The library reads files only; the file is read here and removed.
	f, err := os.CreateTemp("", "writeback-known-hosts-")
	if err != nil {
		return nil, nil, err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(knownHosts)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}
	db, err := gitssh.NewKnownHostsDb(f.Name())
	if err != nil {
		return nil, nil, fmt.Errorf("parse the write-back known_hosts: %w", err)
	}
	addr := host
	if port != 0 {
		addr = fmt.Sprintf("%s:%d", host, port)
	} else {
		addr += ":22"
	}
	return db.HostKeyCallback(), db.HostKeyAlgorithms(addr), nil
}

// redact drops credentials from a URL before it goes into an error.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, hasPassword := u.User.Password(); hasPassword {
		u.User = url.User(u.User.Username())
	}
	return u.String()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
