// Package rbac_test runs the real agent on a real API server as its own
// ServiceAccount, holding exactly the RBAC that deploy/ installs (generated
// from the agent's +kubebuilder:rbac markers), and proves that its flows work
// with it and that it reaches nothing beyond it.
package rbac_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	authenticationv1 "k8s.io/api/authentication/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/streamspace/streamspace/agent/gitsync"
	"github.com/streamspace/streamspace/agent/manager"
	"github.com/streamspace/streamspace/agent/reconciler"
	"github.com/streamspace/streamspace/agent/sessions"
	"github.com/streamspace/streamspace/agent/users"
	"github.com/streamspace/streamspace/test/gitserver"
	"github.com/streamspace/streamspace/test/syncbuf"
	"github.com/streamspace/streamspace/test/testenv"
)

// The platform namespace and the agent's ServiceAccount, as deploy/ names
// them: the test installs deploy/'s objects unchanged.
const (
	platformNS = "streamspace"
	agentSA    = reconciler.AgentName
)

var (
	env *testenv.Env
	git *gitserver.Server
	// agentConfig authenticates as the agent's ServiceAccount with a token
	// the API server issued (TokenRequest), so the API server's own
	// authentication and RBAC decide every request.
	agentConfig *rest.Config
	// agentLog is everything the agent, controller-runtime and client-go
	// logged: a request RBAC refused shows there even when the flow that
	// made it retries or ignores the error.
	agentLog = &syncbuf.Buffer{}
	registry = prometheus.NewRegistry()
)

// TestMain starts one API server (with the admission webhook configured),
// installs deploy/'s agent RBAC and ServiceAccount, and runs the agent as
// that ServiceAccount until the tests end.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var logs io.Writer = agentLog
	if os.Getenv("TEST_AGENT_LOGS") != "" {
		logs = io.MultiWriter(agentLog, os.Stderr)
	}
	logger := zap.New(zap.WriteTo(logs), zap.UseDevMode(true))
	ctrl.SetLogger(logger)
	// client-go (informers, the event broadcaster, leader election) logs
	// through klog: a refused list or watch is only seen there.
	klog.SetLogger(logger)

	var err error
	if env, err = testenv.Start(true); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if git, err = gitserver.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer git.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := installAgentRBAC(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "install deploy/'s agent RBAC:", err)
		return 1
	}
	// The home storage class, as an NFS provisioner's (the cluster's, not
	// the agent's: it only names it).
	if err := env.Client.Create(ctx, &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "nfs-client"}, Provisioner: "nfs.csi.k8s.io", AllowVolumeExpansion: ptr.To(true),
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if agentConfig, err = serviceAccountConfig(ctx, platformNS, agentSA); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	wh := env.WebhookInstallOptions
	mgr, err := manager.New(ctx, agentConfig, manager.Config{
		Namespace:        platformNS,
		MetricsAddr:      "0",
		ProbeAddr:        "0",
		WebhookHost:      wh.LocalServingHost,
		WebhookPort:      wh.LocalServingPort,
		WebhookCertDir:   wh.LocalServingCertDir,
		LeaderElection:   true,
		SyncAllowedKinds: "ConfigMap",
		Registry:         registry,
		Sessions: sessions.Options{
			Home:      users.HomeOptions{StorageClassName: "nfs-client", DefaultSize: resource.MustParse("10Gi")},
			PortalURL: "https://streamspace.test",
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "set up the agent:", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "agent stopped:", err)
		}
	}()
	// A cache that RBAC refuses never syncs: bounded, with the log.
	synced, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	if !mgr.GetCache().WaitForCacheSync(synced) {
		fmt.Fprintf(os.Stderr, "the agent's cache did not sync as its ServiceAccount:\n%s\n", agentLog.String())
		return 1
	}
	if err := waitListening(net.JoinHostPort(wh.LocalServingHost, strconv.Itoa(wh.LocalServingPort))); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// installAgentRBAC applies, as the cluster admin, what `kubectl apply -k
// deploy/` installs for the agent's identity: its Namespace, ServiceAccount,
// generated Role and ClusterRole, and their bindings, built by kustomize
// from deploy/ as they are (namespace stamped, nothing edited).
func installAgentRBAC(ctx context.Context) error {
	objs, err := gitsync.Build(testenv.RepoRoot(), "deploy")
	if err != nil {
		return err
	}
	want := map[string]bool{"Namespace/" + platformNS: false}
	for _, kind := range []string{"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"} {
		want[kind+"/"+agentSA] = false
	}
	var picked []*unstructured.Unstructured
	for _, o := range objs {
		if _, ok := want[o.GetKind()+"/"+o.GetName()]; ok {
			want[o.GetKind()+"/"+o.GetName()] = true
			picked = append(picked, o)
		}
	}
	for k, found := range want {
		if !found {
			return fmt.Errorf("deploy/ has no %s", k)
		}
	}
	for _, o := range picked {
		if err := env.Client.Create(ctx, o); err != nil {
			return fmt.Errorf("create %s/%s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	return nil
}

// serviceAccountConfig asks the API server for a token of the
// ServiceAccount (TokenRequest, as the kubelet mounts one into the agent's
// pod) and returns a config that presents only that token.
func serviceAccountConfig(ctx context.Context, ns, name string) (*rest.Config, error) {
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return nil, err
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("request a token for %s/%s: %w", ns, name, err)
	}
	return &rest.Config{
		Host:            env.Config.Host,
		TLSClientConfig: rest.TLSClientConfig{CAData: env.Config.CAData},
		BearerToken:     tr.Status.Token,
		QPS:             50, Burst: 100,
	}, nil
}

// waitListening waits for the agent's webhook server to accept
// connections: until then the API server refuses Sessions.
func waitListening(addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the agent's webhook server at %s did not listen: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// refused counts the log lines where the API server refused the agent and
// returns the first few (a retried refusal repeats).
func refused() (int, []string) {
	var n int
	var first []string
	for _, line := range strings.Split(agentLog.String(), "\n") {
		if strings.Contains(line, "forbidden") || strings.Contains(line, "Forbidden") {
			if n++; n <= 5 {
				first = append(first, line)
			}
		}
	}
	return n, first
}
