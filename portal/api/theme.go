package api

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/streamspace/streamspace/agent/gitsync"
	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/artifact"
	"github.com/streamspace/streamspace/plugins/manifest"
)

// ThemeView is the enabled, Ready theme plugin as the UI applies it: its
// name (the product name shown), palette and logo. It is public (the
// sign-in page wears it too), so it says nothing else about the plugin.
type ThemeView struct {
	Plugin      string            `json:"plugin"`
	DisplayName string            `json:"displayName"`
	Palette     map[string]string `json:"palette"`
	// Logo is the portal's URL of the theme's logo (ThemeLogo); empty
	// when the theme has none.
	Logo string `json:"logo,omitempty"`
}

// ThemeLogoPath is where the portal serves the theme's logo.
const ThemeLogoPath = "/api/v1/plugins/theme/logo"

// MaxLogoSize bounds a theme's logo: read into memory and held there.
const MaxLogoSize = 256 << 10

// Theme returns the theme the UI applies at load, or {"theme": null}
// when no theme plugin is enabled and Ready (the UI keeps its own).
func (a *PluginsAPI) Theme(c *gin.Context) {
	p, m, err := a.activeTheme(c)
	if err != nil {
		Fail(c, err)
		return
	}
	if p == nil {
		c.JSON(http.StatusOK, gin.H{"theme": nil})
		return
	}
	// Only the palette keys the manifest format knows, each a colour it
	// accepts: the agent checked them, the UI must not trust a status
	// that was edited by hand.
	palette := map[string]string{}
	for k, v := range m.Entry.Theme.Palette {
		if slices.Contains(manifest.PaletteKeys, k) && isColour(v) {
			palette[k] = v
		}
	}
	name := m.DisplayName
	if name == "" {
		name = m.Name
	}
	view := ThemeView{Plugin: p.Name, DisplayName: name, Palette: palette}
	if m.Entry.Theme.Logo != "" {
		// the revision in the URL: a new version is a new URL, so a
		// browser's cached logo never outlives its theme
		h, _ := artifact.Hash(p.Status.Revision)
		view.Logo = ThemeLogoPath + "?v=" + h.String()[:12]
	}
	c.JSON(http.StatusOK, gin.H{"theme": view})
}

// activeTheme is the enabled, Ready ui-theme plugin and its manifest, or
// nil. When several are, the first by name wins, so every replica and
// every load agree.
func (a *PluginsAPI) activeTheme(ctx context.Context) (*streamv1.Plugin, *manifest.Manifest, error) {
	var list streamv1.PluginList
	if err := a.Client.List(ctx, &list, client.InNamespace(a.Namespace)); err != nil {
		return nil, nil, err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	for i := range list.Items {
		p := &list.Items[i]
		if !p.Spec.Enabled || !meta.IsStatusConditionTrue(p.Status.Conditions, "Ready") || p.Status.Manifest == nil {
			continue
		}
		var m manifest.Manifest
		if json.Unmarshal(p.Status.Manifest.Raw, &m) != nil || m.Type != manifest.TypeUITheme || m.Entry.Theme == nil {
			continue
		}
		return p, &m, nil
	}
	return nil, nil, nil
}

// ThemeLogo serves the active theme's logo. The file comes from a plugin
// repository, that is from whoever can push to it, and this endpoint is
// public, on the portal's own origin: so it is served only as an image
// whose bytes are one of a few formats (PNG, JPEG, WebP, or an SVG made
// only of drawing elements), at most MaxLogoSize bytes, under a sandboxing
// Content-Security-Policy and as an attachment, so that even opened by
// itself in a tab it is never a page that runs script as the portal. A
// file that is none of these is refused, saying why.
func (a *PluginsAPI) ThemeLogo(c *gin.Context) {
	p, m, err := a.activeTheme(c)
	if err != nil {
		Fail(c, err)
		return
	}
	if p == nil || m.Entry.Theme.Logo == "" {
		Fail(c, Errorf(http.StatusNotFound, CodeNotFound, "no theme with a logo is enabled"))
		return
	}
	l := a.logo.get(c, p, m, a.fetchLogo)
	if l.err != nil {
		Fail(c, l.err)
		return
	}
	h := c.Writer.Header()
	// what the portal's own pages get is replaced: an image needs no
	// script, and sandbox makes a document of it a unique origin
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", `attachment; filename="logo`+l.ext+`"`)
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, l.contentType, l.data)
}

