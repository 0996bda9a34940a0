// Package platform runs the whole of StreamSpace on the local cluster
// (local/cluster): the CRDs and the quota webhook installed, the
// session images imported, a folder-backed default StorageClass, the agent
// syncing environments/local from this very checkout, and the portal with
// its embedded store and UI. `streamspace local up` and the end-to-end test
// both use it.
package platform

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/streamspace/streamspace/agent/manager"
	"github.com/streamspace/streamspace/agent/sessions"
	"github.com/streamspace/streamspace/agent/users"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/local/cluster"
	"github.com/streamspace/streamspace/local/volumes"
	"github.com/streamspace/streamspace/portal"
)

// Options of a local platform.
type Options struct {
	// Root is the checkout: the agent syncs its committed content.
	Root      string
	Namespace string
	// StateDir holds the portal's database and signing key.
	StateDir string
	// PortalAddr is where the portal listens (loopback).
	PortalAddr string
	// PublicURL is the portal in a browser, http://localhost:<port of
	// PortalAddr>: sessions are served on hosts of their own under the apps
	// domain localhost, <session>.localhost:<port>, which browsers resolve
	// to loopback themselves (no DNS set-up).
	PublicURL string
	// AgentMetricsAddr and AgentProbeAddr of the agent ("0" turns off).
	AgentMetricsAddr, AgentProbeAddr string
	// Cluster to run on; its Up is called.
	Cluster *cluster.Cluster
	// Images builds the session images and imports them into the node;
	// nil skips it (a simulated node runs no image).
	Images func(ctx context.Context, c *cluster.Cluster, out io.Writer) error
	// SyncInterval of the GitSync of environments/local.
	SyncInterval time.Duration
	// IdleReporterBinary is a static streamspace-idle; when it exists (on a
	// real node) sessions get the X idle reporter (IdleReporterImage).
	IdleReporterBinary string
	Out                io.Writer
}

// Platform is StreamSpace installed on a running local cluster.
type Platform struct {
	Options
	Status *cluster.Status
	Config *rest.Config
	Client client.Client
	// GitSync syncs environments/local from the checkout; Head is the
	// commit it should arrive at.
	GitSync   *streamv1.GitSync
	Head      string
	webhook   envtest.WebhookInstallOptions
	idleImage string
}

