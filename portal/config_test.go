package portal

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConfig_flagsThenEnvironment(t *testing.T) {
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(key, []byte("ssh key"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"STREAMSPACE_DATABASE":             "postgres://from-env",
		"STREAMSPACE_OIDC_ISSUER":          "https://dex.example",
		"STREAMSPACE_OIDC_ADMIN_GROUPS":    " admins, ,ops ",
		"STREAMSPACE_GIT_URL":              "ssh://git@example/platform.git",
		"STREAMSPACE_GIT_SSH_KEY_FILE":     key,
		"STREAMSPACE_GITHUB_REPO":          "acme/platform",
		"STREAMSPACE_TOKEN_KEY":            "k",
		"STREAMSPACE_GIT_KNOWN_HOSTS_FILE": "",
	}
	var c Config
	fs := flag.NewFlagSet("portal", flag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse([]string{"--addr=:9000", "--database=/data/portal.db"}); err != nil {
		t.Fatal(err)
	}
	if err := c.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":9000" || c.Namespace != "streamspace" || !c.SecureCookies || c.grace().Seconds() != 30 {
		t.Errorf("flags: %+v", c)
	}
	if c.Database != "/data/portal.db" {
		t.Errorf("the flag gives the database over the environment: %q", c.Database)
	}
	if c.OIDC == nil || c.OIDC.Issuer != "https://dex.example" || !reflect.DeepEqual(c.OIDC.AdminGroups, []string{"admins", "ops"}) {
		t.Errorf("single sign-on: %+v", c.OIDC)
	}
	gw := c.GitWrite
	if gw == nil || !reflect.DeepEqual(gw.Paths, []string{"catalog", "policies"}) || string(gw.Auth.SSHIdentity) != "ssh key" ||
		gw.GitHub == nil || gw.GitHub.Owner != "acme" || gw.GitHub.Repo != "platform" {
		t.Errorf("write-back: %+v", gw)
	}
	if string(c.SigningKey) != "k" {
		t.Errorf("signing key: %q", c.SigningKey)
	}

	var d Config
	if err := d.LoadEnv(func(k string) string { return env[k] }); err != nil || d.Database != "postgres://from-env" {
		t.Errorf("database from the environment: %q %v", d.Database, err)
	}
}

func TestConfig_badWriteBackSettingsAreRefused(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"GitHub repository without owner": {"STREAMSPACE_GIT_URL": "https://example/p.git", "STREAMSPACE_GITHUB_REPO": "platform"},
		"missing SSH key file":            {"STREAMSPACE_GIT_URL": "https://example/p.git", "STREAMSPACE_GIT_SSH_KEY_FILE": "/nonexistent/key"},
	} {
		var c Config
		err := c.LoadEnv(func(k string) string { return env[k] })
		if err == nil || !strings.HasPrefix(err.Error(), "write-back: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestConfig_ssoRecheck_defaultOneHour_nonPositiveRefused(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("portal", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.BindFlags(fs)
	if err := fs.Parse(nil); err != nil || c.SSORecheck != time.Hour {
		t.Fatalf("default: %v, %v", c.SSORecheck, err)
	}
	if err := fs.Parse([]string{"--sso-recheck=15m"}); err != nil || c.SSORecheck != 15*time.Minute {
		t.Errorf("15m: %v, %v", c.SSORecheck, err)
	}
	for _, bad := range []string{"0", "-1h", "soon"} {
		err := fs.Parse([]string{"--sso-recheck=" + bad})
		if err == nil || !strings.Contains(err.Error(), "sso-recheck") {
			t.Errorf("--sso-recheck=%s: %v, want an error naming the flag", bad, err)
		}
	}
}