// fetchLogo reads the logo from the plugin's repository at the commit the
// agent resolved the plugin to (status.revision, a commit hash, so the
// bytes are the ones the agent saw) and checks it.
func (a *PluginsAPI) fetchLogo(ctx context.Context, p *streamv1.Plugin, m *manifest.Manifest) cachedLogo {
	reader := a.Reader
	if reader == nil {
		reader = a.Client
	}
	unavailable := func(err error) cachedLogo {
		return cachedLogo{err: fmt.Errorf("%w: %w", Errorf(http.StatusServiceUnavailable, CodeUnavailable, "the theme's logo cannot be read from its plugin repository now"), err)}
	}
	repo := &streamv1.PluginRepository{}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: p.Spec.Repository.Name}, repo); err != nil {
		return unavailable(fmt.Errorf("plugin repository %s: %w", p.Spec.Repository.Name, err))
	}
	src, err := gitsync.SourceFor(ctx, reader, repo.Namespace, repo.Spec.URL, repo.Spec.Ref, repo.Spec.SecretRef)
	if err != nil {
		return unavailable(err)
	}
	g, err := artifact.OpenAt(ctx, src, p.Status.Revision)
	if err != nil {
		return unavailable(err)
	}
	defer g.Close()
	// the folder is named after the plugin (the manifest loader insists)
	file := path.Join(path.Clean("./"+repo.Spec.Path), p.Spec.PluginName, m.Entry.Theme.Logo)
	data, err := g.ReadFile(p.Status.Revision, file, MaxLogoSize)
	if err != nil {
		return cachedLogo{err: Errorf(http.StatusUnprocessableEntity, CodeInvalid, "the theme's logo is refused: "+err.Error())}
	}
	contentType, ext, err := checkLogo(path.Base(file), data)
	if err != nil {
		return cachedLogo{err: Errorf(http.StatusUnprocessableEntity, CodeInvalid, "the theme's logo is refused: "+err.Error())}
	}
	return cachedLogo{data: data, contentType: contentType, ext: ext}
}

// logoCache keeps the active theme's logo (or why it is refused), so that
// an anonymous request never costs a clone: one fetch per theme revision,
// a failure to reach the repository tried again after a minute.
type logoCache struct {
	mu   sync.Mutex
	key  string
	at   time.Time
	logo cachedLogo
}

type cachedLogo struct {
	data        []byte
	contentType string
	ext         string
	err         error
}

func (lc *logoCache) get(ctx context.Context, p *streamv1.Plugin, m *manifest.Manifest, fetch func(context.Context, *streamv1.Plugin, *manifest.Manifest) cachedLogo) cachedLogo {
	key := p.Spec.Repository.Name + "\x00" + p.Spec.PluginName + "\x00" + p.Status.Revision + "\x00" + m.Entry.Theme.Logo
	// held across the fetch: concurrent requests wait for one clone
	lc.mu.Lock()
	defer lc.mu.Unlock()
	var e *Error
	retry := lc.logo.err != nil && errors.As(lc.logo.err, &e) && e.Status == http.StatusServiceUnavailable && time.Since(lc.at) > time.Minute
	if lc.key != key || retry {
		lc.key, lc.at, lc.logo = key, time.Now(), fetch(ctx, p, m)
	}
	return lc.logo
}

// The logo formats served, by file extension; the bytes must be of the
// same format.
var logoTypes = map[string]string{
	".png":  "image/png",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".webp": "image/webp",
	".svg":  "image/svg+xml",
}

