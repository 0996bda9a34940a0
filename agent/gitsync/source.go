package gitsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/memory"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// Credentials read from a GitSync's secret: "token" (or "username" and
// "password") for https; "identity" and "known_hosts" for ssh.
type Credentials map[string][]byte

// Source is one Git repository at one ref.
type Source struct {
	URL  string
	Ref  streamv1.GitReference
	Auth transport.AuthMethod
}

// NewSource validates the URL and builds the auth method for it. An ssh
// source must pin its host keys: there is no trust on first use.
func NewSource(url string, ref streamv1.GitReference, creds Credentials) (*Source, error) {
	s := &Source{URL: url, Ref: ref}
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return nil, fmt.Errorf("invalid repository URL %q: %w", url, err)
	}
	switch ep.Protocol {
	case "http", "https":
		switch {
		case len(creds["token"]) > 0:
			s.Auth = &githttp.BasicAuth{Username: "git", Password: strings.TrimSpace(string(creds["token"]))}
		case len(creds["username"]) > 0:
			s.Auth = &githttp.BasicAuth{Username: string(creds["username"]), Password: string(creds["password"])}
		}
	case "ssh":
		if len(creds["identity"]) == 0 || len(creds["known_hosts"]) == 0 {
			return nil, errors.New("an ssh repository needs a secret with identity and known_hosts")
		}
		keys, err := gitssh.NewPublicKeys(orDefault(ep.User, "git"), creds["identity"], string(creds["password"]))
		if err != nil {
			return nil, fmt.Errorf("read ssh identity: %w", err)
		}
		cb, err := knownHostsCallback(creds["known_hosts"])
		if err != nil {
			return nil, err
		}
		keys.HostKeyCallback = cb
		s.Auth = keys
	case "file":
	default:
		return nil, fmt.Errorf("unsupported repository protocol %q", ep.Protocol)
	}
	return s, nil
}

// SourceFor builds the source of a repository whose credentials are in
// the Secret secretRef names (nil: none) in namespace: every kind that
// fetches from Git (GitSync, PluginRepository) reads its secret the same
// way.
func SourceFor(ctx context.Context, secrets client.Reader, namespace, url string, ref streamv1.GitReference, secretRef *streamv1.LocalObjectReference) (*Source, error) {
	var creds Credentials
	if secretRef != nil {
		secret := &corev1.Secret{}
		if err := secrets.Get(ctx, client.ObjectKey{Namespace: namespace, Name: secretRef.Name}, secret); err != nil {
			return nil, fmt.Errorf("read secret %s: %w", secretRef.Name, err)
		}
		creds = secret.Data
	}
	return NewSource(url, ref, creds)
}

// Revision asks the remote which commit the ref points at, without
// fetching anything: "<ref>@sha1:<hash>".
func (s *Source) Revision(ctx context.Context) (string, error) {
	if s.Ref.Commit != "" {
		return "sha1:" + s.Ref.Commit, nil
	}
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{s.URL}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: s.Auth})
	if err != nil {
		return "", fmt.Errorf("list refs of %s: %w", s.URL, err)
	}
	want := s.refName()
	for _, r := range refs {
		if r.Name() == want {
			return want.Short() + "@sha1:" + r.Hash().String(), nil
		}
	}
	// An annotated tag is listed as its peeled commit too.
	for _, r := range refs {
		if r.Name().String() == want.String()+"^{}" {
			return want.Short() + "@sha1:" + r.Hash().String(), nil
		}
	}
	return "", fmt.Errorf("%s not found in %s", want.Short(), s.URL)
}

// Checkout clones the ref (shallow and single-branch, unless a commit is
// pinned) into dir and returns the revision checked out.
func (s *Source) Checkout(ctx context.Context, dir string) (string, error) {
	opts := &git.CloneOptions{URL: s.URL, Auth: s.Auth, Tags: git.NoTags}
	if s.Ref.Commit == "" {
		opts.ReferenceName = s.refName()
		opts.SingleBranch = true
		opts.Depth = 1
	}
	repo, err := git.PlainCloneContext(ctx, dir, false, opts)
	if err != nil {
		return "", fmt.Errorf("clone %s: %w", s.URL, err)
	}
	if s.Ref.Commit != "" {
		wt, err := repo.Worktree()
		if err != nil {
			return "", err
		}
		hash, err := repo.ResolveRevision(plumbing.Revision(s.Ref.Commit))
		if err != nil {
			return "", fmt.Errorf("commit %s not found in %s: %w", s.Ref.Commit, s.URL, err)
		}
		if err := wt.Checkout(&git.CheckoutOptions{Hash: *hash}); err != nil {
			return "", fmt.Errorf("check out %s: %w", s.Ref.Commit, err)
		}
		return "sha1:" + hash.String(), nil
	}
	head, err := repo.Head()
	if err != nil {
		return "", err
	}
	return s.refName().Short() + "@sha1:" + head.Hash().String(), nil
}

func (s *Source) refName() plumbing.ReferenceName {
	if s.Ref.Tag != "" {
		return plumbing.NewTagReferenceName(s.Ref.Tag)
	}
	return plumbing.NewBranchReferenceName(orDefault(s.Ref.Branch, "main"))
}

func knownHostsCallback(data []byte) (gossh.HostKeyCallback, error) {
	type entry struct {
		hosts []string
		key   gossh.PublicKey
	}
	var entries []entry
	rest := data
	for len(rest) > 0 {
		_, hosts, key, _, r, err := gossh.ParseKnownHosts(rest)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("parse known_hosts: %w", err)
		}
		entries = append(entries, entry{hosts: hosts, key: key})
		rest = r
	}
	if len(entries) == 0 {
		return nil, errors.New("known_hosts has no host keys")
	}
	return func(hostname string, remote net.Addr, key gossh.PublicKey) error {
		host := knownhosts.Normalize(hostname)
		for _, e := range entries {
			for _, h := range e.hosts {
				if knownhosts.Normalize(h) == host && string(e.key.Marshal()) == string(key.Marshal()) {
					return nil
				}
			}
		}
		return fmt.Errorf("host key of %s is not in known_hosts", hostname)
	}, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
