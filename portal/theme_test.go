package portal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/portal"
	"github.com/streamspace/streamspace/test/gitserver"
	"github.com/streamspace/streamspace/test/testenv"
)

// TestPlugins_themeLogo: the active theme's logo is served, to anyone,
// from its plugin repository on a real Git server at the commit the
// plugin resolved to, only as an image under a sandboxing policy; a logo
// meant to attack the portal's origin (script, handlers, foreign content,
// outside references, entities), too big, or not what its name says is
// refused with the reason, and nothing of it is served.
func TestPlugins_themeLogo(t *testing.T) {
	ctx := context.Background()
	gs, err := gitserver.Start()
	if err != nil {
		t.Skip("skipped: " + err.Error())
	}
	t.Cleanup(gs.Close)
	repo := gs.NewRepo(t, "themes")
	repo.CopyDir(filepath.Join(testenv.RepoRoot(), "plugins", "repository", "midnight-theme"), "plugins/midnight-theme")
	repo.Push("midnight")
	pr := &streamv1.PluginRepository{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "themes"},
		Spec: streamv1.PluginRepositorySpec{URL: repo.URL, Path: "plugins"}}
	if err := env.Client.Create(ctx, pr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), pr) })

	own := httptest.NewServer(portal.Handler(newHandlers()))
	t.Cleanup(own.Close)
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(own.URL + path) // anonymous: the sign-in page asks too
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	if resp, body := get("/api/v1/plugins/theme/logo"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("no theme: %d %s", resp.StatusCode, body)
	}

	// the theme plugin as the agent leaves it: Ready, at a revision, with
	// its manifest naming the logo
	p := &streamv1.Plugin{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "midnight-logo"}, Spec: streamv1.PluginSpec{
		Repository: streamv1.LocalObjectReference{Name: "themes"}, PluginName: "midnight-theme", Version: "0.1.0", Enabled: true}}
	if err := env.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), p) })
	meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Installed", Message: "x"})
	// install puts logo (name, content) in the repository and points the
	// plugin at that commit
	install := func(t *testing.T, name string, content []byte) {
		t.Helper()
		repo.Write("plugins/midnight-theme/"+name, string(content))
		p.Status.Revision = repo.Push("logo " + name)
		m, _ := json.Marshal(map[string]any{"name": "midnight-theme", "version": "0.1.0", "type": "ui-theme", "displayName": "Midnight",
			"entry": map[string]any{"theme": map[string]any{"palette": map[string]string{"primary": "#7aa2f7"}, "logo": name}}})
		p.Status.Manifest = &apiextensionsv1.JSON{Raw: m}
		if err := env.Client.Status().Update(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	shipped, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "plugins", "repository", "midnight-theme", "logo.svg"))
	if err != nil {
		t.Fatal(err)
	}
	var pngLogo bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	img.Set(1, 1, color.RGBA{R: 0x7a, G: 0xa2, B: 0xf7, A: 0xff})
	_ = png.Encode(&pngLogo, img)
	oversized := append(append([]byte{}, pngLogo.Bytes()...), make([]byte, 256<<10)...)

	const svgOpen = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">`
	for _, tc := range []struct {
		name, file string
		content    []byte
		// served: its Content-Type; else the refusal's words
		served, refused string
	}{
		{name: "the shipped svg", file: "midnight.svg", content: shipped, served: "image/svg+xml"},
		{name: "a png", file: "logo.png", content: pngLogo.Bytes(), served: "image/png"},
		{name: "svg with a script element", file: "logo.svg", content: []byte(svgOpen + `<script>fetch('/api/v1/users/me')</script></svg>`), refused: "element <script> is not allowed"},
		{name: "svg with an event handler", file: "logo.svg", content: []byte(svgOpen + `<circle r="4" onload="alert(document.cookie)"/></svg>`), refused: "event handler attribute onload"},
		{name: "svg embedding html", file: "logo.svg", content: []byte(svgOpen + `<foreignObject><body xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></body></foreignObject></svg>`), refused: "element <foreignObject> is not allowed"},
		{name: "svg with a javascript link", file: "logo.svg", content: []byte(svgOpen + `<use xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="javascript:alert(1)"/></svg>`), refused: "points outside the logo"},
		{name: "svg loading another document", file: "logo.svg", content: []byte(svgOpen + `<rect width="4" height="4" fill="url(https://evil.example.com/x.svg#p)"/></svg>`), refused: "refers outside the logo with url()"},
		{name: "svg with entities", file: "logo.svg", content: []byte(`<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">]>` + svgOpen + `<text>&a;</text></svg>`), refused: "a DTD"},
		{name: "html named .svg", file: "logo.svg", content: []byte(`<html><body><script>alert(1)</script></body></html>`), refused: "the root element is <html>"},
		{name: "html named .png", file: "logo.png", content: []byte(`<html><script>alert(document.domain)</script></html>`), refused: "logo.png is not a png image (its bytes say text/html"},
		{name: "an html file", file: "logo.html", content: []byte(`<script>alert(1)</script>`), refused: "only a .png, .jpg, .webp or .svg file is served"},
		{name: "oversized", file: "logo.png", content: oversized, refused: "more than 262144"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			install(t, tc.file, tc.content)
			resp, body := get("/api/v1/plugins/theme")
			var th struct {
				Theme *struct{ DisplayName, Logo string }
			}
			if err := json.Unmarshal(body, &th); resp.StatusCode != http.StatusOK || err != nil || th.Theme == nil ||
				th.Theme.DisplayName != "Midnight" || !strings.HasPrefix(th.Theme.Logo, "/api/v1/plugins/theme/logo?v=") {
				t.Fatalf("theme, anonymously: %d %s", resp.StatusCode, body)
			}
			resp, body = get(th.Theme.Logo)
			h := resp.Header
			if tc.served != "" {
				if resp.StatusCode != http.StatusOK || h.Get("Content-Type") != tc.served || !bytes.Equal(body, tc.content) {
					t.Fatalf("logo: %d %q %q", resp.StatusCode, h.Get("Content-Type"), body)
				}
				if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
					t.Errorf("Content-Security-Policy %q: want default-src 'none' and sandbox", csp)
				}
				if h.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(h.Get("Content-Disposition"), "attachment") {
					t.Errorf("headers: %v", h)
				}
				return
			}
			var e struct {
				Error struct{ Code, Message string }
			}
			_ = json.Unmarshal(body, &e)
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.HasPrefix(h.Get("Content-Type"), "application/json") ||
				e.Error.Code != "invalid_request" || !strings.Contains(e.Error.Message, tc.refused) {
				t.Errorf("logo: %d %q %s; want 422 saying %q", resp.StatusCode, h.Get("Content-Type"), body, tc.refused)
			}
		})
	}
}
