// Command streamspace-portal serves StreamSpace's web portal API.
package main

import (
	"flag"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/streamspace/streamspace/agent/manager"
	"github.com/streamspace/streamspace/portal"
)

func main() {
	cfg := portal.Config{Out: os.Stdout}
	flag.StringVar(&cfg.Addr, "addr", ":8443", "Listen address.")
	flag.StringVar(&cfg.Namespace, "namespace", "streamspace", "Platform namespace.")
	flag.StringVar(&cfg.Database, "database", os.Getenv("STREAMSPACE_DATABASE"), "postgres:// DSN, or an SQLite file (default: <state-dir>/portal.db).")
	flag.StringVar(&cfg.StateDir, "state-dir", "/var/lib/streamspace", "Folder for the SQLite database and the generated token signing key.")
	flag.BoolVar(&cfg.SecureCookies, "secure-cookies", true, "Mark cookies Secure (serve behind TLS).")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("portal")
	cfg.Log = log
	if key := os.Getenv("STREAMSPACE_TOKEN_KEY"); key != "" {
		cfg.SigningKey = []byte(key)
	}
	k8s, err := client.New(ctrl.GetConfigOrDie(), client.Options{Scheme: manager.Scheme()})
	if err != nil {
		log.Error(err, "Unable to reach the Kubernetes API")
		os.Exit(1)
	}
	log.Info("Serving the portal", "addr", cfg.Addr, "namespace", cfg.Namespace)
	if err := portal.Run(ctrl.SetupSignalHandler(), cfg, k8s); err != nil {
		log.Error(err, "Portal stopped")
		os.Exit(1)
	}
}
