package wasm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/tetratelabs/wazero/api"

	"github.com/streamspace/streamspace/plugins/event"
	"github.com/streamspace/streamspace/plugins/manifest"
)

// The ABI's names and numbers (see the package comment).
const (
	hostModule      = "streamspace"
	exportAlloc     = "streamspace_alloc"
	exportHandle    = "streamspace_handle"
	statusDelivered = 0
	statusRetry     = 1
	statusPermanent = 2
)

// Bounds on what crosses between a plugin and the host.
const (
	// MaxHTTPBody bounds a request's body and a response's body.
	MaxHTTPBody = 1 << 20
	// maxHTTPRequest bounds the request's JSON (the body in base64 plus
	// method, URL and headers).
	maxHTTPRequest = MaxHTTPBody*4/3 + 64<<10
	maxText        = 1 << 10 // a log line, a failure message
	maxName        = 253     // a session's name
	maxAnnotation  = 4 << 10 // an annotation's key or value
	maxRedirects   = 5
	// outputPerEvent bounds what one event may write to stdout and stderr
	// (each) into the portal's log.
	outputPerEvent = 16 << 10
)

// needs names the permission behind each host function that needs one.
// (http_do is always there: each call's host is checked against the
// network:<host> permissions, and with none approved every call stops.)
var needs = map[string]string{
	"session_hibernate": manifest.PermSessionsHibernate,
	"session_annotate":  manifest.PermSessionsAnnotate,
}

// grants is what a plugin's permissions allow.
type grants struct {
	sessionEvents, userEvents, hibernate, annotate bool
	// hosts are the approved network:<host> values, lower case.
	hosts []string
}

func grantsOf(perms []string) grants {
	var g grants
	for _, p := range perms {
		switch {
		case p == manifest.PermSessionEvents:
			g.sessionEvents = true
		case p == manifest.PermUserEvents:
			g.userEvents = true
		case p == manifest.PermSessionsHibernate:
			g.hibernate = true
		case p == manifest.PermSessionsAnnotate:
			g.annotate = true
		case strings.HasPrefix(p, manifest.NetworkPermission("")):
			g.hosts = append(g.hosts, strings.ToLower(strings.TrimPrefix(p, manifest.NetworkPermission(""))))
		}
	}
	return g
}

// allowsEvent says whether the permissions cover an event of this type
// (the dispatcher filters too; this keeps a mistake there from handing a
// plugin personal data it was not granted).
func (g grants) allowsEvent(typ string) error {
	switch {
	case strings.HasPrefix(typ, "session.") && !g.sessionEvents:
		return stop(ErrPermission, "event %s needs the permission %s (not granted)", typ, manifest.PermSessionEvents)
	case strings.HasPrefix(typ, "user.") && !g.userEvents:
		return stop(ErrPermission, "event %s needs the permission %s (not granted)", typ, manifest.PermUserEvents)
	case !strings.HasPrefix(typ, "session.") && !strings.HasPrefix(typ, "user."):
		return stop(ErrPermission, "event type %q is not a platform event", typ)
	}
	return nil
}

// allowsURL says whether u's host is approved: exactly a network:<host>
// value, where a host without a port grants the scheme's default port only.
func (g grants) allowsURL(u *url.URL) bool {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" || (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		if slices.Contains(g.hosts, host) {
			return true
		}
	}
	return port != "" && slices.Contains(g.hosts, net.JoinHostPort(host, port))
}

// call is the state of one call into the module: what host functions
// return to it and what stopped it.
type call struct {
	plugin   *plugin
	in       *instance
	deadline int64 // unix nanoseconds
	result   []byte
	failMsg  string
	halted   *StopError
}

type callKey struct{}

