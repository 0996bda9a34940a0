package gitwrite

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fluxcd/pkg/gittestserver"
	"github.com/go-git/go-git/v5/plumbing"
	. "github.com/onsi/gomega"
	"golang.org/x/crypto/ssh"
)

// TestPropose_directCommitOverSSH pushes with a key to the same platform
// served over SSH (gitkit), with the server's host key pinned.
func TestPropose_directCommitOverSSH(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	p := newPlatform(t)
	keyDir := t.TempDir()
	srv := gittestserver.NewGitServer(p.srv.Root()).KeyDir(keyDir)
	g.Expect(srv.ListenSSH()).To(Succeed())
	go func() { _ = srv.StartSSH() }()
	t.Cleanup(func() { _ = srv.StopSSH() })
	url := srv.SSHAddress() + "/platform.git"

	hostPub, err := os.ReadFile(filepath.Join(keyDir, "gitkit.rsa.pub"))
	g.Expect(err).NotTo(HaveOccurred())
	host, port, err := net.SplitHostPort(strings.TrimPrefix(srv.SSHAddress(), "ssh://git@"))
	g.Expect(err).NotTo(HaveOccurred())
	knownHosts := fmt.Sprintf("[%s]:%s %s", host, port, hostPub)
	identity := newIdentity(t)

	change := func() Change {
		q := quota(t, "policies/quotas/designers.yaml")
		q.Spec.Limits.MaxRunningSessions = ptr(int32(4))
		return Change{Kind: "Quota", Name: "designers", Object: q, Actor: "alice"}
	}

	// A server whose key is not the pinned one (of the same type, so that
	// the handshake gets as far as comparing them) is refused before
	// anything is sent.
	refs := p.refs()
	wrong := fmt.Sprintf("[%s]:%s %s", host, port, ssh.MarshalAuthorizedKey(newHostKey(t)))
	w, err := New(Config{URL: url, Auth: Auth{SSHIdentity: identity, KnownHosts: []byte(wrong)}})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = w.Propose(ctxFor(t), change())
	g.Expect(err).To(MatchError(ContainSubstring("clone " + url)))
	g.Expect(err.Error()).To(ContainSubstring("key mismatch"))
	g.Expect(p.refs()).To(Equal(refs))

	start := p.head("main")
	w, err = New(Config{URL: url, Auth: Auth{SSHIdentity: identity, KnownHosts: []byte(knownHosts)}})
	g.Expect(err).NotTo(HaveOccurred())
	res, err := w.Propose(ctxFor(t), change())
	g.Expect(err).NotTo(HaveOccurred())
	head := p.head("main")
	g.Expect(head.Hash.String()).To(Equal(res.Commit))
	g.Expect(head.ParentHashes).To(Equal([]plumbing.Hash{start.Hash}))
	g.Expect(p.file(head, "policies/quotas/designers.yaml")).To(Equal(strings.Replace(
		p.file(start, "policies/quotas/designers.yaml"), "    maxRunningSessions: 3\n", "    maxRunningSessions: 4\n", 1)))
}

// newIdentity is an ed25519 private key in OpenSSH PEM form.
func newIdentity(t *testing.T) []byte {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block)
}

// newHostKey is an RSA public key, the type of gitkit's host key.
func newHostKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
