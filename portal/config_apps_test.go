package portal

import (
	"flag"
	"io"
	"testing"
)

// TestConfig_appsDomain_pathWebClientsFollowIt: the path-based web clients
// are on without an apps domain (nothing running breaks), off with one,
// and either way what --path-web-clients says.
func TestConfig_appsDomain_pathWebClientsFollowIt(t *testing.T) {
	env := map[string]string{"STREAMSPACE_APPS_DOMAIN": "apps.example.com", "STREAMSPACE_PUBLIC_URL": "https://portal.example.com"}
	for _, tc := range []struct {
		args   []string
		env    bool
		domain string
		path   bool
	}{
		{nil, false, "", true},
		{[]string{"--path-web-clients=false"}, false, "", false},
		{nil, true, "apps.example.com", false},
		{[]string{"--apps-domain", "apps.other.example"}, true, "apps.other.example", false},
		{[]string{"--path-web-clients"}, true, "apps.example.com", true},
	} {
		var c Config
		fs := flag.NewFlagSet("portal", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c.BindFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		getenv := func(string) string { return "" }
		if tc.env {
			getenv = func(k string) string { return env[k] }
		}
		if err := c.LoadEnv(getenv); err != nil {
			t.Fatal(err)
		}
		if c.AppsDomain != tc.domain || c.pathWebClients() != tc.path || (tc.env && c.PublicURL != "https://portal.example.com") {
			t.Errorf("%v (env %v): apps domain %q, public URL %q, path web clients %v; want %q, %v", tc.args, tc.env, c.AppsDomain, c.PublicURL, c.pathWebClients(), tc.domain, tc.path)
		}
	}
}
