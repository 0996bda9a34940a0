// Command streamspace-portal serves StreamSpace's web portal API.
package main

import (
	"flag"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/streamspace/streamspace/portal"
)

func main() {
	cfg := portal.Config{Out: os.Stdout}
	cfg.BindFlags(flag.CommandLine)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("portal")
	cfg.Log = log
	if err := cfg.LoadEnv(os.Getenv); err != nil {
		log.Error(err, "Configuration")
		os.Exit(1)
	}
	if cfg.OIDC != nil {
		log.Info("Single sign-on", "issuer", cfg.OIDC.Issuer)
	}
	if gw := cfg.GitWrite; gw != nil {
		log.Info("Write-back", "repository", gw.URL, "pullRequests", gw.GitHub != nil)
	}
	log.Info("Serving the portal", "addr", cfg.Addr, "namespace", cfg.Namespace)
	if err := portal.Run(ctrl.SetupSignalHandler(), cfg, ctrl.GetConfigOrDie()); err != nil {
		log.Error(err, "Portal stopped")
		os.Exit(1)
	}
}