// checkLogo returns the Content-Type and extension logo is served with,
// or why it is not.
func checkLogo(name string, data []byte) (contentType, ext string, err error) {
	ext = strings.ToLower(path.Ext(name))
	contentType, ok := logoTypes[ext]
	if !ok {
		return "", "", fmt.Errorf("%s: only a .png, .jpg, .webp or .svg file is served", name)
	}
	switch contentType {
	case "image/png":
		ok = bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n"))
	case "image/jpeg":
		ok = bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff})
	case "image/webp":
		ok = len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP"
	case "image/svg+xml":
		if err := checkSVG(data); err != nil {
			return "", "", fmt.Errorf("%s: %w", name, err)
		}
	}
	if !ok {
		return "", "", fmt.Errorf("%s is not a %s image (its bytes say %s)", name, strings.TrimPrefix(contentType, "image/"), http.DetectContentType(data))
	}
	return contentType, ext, nil
}

const (
	svgNS   = "http://www.w3.org/2000/svg"
	xlinkNS = "http://www.w3.org/1999/xlink"
	xmlNS   = "http://www.w3.org/XML/1998/namespace"
)

// svgElements are the SVG elements a logo may use: shapes, text, paint
// servers and their structure. Anything else (script, foreignObject,
// style, animation, image, a, iframe, another namespace's elements) makes
// the file refused rather than cleaned: a logo needs none of them.
var svgElements = []string{
	"svg", "g", "defs", "title", "desc", "symbol", "use",
	"path", "circle", "ellipse", "rect", "line", "polyline", "polygon", "text", "tspan",
	"linearGradient", "radialGradient", "stop", "clipPath", "mask", "pattern",
}

// checkSVG accepts an SVG document made only of svgElements, with no
// event handler attribute, no reference outside the document (href and
// url() only to "#fragment") and no DTD (so no entity can expand). Even
// so the logo is served under a sandboxing CSP: this check makes a file
// meant to attack refused with a reason, the CSP keeps a browser safe from
// what it might miss.
func checkSVG(data []byte) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	root := true
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("not well-formed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return errors.New("a DTD (<!DOCTYPE or <!ENTITY) is not allowed")
		case xml.ProcInst:
			if t.Target != "xml" {
				return fmt.Errorf("processing instruction <?%s is not allowed", t.Target)
			}
		case xml.StartElement:
			if root && t.Name.Local != "svg" {
				return fmt.Errorf("the root element is <%s>, not <svg>", t.Name.Local)
			}
			if t.Name.Space != svgNS {
				return fmt.Errorf("element <%s> is not in the SVG namespace", t.Name.Local)
			}
			if !slices.Contains(svgElements, t.Name.Local) {
				return fmt.Errorf("element <%s> is not allowed in a logo", t.Name.Local)
			}
			root = false
			for _, at := range t.Attr {
				if err := checkSVGAttr(at); err != nil {
					return fmt.Errorf("<%s>: %w", t.Name.Local, err)
				}
			}
		}
	}
	if root {
		return errors.New("no <svg> element")
	}
	return nil
}

func checkSVGAttr(at xml.Attr) error {
	name, value := at.Name.Local, strings.ToLower(strings.Join(strings.Fields(at.Value), ""))
	switch at.Name.Space {
	case "", "xmlns", xmlNS, xlinkNS, svgNS:
	default:
		return fmt.Errorf("attribute %s:%s is not allowed", at.Name.Space, name)
	}
	switch {
	case strings.HasPrefix(strings.ToLower(name), "on"):
		return fmt.Errorf("event handler attribute %s is not allowed", name)
	case at.Name.Space == "xmlns" || (at.Name.Space == "" && name == "xmlns"):
		if at.Value != svgNS && at.Value != xlinkNS {
			return fmt.Errorf("namespace %q is not allowed", at.Value)
		}
	case name == "href" && !strings.HasPrefix(value, "#"):
		return fmt.Errorf("href %q points outside the logo", at.Value)
	case strings.Contains(value, "javascript:"):
		return fmt.Errorf("attribute %s holds a javascript: URL", name)
	}
	for rest := value; ; {
		i := strings.Index(rest, "url(")
		if i < 0 {
			break
		}
		rest = strings.TrimLeft(rest[i+len("url("):], `'"`)
		if !strings.HasPrefix(rest, "#") {
			return fmt.Errorf("attribute %s refers outside the logo with url()", name)
		}
	}
	return nil
}

func isColour(s string) bool {
	if len(s) != 7 || s[0] != '#' {
		return false
	}
	for _, r := range s[1:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}
