// Package benchenv is what the benchmarks start and use alike: the agent
// binary as a process of its own against a test API server (its memory
// and CPU are then the agent's alone, from /proc, and its metrics
// endpoint says what it did), the template their sessions use, and a
// portal sign-in.
package benchenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/test/freeport"
	"github.com/streamspace/streamspace/test/testenv"
)

// Up is a kube-apiserver + etcd serving webhooks, a folder with an admin
// kubeconfig for the processes a bench starts, and the bench's own client
// (no client-side rate limit, like the agent's).
type Up struct {
	Env        *testenv.Env
	Dir        string
	Kubeconfig string
	Config     *rest.Config
	Client     client.WithWatch
}

// StartUp starts it, saying so on stdout; Stop undoes it.
func StartUp(scheme *runtime.Scheme) (*Up, error) {
	fmt.Printf("Starting kube-apiserver + etcd … ")
	env, err := testenv.Start(true)
	if err != nil {
		return nil, err
	}
	fmt.Println("ok")
	u := &Up{Env: env}
	if u.Dir, err = os.MkdirTemp("", "streamspace-bench"); err == nil {
		u.Kubeconfig, err = Kubeconfig(env, u.Dir)
	}
	if err == nil {
		cfg := *env.Config
		cfg.QPS, cfg.Burst = -1, 0
		u.Config = &cfg
		u.Client, err = client.NewWithWatch(u.Config, client.Options{Scheme: scheme})
	}
	if err != nil {
		u.Stop()
		return nil, err
	}
	return u, nil
}

// Stop stops the API server and removes the folder.
func (u *Up) Stop() {
	_ = u.Env.Stop()
	if u.Dir != "" {
		_ = os.RemoveAll(u.Dir)
	}
}

// Kubeconfig writes an admin kubeconfig for env into dir and returns its
// path (the agent and the portal binaries read $KUBECONFIG).
func Kubeconfig(env *testenv.Env, dir string) (string, error) {
	admin, err := env.AddUser(envtest.User{Name: "bench", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, kc, 0o600)
}

// Agent is one running agent process.
type Agent struct {
	Cmd        *exec.Cmd
	Args       []string
	MetricsURL string
}

// Start runs bin for namespace ns, serving env's webhooks, with extra
// arguments appended; it returns once the process runs (see Ready).
func Start(env *testenv.Env, bin, kubeconfig, ns string, extra ...string) (*Agent, error) {
	port, err := freeport.Loopback()
	if err != nil {
		return nil, err
	}
	args := append([]string{"--namespace", ns, "--metrics-addr", fmt.Sprintf("127.0.0.1:%d", port), "--health-addr", "0",
		"--webhook-host", env.WebhookInstallOptions.LocalServingHost, "--webhook-port", fmt.Sprint(env.WebhookInstallOptions.LocalServingPort),
		"--webhook-cert-dir", env.WebhookInstallOptions.LocalServingCertDir, "--zap-log-level", "error"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start agent: %w", err)
	}
	return &Agent{Cmd: cmd, Args: args, MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", port)}, nil
}

// Pprof returns the agent arguments that serve its profiler on a free
// loopback port, and the profiler's base URL (for measure.Profiler).
func Pprof() (args []string, url string, err error) {
	port, err := freeport.Loopback()
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return []string{"--pprof-addr", addr}, "http://" + addr + "/debug/pprof", nil
}

// Stop kills the agent and waits for it.
func (a *Agent) Stop() {
	_ = a.Cmd.Process.Kill()
	_ = a.Cmd.Wait()
}

// Ready waits until the agent's webhook admits a Session of template in
// ns (a dry run: nothing is created).
func Ready(ctx context.Context, c client.Client, ns, template string) error {
	deadline := time.Now().Add(60 * time.Second)
	probe := &streamv1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"},
		Spec: streamv1.SessionSpec{User: "probe", Template: template, State: streamv1.StateTerminated}}
	var err error
	for time.Now().Before(deadline) {
		if err = c.Create(ctx, probe, client.DryRunAll); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("agent webhook not ready after 60s: %w", err)
}

// LightTemplate is the template the benchmarks' sessions use: the light
// image's shape (a websockify VNC stream, a home volume).
func LightTemplate(ns string) *streamv1.Template {
	mem, cpu := resource.MustParse("1Gi"), resource.MustParse("500m")
	return &streamv1.Template{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "light"},
		Spec: streamv1.TemplateSpec{
			DisplayName: "Light", Category: "Utilities", BaseImage: "localhost/streamspace/light:1.0.0",
			DefaultResources: streamv1.Resources{Memory: &mem, CPU: &cpu},
			Ports:            []streamv1.TemplatePort{{Name: "vnc-ws", ContainerPort: 6080}},
			Stream:           streamv1.StreamSpec{Protocol: streamv1.StreamWebsockifyVNC, Port: 6080},
			VolumeMounts:     []streamv1.VolumeMount{{Name: streamv1.HomeVolumeName, MountPath: "/home/user"}},
		},
	}
}

// Login signs user in at the portal at base and returns the access token;
// it retries for 30 s while the portal does not answer yet.
func Login(ctx context.Context, base, user, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/auth/login", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			if time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return "", err
		}
		var out struct {
			AccessToken string `json:"accessToken"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || out.AccessToken == "" {
			return "", fmt.Errorf("login %s: %s", user, resp.Status)
		}
		return out.AccessToken, nil
	}
}
