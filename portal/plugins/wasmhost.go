package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
	"github.com/streamspace/streamspace/plugins/artifact"
	"github.com/streamspace/streamspace/plugins/event"
	"github.com/streamspace/streamspace/plugins/manifest"
	"github.com/streamspace/streamspace/plugins/wasm"
	"github.com/streamspace/streamspace/portal/api"
)

// NewRuntime is the Runtime of a running portal: webhook plugins, and
// WebAssembly plugins with their modules fetched from their repository at
// the pinned revision (Modules) and a Host acting on the platform
// namespace's sessions as the portal (c: the portal's client).
func NewRuntime(c client.Client, reader client.Reader, namespace string, log logr.Logger) *Runtime {
	m := &Modules{Reader: reader, Namespace: namespace}
	h := &Hosts{Client: c, Namespace: namespace, Log: log}
	return &Runtime{Reader: reader, Namespace: namespace, LoadModule: m.Load, Host: h.For}
}

// Modules fetches WebAssembly plugins' modules and keeps the most recent
// ones by digest, so a runtime rebuilt (a config edit, a portal losing and
// regaining the lease) does not clone the repository again.
type Modules struct {
	// Reader reads the PluginRepository and its credentials' Secret.
	Reader    client.Reader
	Namespace string
	// MaxBytes bounds the cache (default DefaultModuleCache).
	MaxBytes int

	mu    sync.Mutex
	cache []cachedModule // most recently used last
	size  int
}

type cachedModule struct {
	digest string
	data   []byte
}

// DefaultModuleCache holds a few Go plugins (4-8 MB each).
const DefaultModuleCache = 64 << 20

// Load returns p's module at status.revision, path status.artifact.path,
// its sha256 checked against status.artifact.sha256 (what the agent
// verified before it set Ready).
func (m *Modules) Load(ctx context.Context, p *streamv1.Plugin) ([]byte, error) {
	a := p.Status.Artifact
	if a == nil || a.SHA256 == "" || p.Status.Revision == "" {
		return nil, errors.New("the plugin's status pins no artifact (status.revision, status.artifact)")
	}
	if data := m.cached(a.SHA256); data != nil {
		return data, nil // the digest names the content: same bytes
	}
	repo := &streamv1.PluginRepository{}
	if err := m.Reader.Get(ctx, client.ObjectKey{Namespace: m.Namespace, Name: p.Spec.Repository.Name}, repo); err != nil {
		return nil, fmt.Errorf("plugin repository %s: %w", p.Spec.Repository.Name, err)
	}
	data, err := artifact.Fetch(ctx, m.Reader, repo, p.Status.Revision, *a)
	if err != nil {
		return nil, err
	}
	m.keep(a.SHA256, data)
	return data, nil
}

func (m *Modules) cached(digest string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.IndexFunc(m.cache, func(c cachedModule) bool { return c.digest == digest })
	if i < 0 {
		return nil
	}
	c := m.cache[i]
	m.cache = append(slices.Delete(m.cache, i, i+1), c)
	return c.data
}

func (m *Modules) keep(digest string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	limit := m.MaxBytes
	if limit <= 0 {
		limit = DefaultModuleCache
	}
	if len(data) > limit || slices.ContainsFunc(m.cache, func(c cachedModule) bool { return c.digest == digest }) {
		return
	}
	for m.size+len(data) > limit {
		m.size -= len(m.cache[0].data)
		m.cache = slices.Delete(m.cache, 0, 1)
	}
	m.cache = append(m.cache, cachedModule{digest: digest, data: data})
	m.size += len(data)
}

// Hosts lends WebAssembly plugins the portal's hands: their session
// functions act on the platform namespace's sessions only, and their HTTP
// goes only to the hosts their network:<host> permissions grant.
type Hosts struct {
	Client    client.Client
	Namespace string
	Log       logr.Logger

	once      sync.Once
	transport http.RoundTripper
}

// AnnotationPrefix starts every annotation a plugin sets:
// plugins.streamspace.io/<plugin>.<key>.
const AnnotationPrefix = "plugins.streamspace.io/"

const (
	// maxAnnotationValue bounds one value a plugin sets.
	maxAnnotationValue = 1024
	// maxPluginAnnotations bounds one plugin's annotations on a session,
	// so a plugin cannot grow a Session object without end.
	maxPluginAnnotations = 16
	// httpTimeout bounds one request as a whole (the sandbox ends it
	// earlier, before the event's time limit).
	httpTimeout = wasm.DefaultPerEvent
)

