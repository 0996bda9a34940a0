// Package sdk is what a StreamSpace WebAssembly plugin written in Go
// imports: it implements the plugin ABI (plugins/wasm) so that a plugin is
// a handler function and a few calls.
//
//	package main
//
//	import "github.com/streamspace/streamspace/plugins/sdk"
//
//	func init() { sdk.Handle(handle) } // init: a reactor's main never runs
//
//	func main() {}
//
//	func handle(e sdk.Event) error { … }
//
// built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o plugin.wasm .
//
// Outside a WebAssembly build the package compiles (so `go vet ./...`
// covers plugins) but every host call returns ErrNotWasm.
package sdk

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/streamspace/streamspace/plugins/event"
)

// Event is a platform event (plugins/event.Event): ID, Type, Source,
// Subject (the session's name or the username), Time and Data (JSON).
type Event = event.Event

// The event types.
const (
	SessionCreated    = event.SessionCreated
	SessionStarted    = event.SessionStarted
	SessionStopped    = event.SessionStopped
	SessionHibernated = event.SessionHibernated
	SessionWoken      = event.SessionWoken
	SessionDeleted    = event.SessionDeleted
	UserCreated       = event.UserCreated
	UserUpdated       = event.UserUpdated
	UserDeleted       = event.UserDeleted
	UserLogin         = event.UserLogin
	UserLogout        = event.UserLogout
)

// Handler handles one event. Returning nil says it is delivered; an error
// makes the platform retry the event later, unless it is Permanent.
type Handler func(e Event) error

var handler Handler

// Handle sets the plugin's handler. Call it from init.
func Handle(h Handler) { handler = h }

// ErrNotWasm is what host calls return outside a WebAssembly build.
var ErrNotWasm = errors.New("sdk: host calls work only in a WebAssembly build (GOOS=wasip1)")

type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// Permanent marks err as one that retrying cannot fix (a bad
// configuration, an event the plugin cannot use): the platform records
// the event as failed and goes on to the next.
func Permanent(err error) error { return permanent{err} }

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool { return errors.As(err, new(permanent)) }

// Config decodes the plugin's configuration (JSON, valid against the
// manifest's configSchema) into v.
func Config(v any) error {
	data, err := hostConfig()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return Permanent(fmt.Errorf("configuration: %w", err))
	}
	return nil
}

// Logf writes one line to the platform's log, as the plugin's.
func Logf(format string, args ...any) { hostLog(fmt.Sprintf(format, args...)) }

// Request is an HTTP request. The URL's host must be one the plugin's
// manifest asks for as network:<host> and an admin approved; calling
// another stops the event.
type Request struct {
	Method  string
	URL     string
	Headers map[string][]string
	Body    []byte
}

// Response is an HTTP response (its body at most 1 MiB).
type Response struct {
	Status  int
	Headers map[string][]string
	Body    []byte
}

// Do sends an HTTP request through the platform. Redirects are followed
// only on the same host; the request ends before the event's time limit.
func Do(r Request) (*Response, error) {
	req, err := json.Marshal(struct {
		Method  string              `json:"method"`
		URL     string              `json:"url"`
		Headers map[string][]string `json:"headers,omitempty"`
		Body    string              `json:"body,omitempty"`
	}{r.Method, r.URL, r.Headers, base64.StdEncoding.EncodeToString(r.Body)})
	if err != nil {
		return nil, err
	}
	out, err := hostHTTP(req)
	if err != nil {
		return nil, err
	}
	var resp Response
	var wire struct {
		Status  int                 `json:"status"`
		Headers map[string][]string `json:"headers"`
		Body    []byte              `json:"body"`
	}
	if err := json.Unmarshal(out, &wire); err != nil {
		return nil, fmt.Errorf("http response: %w", err)
	}
	resp.Status, resp.Headers, resp.Body = wire.Status, wire.Headers, wire.Body
	return &resp, nil
}

// PostJSON posts v as JSON to url and fails unless the answer is 2xx.
func PostJSON(url string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return Permanent(err)
	}
	resp, err := Do(Request{Method: "POST", URL: url, Headers: map[string][]string{"Content-Type": {"application/json"}}, Body: body})
	if err != nil {
		return err
	}
	if resp.Status/100 != 2 {
		return fmt.Errorf("POST %s: %d %s", url, resp.Status, truncate(string(resp.Body), 200))
	}
	return nil
}

// HibernateSession hibernates a session (permission sessions:hibernate).
func HibernateSession(name string) error { return hostHibernate(name) }

// AnnotateSession sets an annotation on a session (permission
// sessions:annotate).
func AnnotateSession(name, key, value string) error { return hostAnnotate(name, key, value) }

// dispatch runs the handler on an event's JSON and returns the ABI status
// and, when failing, why.
func dispatch(data []byte) (status uint32, why string) {
	if handler == nil {
		return 2, "the plugin set no handler (call sdk.Handle in init)"
	}
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return 2, "event: " + err.Error()
	}
	switch err := handler(e); {
	case err == nil:
		return 0, ""
	case IsPermanent(err):
		return 2, err.Error()
	default:
		return 1, err.Error()
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
