package xidle

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// The reporter's wire shape, shared with the controller that asks it.
const (
	// Path is the one route the reporter serves.
	Path = "/idle"
	// DefaultPort is the reporter's port in a session's pod.
	DefaultPort = 9187
)

// Report is the answer to GET /idle.
type Report struct {
	// IdleSeconds since the X server last saw input from a person (key,
	// pointer), with millisecond precision.
	IdleSeconds float64 `json:"idleSeconds"`
	// Display is the X display read, e.g. ":1".
	Display string `json:"display"`
}

// Failure is the answer (503) when the X server cannot be read.
type Failure struct {
	Error string `json:"error"`
}

// Reporter serves GET /idle: read-only, nothing else. One X query at a
// time; each finds the display again, so an X server that restarted (or
// started after the reporter) is found.
type Reporter struct {
	// Display, when set, is the display to read; empty finds it (Locate).
	Display string
	// Xauthority is the cookie file; empty or missing: no auth.
	Xauthority string
	// Timeout bounds one X query; 2s when zero.
	Timeout time.Duration

	mu sync.Mutex
}

func (rp *Reporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "only GET", http.StatusMethodNotAllowed)
		return
	}
	rep, err := rp.read(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(Failure{Error: err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(rep)
}

func (rp *Reporter) read(ctx context.Context) (Report, error) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	timeout := rp.Timeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d, err := Locate(rp.Display)
	if err != nil {
		return Report{}, err
	}
	auth, err := CookieFor(rp.Xauthority, d)
	if err != nil {
		return Report{}, err
	}
	idle, err := Idle(ctx, d, auth)
	if err != nil {
		return Report{}, err
	}
	return Report{IdleSeconds: float64(idle.Milliseconds()) / 1000, Display: d.Name}, nil
}
