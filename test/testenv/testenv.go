// Package testenv starts a real kube-apiserver and etcd (controller-runtime
// envtest) with the StreamSpace CRDs and webhook configuration installed.
// The binaries come from `make test-ground`; there is no download path.
package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/streamspace/streamspace/agent/manager"
)

// KubeVersion is the version of the binaries `make test-ground` builds.
const KubeVersion = "v1.37.2"

// Env is a running control plane.
type Env struct {
	*envtest.Environment
	Config *rest.Config
	// Client talks to the API server directly (no cache).
	Client client.Client

	// apiServerArgv is the command line of the kube-apiserver KillAPIServer
	// killed; restarted are the ones StartAPIServer started.
	apiServerArgv []string
	restarted     []restartedProcess
}

// RepoRoot is the folder holding go.mod.
func RepoRoot() string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			panic("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// AssetsDir is where kube-apiserver and etcd are: $KUBEBUILDER_ASSETS, else
// the cache folder the Makefile uses.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(CacheDir(), "kube-"+KubeVersion)
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("%s not found in %s: run `make test-ground` first", bin, dir)
		}
	}
	return dir, nil
}

// CacheDir is the machine-wide cache the Makefile builds binaries into,
// outside every checkout: $XDG_CACHE_HOME/streamspace, else
// ~/.cache/streamspace.
func CacheDir() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "streamspace")
}

// Tool is the path of a tool that `make <target>` builds into
// CacheDir()/tools-<name>-<version>/<name>, or an error saying to run it.
func Tool(name, version, target string) (string, error) {
	bin := filepath.Join(CacheDir(), "tools-"+name+"-"+version, name)
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s %s not found at %s: run `make %s` first", name, version, bin, target)
	}
	return bin, nil
}

// Start starts a control plane with the CRDs and, when webhooks is true, the
// admission webhook configuration pointed at a local webhook server whose
// host, port and certificates are in WebhookInstallOptions.
func Start(webhooks bool) (*Env, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	root := RepoRoot()
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(root, "deploy", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	// A /16 service range: the default /24 runs out after 254 Services, and
	// every session has one.
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/16")
	if webhooks {
		env.WebhookInstallOptions = envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "deploy", "webhook")}}
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start kube-apiserver and etcd: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &Env{Environment: env, Config: cfg, Client: c}, nil
}

// Namespace creates a namespace with a generated name for one test.
func (e *Env) Namespace(ctx context.Context, prefix string) (string, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := e.Client.Create(ctx, ns); err != nil {
		return "", err
	}
	return ns.Name, nil
}