func (o *Options) defaults() {
	if o.Namespace == "" {
		o.Namespace = "streamspace"
	}
	if o.PortalAddr == "" {
		o.PortalAddr = "127.0.0.1:8443"
	}
	if o.PublicURL == "" {
		_, port, _ := net.SplitHostPort(o.PortalAddr)
		o.PublicURL = "http://localhost:" + port
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = 30 * time.Second
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.StateDir == "" {
		o.StateDir = filepath.Join(o.Root, ".state")
	}
}

// Up brings the cluster up and installs the platform on it; Run then runs
// the agent and the portal.
func Up(ctx context.Context, opts Options) (*Platform, error) {
	opts.defaults()
	st, err := opts.Cluster.Up(ctx, opts.Out)
	if err != nil {
		return nil, err
	}
	if st.Simulated {
		fmt.Fprintln(opts.Out, "==> No real node (kwok): sessions are scheduled but no container runs, so nothing streams")
	} else if opts.Images != nil {
		if err := opts.Images(ctx, opts.Cluster, opts.Out); err != nil {
			return nil, fmt.Errorf("session images: %w", err)
		}
	}
	idleImage := ""
	if !st.Simulated {
		if idleImage, err = IdleReporterImage(ctx, opts.Cluster, opts.IdleReporterBinary, opts.StateDir, opts.Out); err != nil {
			return nil, err
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", st.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", st.Kubeconfig, err)
	}
	// the first sync applies the whole catalog: the client's default rate
	// limit (5 requests/s) would make that take most of a minute
	cfg.QPS, cfg.Burst = 100, 200
	p := &Platform{Options: opts, Status: st, Config: cfg, idleImage: idleImage}
	if p.Client, err = client.New(cfg, client.Options{Scheme: manager.Scheme()}); err != nil {
		return nil, err
	}
	done := step(opts.Out, "Installing the CRDs and the quota webhook")
	// envtest's installers work on any API server: they apply the CRDs and
	// point the webhook configuration at the agent on this machine, with a
	// certificate they generate
	p.webhook = envtest.WebhookInstallOptions{Paths: []string{filepath.Join(opts.Root, "deploy", "webhook")}}
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{filepath.Join(opts.Root, "deploy", "crd", "bases")}, ErrorIfPathMissing: true}); err != nil {
		return nil, fmt.Errorf("install CRDs: %w", err)
	}
	if err := p.webhook.Install(cfg); err != nil {
		return nil, fmt.Errorf("install the webhook configuration: %w", err)
	}
	done()
	if err := p.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: opts.Namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	if err := volumes.EnsureStorageClass(ctx, p.Client); err != nil {
		return nil, err
	}
	if err := p.ensureGitSync(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// ensureGitSync points the agent at environments/local of the checkout's
// current branch: commit a change and it applies.
func (p *Platform) ensureGitSync(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "git", "-C", p.Root, "symbolic-ref", "--short", "HEAD").Output()
	if err != nil {
		return fmt.Errorf("find the checkout's branch (the agent syncs committed content from it): %w", err)
	}
	gs := &streamv1.GitSync{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: "platform"}}
	_, err = ctrl.CreateOrUpdate(ctx, p.Client, gs, func() error {
		gs.Spec = streamv1.GitSyncSpec{
			URL: p.Root, Ref: streamv1.GitReference{Branch: strings.TrimSpace(string(out))}, Path: "environments/local",
			Interval: metav1.Duration{Duration: p.SyncInterval}, Prune: true, DriftMode: streamv1.DriftWarn,
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("GitSync: %w", err)
	}
	p.GitSync = gs
	head, err := exec.CommandContext(ctx, "git", "-C", p.Root, "rev-parse", "HEAD").Output()
	if err != nil {
		return fmt.Errorf("find the checkout's commit: %w", err)
	}
	p.Head = strings.TrimSpace(string(head))
	return nil
}

// ReportFirstSync writes to Out the outcome of the first sync of the
// checkout's commit Head, so a newcomer sees the catalog arrive (or why it
// did not). A status from an earlier run, for another commit, is not the
// answer. It returns once it has reported, or when ctx ends.
func (p *Platform) ReportFirstSync(ctx context.Context) {
	start := time.Now()
	poll := time.NewTicker(500 * time.Millisecond)
	defer poll.Stop()
	for {
		got := &streamv1.GitSync{}
		if err := p.Client.Get(ctx, client.ObjectKeyFromObject(p.GitSync), got); err == nil && strings.HasSuffix(got.Status.LastAttemptedRevision, p.Head) {
			if ready := meta.FindStatusCondition(got.Status.Conditions, streamv1.ConditionReady); ready != nil && ready.Status != metav1.ConditionUnknown {
				fmt.Fprintf(p.Out, "==> First sync of %s (branch %s) from this checkout, %.1fs: %s: %s\n",
					p.GitSync.Spec.Path, p.GitSync.Spec.Ref.Branch, time.Since(start).Seconds(), ready.Reason, ready.Message)
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		}
	}
}

// Run runs the agent (with its webhook), the volume provisioner and the
// portal until ctx ends.
func (p *Platform) Run(ctx context.Context) error {
	agent, err := manager.New(ctx, p.Config, manager.Config{
		Namespace:        p.Namespace,
		SyncAllowedKinds: "ConfigMap",
		MetricsAddr:      orOff(p.AgentMetricsAddr),
		ProbeAddr:        orOff(p.AgentProbeAddr),
		WebhookHost:      p.webhook.LocalServingHost,
		WebhookPort:      p.webhook.LocalServingPort,
		WebhookCertDir:   p.webhook.LocalServingCertDir,
		Sessions: sessions.Options{Home: users.HomeOptions{DefaultSize: resource.MustParse("10Gi")},
			IdleReporter: sessions.IdleReporterOptions{Image: p.idleImage}},
	})
	if err != nil {
		return err
	}
	provisioner, err := ctrl.NewManager(p.Config, ctrl.Options{Scheme: manager.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		return err
	}
	if err := (&volumes.Provisioner{Client: provisioner.GetClient(), Dir: filepath.Join(p.StateDir, "volumes"), Owner: 1000}).SetupWithManager(provisioner); err != nil {
		return err
	}
	errc := make(chan error, 3)
	go func() { errc <- wrap("agent", agent.Start(ctx)) }()
	go func() { errc <- wrap("volumes", provisioner.Start(ctx)) }()
	go p.serveGit(ctx) // environments/local's plugin repository
	go func() {
		errc <- wrap("portal", portal.Run(ctx, portal.Config{Addr: p.PortalAddr, Namespace: p.Namespace, StateDir: p.StateDir, Out: p.Out,
			Log: ctrl.Log.WithName("portal"), StreamViaPodIP: !p.Status.Simulated, ShutdownGrace: 5 * time.Second,
			AppsDomain: "localhost", PublicURL: p.PublicURL}, p.Config))
	}()
	var first error
	for range 3 {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func wrap(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func orOff(addr string) string {
	if addr == "" {
		return "0"
	}
	return addr
}

// Down stops the cluster (every process, mount, network namespace, bridge
// and cgroup it made). Home folders stay.
func Down(ctx context.Context, c *cluster.Cluster) error { return c.Down(ctx) }

func step(out io.Writer, format string, args ...any) func() {
	start := time.Now()
	fmt.Fprintf(out, "==> "+format+" … ", args...)
	return func() { fmt.Fprintf(out, "done (%.1fs)\n", time.Since(start).Seconds()) }
}
