// Command streamspace-agent runs the StreamSpace controllers (sessions,
// users and homes) and the quota admission webhook.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/streamspace/streamspace/agent/manager"
)

func main() {
	var (
		cfg      manager.Config
		homeSize string
		zapOpts  = zap.Options{}
	)
	flag.StringVar(&cfg.Namespace, "namespace", envOr("STREAMSPACE_NAMESPACE", "streamspace"), "Platform namespace the agent manages (empty: all namespaces).")
	flag.StringVar(&cfg.MetricsAddr, "metrics-addr", ":8080", "Address of the Prometheus metrics endpoint (\"0\" disables).")
	flag.StringVar(&cfg.ProbeAddr, "health-addr", ":8081", "Address of /healthz and /readyz (\"0\" disables).")
	flag.StringVar(&cfg.PprofAddr, "pprof-addr", "", "Address of the Go profiler (net/http/pprof, with block and mutex profiles); empty: off. Never expose it beyond localhost.")
	flag.StringVar(&cfg.WebhookHost, "webhook-host", "", "Address the admission webhook listens on.")
	flag.IntVar(&cfg.WebhookPort, "webhook-port", 9443, "Port of the admission webhook.")
	flag.StringVar(&cfg.WebhookCertDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs", "Folder with the webhook's tls.crt and tls.key.")
	flag.BoolVar(&cfg.DisableWebhooks, "disable-webhooks", false, "Run without the quota admission webhook.")
	flag.BoolVar(&cfg.LeaderElection, "leader-elect", false, "Elect a leader, for running several replicas.")
	flag.StringVar(&cfg.SyncAllowedKinds, "sync-allowed-kinds", "ConfigMap", "Kinds a GitSync may apply besides the StreamSpace kinds and NetworkPolicy (Kind or Kind.group, comma-separated).")
	flag.StringVar(&cfg.ReceiverAddr, "receiver-addr", ":9292", "Address of the Git push webhook receiver (runs when STREAMSPACE_WEBHOOK_SECRET is set).")
	flag.IntVar(&cfg.SessionWorkers, "session-workers", manager.DefaultSessionWorkers, "Sessions reconciled in parallel.")
	flag.StringVar(&cfg.Sessions.Home.StorageClassName, "home-storage-class", "", "Storage class of home volumes (ReadWriteMany; empty: the cluster default).")
	flag.StringVar(&homeSize, "home-size", "10Gi", "Home volume size when neither the User nor its Quota gives one.")
	flag.StringVar(&cfg.Sessions.Ingress.ClassName, "ingress-class", "", "Ingress class of per-session Ingresses.")
	flag.StringVar(&cfg.Sessions.Ingress.HostPattern, "ingress-host", "", "Host of a session's Ingress, e.g. {session}.streamspace.example.com (empty: no Ingress).")
	flag.StringVar(&cfg.Sessions.Ingress.TLSSecretName, "ingress-tls-secret", "", "TLS secret (a wildcard certificate) for session Ingresses.")
	flag.StringVar(&cfg.Sessions.Ingress.ForwardAuth.Kind, "ingress-forward-auth", "", "How session Ingresses ask the portal's /api/v1/auth/forward who may pass: nginx or traefik (required with --ingress-host).")
	flag.StringVar(&cfg.Sessions.Ingress.ForwardAuth.URL, "ingress-forward-auth-url", "", "nginx: the portal's forward-auth URL as the Ingress controller reaches it, e.g. http://streamspace-portal.streamspace.svc/api/v1/auth/forward.")
	flag.StringVar(&cfg.Sessions.Ingress.ForwardAuth.Middlewares, "ingress-forward-auth-middlewares", "", "traefik: the router.middlewares value naming the ForwardAuth Middleware, e.g. streamspace-forward-auth@kubernetescrd.")
	flag.StringVar(&cfg.Sessions.PortalURL, "portal-url", "", "External URL of the portal; sessions without an Ingress are reached at <portal-url>/session/<name>.")
	flag.DurationVar(&cfg.Sessions.DefaultIdleTimeout, "default-idle-timeout", 30*time.Minute, "Idle time before hibernation when no Session, Template or Quota sets one.")
	flag.StringVar(&cfg.Sessions.IdleReporter.Image, "idle-reporter-image", "", "Image of the X idle reporter (streamspace/idle) put beside every session's app and asked at the idle deadline, so input the portal cannot see (Selkies over WebRTC) keeps a session awake (empty: off).")
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")
	if cfg.PprofAddr != "" && cfg.PprofAddr != "0" {
		// Sampled, not every event: cheap enough to leave on while profiling.
		runtime.SetBlockProfileRate(int(time.Millisecond / 10))
		runtime.SetMutexProfileFraction(10)
	}

	size, err := resource.ParseQuantity(homeSize)
	if err != nil {
		fmt.Fprintf(os.Stderr, "invalid --home-size %q: %v\n", homeSize, err)
		os.Exit(2)
	}
	cfg.Sessions.Home.DefaultSize = size
	if err := cfg.Sessions.Ingress.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "streamspace-agent: %v\n", err)
		os.Exit(2)
	}
	cfg.ReceiverSecret = []byte(os.Getenv("STREAMSPACE_WEBHOOK_SECRET"))

	ctx := ctrl.SetupSignalHandler()
	mgr, err := manager.New(ctx, ctrl.GetConfigOrDie(), cfg)
	if err != nil {
		log.Error(err, "Unable to set up the agent")
		os.Exit(1)
	}
	log.Info("Starting agent", "namespace", cfg.Namespace, "webhooks", !cfg.DisableWebhooks)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "Agent stopped")
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}
