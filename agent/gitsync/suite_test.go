package gitsync_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fluxcd/gitkit"
	"github.com/fluxcd/pkg/gittestserver"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ssh"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/streamspace/streamspace/agent/gitsync"
	"github.com/streamspace/streamspace/agent/manager"
	"github.com/streamspace/streamspace/test/testenv"
)

const gitToken = "t0ken-for-tests"

var (
	sshURL     string
	knownHosts []byte
	clientKey  []byte
	clientPub  []byte

	env     *testenv.Env
	metrics *gitsync.Metrics
	gitRoot string
	gitURL  string
)

// TestMain starts a real API server with the GitSync controller, and a real
// Git server: git http-backend, Git's own smart-HTTP server, on loopback.
func TestMain(m *testing.M) {
	log.SetOutput(io.Discard) // gitkit logs every SSH request with the standard logger
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	backend, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return 0, fmt.Errorf("git is needed for these tests: %w", err)
	}
	gitRoot, err = os.MkdirTemp("", "gitserver-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(gitRoot)
	backendHandler := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(backend)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + gitRoot, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// /private/... needs the token, as a hosted Git server would.
		if rest, ok := strings.CutPrefix(r.URL.Path, "/private"); ok {
			if user, pass, ok := r.BasicAuth(); !ok || user != "git" || pass != gitToken {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
			r.URL.Path = rest
		}
		backendHandler.ServeHTTP(w, r)
	}))
	defer srv.Close()
	gitURL = srv.URL

	// The same repositories over SSH (gitkit runs the real git-upload-pack),
	// accepting only the test's client key.
	if clientKey, clientPub, err = newClientKey(); err != nil {
		return 0, err
	}
	keyDir, err := os.MkdirTemp("", "gitssh-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(keyDir)
	sshSrv := gittestserver.NewGitServer(gitRoot).KeyDir(keyDir).Auth("git", "unused-for-ssh")
	sshSrv.PublicKeyLookupFunc(func(content string) (*gitkit.PublicKey, error) {
		if strings.TrimSpace(content) != strings.TrimSpace(string(clientPub)) {
			return nil, fmt.Errorf("unknown key")
		}
		return &gitkit.PublicKey{Id: "test"}, nil
	})
	if err := sshSrv.ListenSSH(); err != nil {
		return 0, err
	}
	go func() { _ = sshSrv.StartSSH() }()
	defer func() { _ = sshSrv.StopSSH() }()
	sshURL = sshSrv.SSHAddress()
	hostPub, err := os.ReadFile(filepath.Join(keyDir, "gitkit.rsa.pub"))
	if err != nil {
		return 0, err
	}
	hostPort := strings.TrimPrefix(sshURL, "ssh://git@")
	host, port, _ := net.SplitHostPort(hostPort)
	knownHosts = []byte(fmt.Sprintf("[%s]:%s %s", host, port, hostPub))

	env, err = testenv.Start(false)
	if err != nil {
		return 0, err
	}
	defer func() { _ = env.Stop() }()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: manager.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		return 0, err
	}
	if metrics, err = gitsync.NewMetrics(prometheus.NewRegistry()); err != nil {
		return 0, err
	}
	desired := gitsync.NewDesiredStore()
	if err := (&gitsync.GitSyncReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("streamspace-agent"), Metrics: metrics, Desired: desired}).SetupWithManager(mgr); err != nil {
		return 0, err
	}
	if err := (&gitsync.DriftReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("streamspace-agent"), Metrics: metrics, Desired: desired}).SetupWithManager(mgr); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- mgr.Start(ctx) }()
	defer func() { cancel(); <-done }()
	return m.Run(), nil
}

// newClientKey makes an ed25519 key pair: the private key in OpenSSH PEM,
// the public key in authorized_keys form.
func newClientKey() ([]byte, []byte, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, nil, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(block), ssh.MarshalAuthorizedKey(sshPub), nil
}
