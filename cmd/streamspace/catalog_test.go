package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/streamspace/streamspace/agent/validate"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/deploy"
)

// Templates in the original StreamSpace's format (testdata/original,
// written from its documented fields) become this catalog's files that
// validate accepts, except the one whose image no tag is known for, which
// is marked and refused until a person pins it.
func TestCatalogImport_originalTemplatesPassValidate(t *testing.T) {
	repo := t.TempDir()
	for _, dir := range []string{"catalog", "policies", "environments"} {
		if err := os.CopyFS(filepath.Join(repo, dir), os.DirFS(filepath.Join("..", "..", dir))); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(repo, "catalog", "imported")
	run := func() (string, error) {
		cmd := catalogCommand()
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(io.Discard)
		cmd.SetArgs([]string{"import", "testdata/original", dst})
		err := cmd.Execute()
		return out.String(), err
	}
	out, err := run()
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	for _, want := range []string{
		"image lscr.io/linuxserver/firefox:latest pinned to lscr.io/linuxserver/firefox:",
		"image lscr.io/linuxserver/audacity pinned to lscr.io/linuxserver/audacity:",
		"image ghcr.io/acme/cadtool:latest NOT pinned",
		`dropped the fixed namespace "workspaces"`,
		"kasmvnc {enabled: true, port: 3000} became stream {protocol: Selkies, port: 3000}",
		"kasmvnc {enabled: true, port: 6901} became stream {protocol: KasmVNC, port: 6901}",
		`dropped capability "Printing"`,
		"testdata/original/code-server.yaml: skipped: document 1 (Template code-server): kasmvnc is not enabled",
		"imported 3 template(s), 1 not pinned, 1 file(s) skipped\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	data, err := os.ReadFile(filepath.Join(dst, "web-browsers", "firefox-browser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ff streamv1.Template
	if err := yaml.UnmarshalStrict(data, &ff); err != nil {
		t.Fatal(err)
	}
	if ff.Namespace != "" || ff.Spec.Stream.Protocol != streamv1.StreamSelkies || ff.Spec.DefaultResources.Memory.String() != "3Gi" ||
		len(ff.Spec.VolumeMounts) != 1 || ff.Spec.VolumeMounts[0].MountPath != "/config" || strings.HasSuffix(ff.Spec.BaseImage, ":latest") {
		t.Errorf("firefox-browser: %+v", ff)
	}

	v, err := validate.LoadFS(deploy.CRDs())
	if err != nil {
		t.Fatal(err)
	}
	errorsOf := func() []string {
		problems, _, err := v.Repo(repo)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range problems {
			if !p.Warning {
				out = append(out, p.String())
			}
		}
		return out
	}
	if got := errorsOf(); len(got) != 1 || got[0] != "catalog/imported/engineering/cadtool.yaml:11: Template cadtool: spec.baseImage: baseImage must not use the mutable :latest tag; pin a version" {
		t.Errorf("validate after import: %q", got)
	}
	// the person pins it: the import passes
	cad := filepath.Join(dst, "engineering", "cadtool.yaml")
	text, _ := os.ReadFile(cad)
	if !strings.Contains(string(text), "# streamspace catalog import: not pinned") {
		t.Errorf("cadtool.yaml is not marked:\n%s", text)
	}
	if err := os.WriteFile(cad, bytes.Replace(text, []byte("cadtool:latest"), []byte("cadtool:2.4.1"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := errorsOf(); len(got) != 0 {
		t.Errorf("validate after pinning: %q", got)
	}
	kust, _ := os.ReadFile(filepath.Join(dst, "kustomization.yaml"))
	if string(kust) != "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - audio-video/audacity.yaml\n  - engineering/cadtool.yaml\n  - web-browsers/firefox-browser.yaml\n" {
		t.Errorf("kustomization.yaml:\n%s", kust)
	}
	// a second import overwrites nothing
	if out, err := run(); err == nil || !strings.Contains(err.Error(), "already exists; nothing was overwritten") {
		t.Errorf("second import: %v\n%s", err, out)
	}
}