func withCall(ctx context.Context, c *call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

func callOf(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	if c == nil {
		panic("wasm: host function called outside a call")
	}
	return c
}

// halt stops the module: wazero turns the panic into the call's error,
// and stopped reports the reason recorded here.
func (c *call) halt(e *StopError) {
	c.halted = e
	panic(e)
}

func (c *call) failure(fallback string) string {
	if c.failMsg == "" {
		return fallback + " (the plugin said no more)"
	}
	return c.failMsg
}

// reply sets the result of a host call: n >= 0 bytes of data, or -n bytes
// of error message.
func (c *call) reply(stack []uint64, data []byte, err error) {
	if err != nil {
		msg := err.Error()
		if msg == "" {
			msg = "error"
		}
		c.result = []byte(msg)
		stack[0] = api.EncodeI32(-int32(len(c.result)))
		return
	}
	c.result = data
	stack[0] = api.EncodeI32(int32(len(data)))
}

// read copies n bytes at ptr out of the module's memory, stopping the
// module when n is over limit or the range is outside its memory.
func (c *call) read(m api.Module, ptr, n uint32, limit int, what string) []byte {
	if int64(n) > int64(limit) {
		c.halt(stop(ErrBound, "the plugin passed a %s of %d bytes, more than %d", what, n, limit))
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		c.halt(stop(ErrCrashed, "the plugin passed a %s outside its memory", what))
	}
	return bytes.Clone(b)
}

// readText copies at most limit bytes: a log line or a message is cut,
// not refused.
func (c *call) readText(m api.Module, ptr, n uint32, limit int) string {
	return strings.ToValidUTF8(string(c.read(m, ptr, min(n, uint32(limit)), limit, "text")), "?")
}

// copyOut writes data at ptr when it fits in capacity, and returns its
// length either way (the module calls again with a larger buffer).
func (c *call) copyOut(m api.Module, stack []uint64, data []byte) {
	ptr, capacity := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	if uint32(len(data)) <= capacity && !m.Memory().Write(ptr, data) {
		c.halt(stop(ErrCrashed, "the plugin passed a buffer outside its memory"))
	}
	stack[0] = api.EncodeI32(int32(len(data)))
}

type hostFn struct {
	fn              api.GoModuleFunc
	params, results []api.ValueType
}

var (
	i32  = api.ValueTypeI32
	none = []api.ValueType{}
)

// hostFunctions are the functions of the module "streamspace" this
// plugin gets: the basic ones, and those its permissions allow.
func (p *plugin) hostFunctions() map[string]*hostFn {
	fns := map[string]*hostFn{
		"config": {params: []api.ValueType{i32, i32}, results: []api.ValueType{i32}, fn: func(ctx context.Context, m api.Module, stack []uint64) {
			callOf(ctx).copyOut(m, stack, p.config)
		}},
		"result": {params: []api.ValueType{i32, i32}, results: []api.ValueType{i32}, fn: func(ctx context.Context, m api.Module, stack []uint64) {
			c := callOf(ctx)
			c.copyOut(m, stack, c.result)
		}},
		"log": {params: []api.ValueType{i32, i32}, results: none, fn: func(ctx context.Context, m api.Module, stack []uint64) {
			c := callOf(ctx)
			line := c.readText(m, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), maxText)
			if c.in != nil {
				_, _ = c.in.stdout.Write([]byte(line + "\n"))
			}
		}},
		"fail": {params: []api.ValueType{i32, i32}, results: none, fn: func(ctx context.Context, m api.Module, stack []uint64) {
			c := callOf(ctx)
			c.failMsg = c.readText(m, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), maxText)
		}},
	}
	fns["http_do"] = &hostFn{params: []api.ValueType{i32, i32}, results: []api.ValueType{i32}, fn: p.httpDo}
	if p.grants.hibernate {
		fns["session_hibernate"] = &hostFn{params: []api.ValueType{i32, i32}, results: []api.ValueType{i32}, fn: func(ctx context.Context, m api.Module, stack []uint64) {
			c := callOf(ctx)
			name := string(c.read(m, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), maxName, "session name"))
			c.reply(stack, nil, p.hostCall(func(h Host) error { return h.HibernateSession(ctx, name) }))
		}}
	}
	if p.grants.annotate {
		fns["session_annotate"] = &hostFn{params: []api.ValueType{i32, i32, i32, i32, i32, i32}, results: []api.ValueType{i32}, fn: func(ctx context.Context, m api.Module, stack []uint64) {
			c := callOf(ctx)
			name := string(c.read(m, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), maxName, "session name"))
			key := string(c.read(m, api.DecodeU32(stack[2]), api.DecodeU32(stack[3]), maxAnnotation, "annotation key"))
			value := string(c.read(m, api.DecodeU32(stack[4]), api.DecodeU32(stack[5]), maxAnnotation, "annotation value"))
			c.reply(stack, nil, p.hostCall(func(h Host) error { return h.AnnotateSession(ctx, name, key, value) }))
		}}
	}
	return fns
}

func (p *plugin) hostCall(f func(Host) error) error {
	if p.host == nil {
		return errors.New("the platform lent this plugin no host")
	}
	return f(p.host)
}

// HTTPRequest is the JSON a module passes to http_do.
type HTTPRequest struct {
	Method  string              `json:"method"`
	URL     string              `json:"url"`
	Headers map[string][]string `json:"headers,omitempty"`
	Body    []byte              `json:"body,omitempty"`
}

// HTTPResponse is the JSON http_do returns.
type HTTPResponse struct {
	Status  int                 `json:"status"`
	Headers map[string][]string `json:"headers,omitempty"`
	Body    []byte              `json:"body,omitempty"`
}

