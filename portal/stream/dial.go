package stream

import (
	"context"
	"fmt"
	"net/http"

	"github.com/coder/websocket"
)

// noRedirects is the HTTP client of every request the portal makes to a
// session. A session is untrusted: one that answers 307 Location:
// ws://<another session>:6080/ would otherwise be followed, and its user
// handed another user's desktop (VNC runs without a password inside the pod
// network). The redirect itself comes back as the answer, and is refused.
var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// RedirectError is a session that answered its stream's WebSocket dial with
// a redirect, which the portal never follows.
type RedirectError struct {
	Status   int
	Location string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("the session answered %d (redirect to %q); the portal does not follow a session's redirects", e.Status, e.Location)
}

// dialSession opens the WebSocket of a session's stream at url, offering
// the browser's subprotocols, and never follows a redirect.
func dialSession(ctx context.Context, url string, subprotocols []string) (*websocket.Conn, error) {
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: noRedirects, Subprotocols: subprotocols})
	if err != nil && resp != nil && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, &RedirectError{Status: resp.StatusCode, Location: resp.Header.Get("Location")}
	}
	return conn, err
}