// For returns the Host of plugin p (its granted permissions).
func (h *Hosts) For(p event.Plugin) wasm.Host {
	h.once.Do(func() {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = 5 * time.Second
		t.ResponseHeaderTimeout = httpTimeout
		t.MaxIdleConnsPerHost = 4
		h.transport = t
	})
	return &host{hosts: h, plugin: p, http: &http.Client{
		Transport: &grantedHosts{next: h.transport, plugin: p.Name, grants: networkGrants(p.Permissions)},
		// a redirect is answered to the plugin, never followed: it
		// could lead anywhere
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       httpTimeout,
	}}
}

type host struct {
	hosts  *Hosts
	plugin event.Plugin
	http   *http.Client
}

func (h *host) HTTPClient() *http.Client { return h.http }

// granted checks a permission again here: the sandbox exposes a session
// function only to a plugin granted it, and the portal does not rely on
// that alone.
func (h *host) granted(perm string) error {
	if !slices.Contains(h.plugin.Permissions, perm) {
		return fmt.Errorf("plugin %s is not granted %s", h.plugin.Name, perm)
	}
	return nil
}

// session reads a session of the platform namespace by name.
func (h *host) session(ctx context.Context, name string) (*streamv1.Session, error) {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return nil, fmt.Errorf("%q is not a session name: %s", name, strings.Join(errs, "; "))
	}
	s := &streamv1.Session{}
	if err := h.hosts.Client.Get(ctx, client.ObjectKey{Namespace: h.hosts.Namespace, Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("no session %q", name)
		}
		return nil, err
	}
	return s, nil
}

// HibernateSession hibernates the session as the portal's hibernate
// action does, with the reason PluginRequest.
func (h *host) HibernateSession(ctx context.Context, name string) error {
	if err := h.granted(manifest.PermSessionsHibernate); err != nil {
		return err
	}
	s, err := h.session(ctx, name)
	if err != nil {
		return err
	}
	changed, err := api.HibernateSession(ctx, h.hosts.Client, s, streamv1.ReasonPluginRequest)
	if err != nil {
		return err
	}
	if changed {
		h.hosts.Log.Info("plugin hibernated a session", "plugin", h.plugin.Name, "session", name, "user", s.Spec.User)
	}
	return nil
}

// AnnotateSession sets plugins.streamspace.io/<plugin>.<key> to value on
// the session; an empty value removes it.
func (h *host) AnnotateSession(ctx context.Context, name, key, value string) error {
	if err := h.granted(manifest.PermSessionsAnnotate); err != nil {
		return err
	}
	full := AnnotationPrefix + h.plugin.Name + "." + key
	if key == "" || len(validation.IsQualifiedName(full)) > 0 {
		return fmt.Errorf("annotation key %q: want letters, digits, '-', '_' or '.', at most %d characters with the plugin's name",
			key, 63-len(h.plugin.Name)-1)
	}
	if len(value) > maxAnnotationValue {
		return fmt.Errorf("annotation value of %d bytes: at most %d", len(value), maxAnnotationValue)
	}
	s, err := h.session(ctx, name)
	if err != nil {
		return err
	}
	own := 0
	for k := range s.Annotations {
		if strings.HasPrefix(k, AnnotationPrefix+h.plugin.Name+".") && k != full {
			own++
		}
	}
	if value != "" && own >= maxPluginAnnotations {
		return fmt.Errorf("session %s already has %d annotations of plugin %s, the most it may set", name, own, h.plugin.Name)
	}
	var v any = value
	if value == "" {
		v = nil // a merge patch's null removes the key
	}
	// resourceVersion: the count above holds for the object patched
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": s.ResourceVersion,
		"annotations": map[string]any{full: v}}})
	if err != nil {
		return err
	}
	return h.hosts.Client.Patch(ctx, s, client.RawPatch(types.MergePatchType, body), client.FieldOwner(FieldManager))
}

// grantedHosts sends a request only to a host the plugin's network:<host>
// permissions grant (the sandbox checks the same; a mistake there must not
// open the network).
type grantedHosts struct {
	next   http.RoundTripper
	plugin string
	grants []string
}

func networkGrants(perms []string) []string {
	var hosts []string
	for _, p := range perms {
		if h, ok := strings.CutPrefix(p, manifest.NetworkPermission("")); ok {
			hosts = append(hosts, strings.ToLower(h))
		}
	}
	return hosts
}

func (g *grantedHosts) RoundTrip(req *http.Request) (*http.Response, error) {
	u := req.URL
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, h := range g.grants {
		if h == net.JoinHostPort(host, port) ||
			(h == host && ((u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80"))) {
			return g.next.RoundTrip(req)
		}
	}
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return nil, fmt.Errorf("plugin %s may not reach %s://%s: no network:<host> permission grants it", g.plugin, u.Scheme, u.Host)
}