// httpDo makes a module's HTTP request. Asking for a host that is not
// approved stops the event (the plugin tried to go where it may not);
// a network failure, a redirect elsewhere or a response over its bound is
// returned to the module, which may fail the event for a retry.
func (p *plugin) httpDo(ctx context.Context, m api.Module, stack []uint64) {
	c := callOf(ctx)
	raw := c.read(m, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), maxHTTPRequest, "HTTP request")
	var r HTTPRequest
	if err := json.Unmarshal(raw, &r); err != nil {
		c.reply(stack, nil, fmt.Errorf("http_do: request is not JSON: %w", err))
		return
	}
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		c.reply(stack, nil, fmt.Errorf("http_do: %q is not an absolute http(s) URL", r.URL))
		return
	}
	if u.User != nil {
		c.reply(stack, nil, errors.New("http_do: credentials in a URL are not sent; use a header"))
		return
	}
	if !p.grants.allowsURL(u) {
		approved := strings.Join(p.grants.hosts, ", ")
		if approved == "" {
			approved = "none"
		}
		c.halt(stop(ErrUnapprovedHost, "the plugin called %s://%s, which no approved network:<host> permission grants (approved: %s)",
			u.Scheme, u.Host, approved))
	}
	if len(r.Body) > MaxHTTPBody {
		c.halt(stop(ErrBound, "the plugin sent a request body of %d bytes, more than %d", len(r.Body), MaxHTTPBody))
	}
	resp, err := p.roundTrip(ctx, c, u, r)
	if err != nil {
		c.reply(stack, nil, fmt.Errorf("http_do %s %s: %w", r.Method, u.Redacted(), err))
		return
	}
	out, err := json.Marshal(resp)
	c.reply(stack, out, err)
}

func (p *plugin) roundTrip(ctx context.Context, c *call, u *url.URL, r HTTPRequest) (*HTTPResponse, error) {
	if p.host == nil || p.host.HTTPClient() == nil {
		return nil, errors.New("the platform lent this plugin no HTTP client")
	}
	// A copy: the portal's client keeps its transport (and its own host
	// restriction); redirects are checked here, per plugin.
	client := *p.host.HTTPClient()
	next := client.CheckRedirect
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !strings.EqualFold(req.URL.Host, via[0].URL.Host) || req.URL.Scheme != via[0].URL.Scheme {
			return fmt.Errorf("redirect to %s://%s refused: plugins are not redirected to another host", req.URL.Scheme, req.URL.Host)
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("more than %d redirects", maxRedirects)
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	// The request ends a little before the event's deadline, so the
	// module sees the timeout and can ask for a retry, instead of being
	// stopped at the time limit for a slow service.
	margin := min(p.limits.PerEvent/10, time.Second)
	ctx, cancel := context.WithDeadline(ctx, time.Unix(0, c.deadline).Add(-margin))
	defer cancel()
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(r.Body))
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxHTTPBody+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if len(body) > MaxHTTPBody {
		return nil, fmt.Errorf("response body is more than %d bytes", MaxHTTPBody)
	}
	return &HTTPResponse{Status: resp.StatusCode, Headers: resp.Header, Body: body}, nil
}

// output takes a module's stdout or stderr into the portal's log, line by
// line, at most outputPerEvent bytes an event, and keeps the first bytes
// since the event began (a Go panic or "out of memory" says why it
// stopped there).
type output struct {
	mu      sync.Mutex
	log     logr.Logger
	stream  string
	partial []byte
	first   []byte
	budget  int
	dropped int
}

const headSize = 1 << 10

func newOutput(log logr.Logger, stream string) *output {
	return &output{log: log, stream: stream, budget: outputPerEvent}
}

func (o *output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := len(b)
	if room := headSize - len(o.first); room > 0 {
		o.first = append(o.first, b[:min(len(b), room)]...)
	}
	if len(b) > o.budget {
		o.dropped += len(b) - o.budget
		b = b[:o.budget]
	}
	o.budget -= len(b)
	o.partial = append(o.partial, b...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		o.emit(o.partial[:i])
		o.partial = o.partial[i+1:]
	}
	if len(o.partial) >= maxText {
		o.emit(o.partial)
		o.partial = nil
	}
	return n, nil
}

func (o *output) emit(line []byte) {
	o.log.Info("Plugin output", "stream", o.stream, "line", strings.ToValidUTF8(string(line), "?"))
}

// reset starts an event: flushes the last one's output and renews the
// budget.
func (o *output) reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.partial) > 0 {
		o.emit(o.partial)
		o.partial = nil
	}
	if o.dropped > 0 {
		o.log.Info("Plugin output dropped", "stream", o.stream, "bytes", o.dropped, "limit", outputPerEvent)
	}
	o.first, o.budget, o.dropped = o.first[:0], outputPerEvent, 0
}

func (o *output) head() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.first)
}

func (o *output) firstLine() string { return firstLine(o.head()) }

// said is the first line of output, to append to a reason.
func (o *output) said() string {
	if l := o.firstLine(); l != "" {
		return "; stderr: " + l
	}
	return ""
}

var _ event.Deliverer = (*plugin)(nil)
