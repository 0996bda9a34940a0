package stream

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/coder/websocket"
)

// httpClient makes every request of the portal to a session, through
// Dial. It never follows a redirect: a session is untrusted, and one that
// answers 307 Location: ws://<another session>:6080/ would otherwise be
// followed, and its user handed another user's desktop (VNC runs without a
// password inside the pod network). The redirect itself comes back as the
// answer, and is refused.
func (p *Proxy) httpClient() *http.Client {
	p.clientOnce.Do(func() {
		noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if p.Dial != nil {
			tr.DialContext = p.Dial
		}
		// a session is dialled at the address checked, never through an
		// HTTP proxy the portal's environment names
		tr.Proxy = nil
		p.client = &http.Client{Transport: tr, CheckRedirect: noRedirect}
		// streams dial through a transport of their own, whose connections
		// read in large parts (bufferedConn)
		st := tr.Clone()
		dial := tr.DialContext
		st.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, upstreamReadBuffer)}, nil
		}
		p.streamClient = &http.Client{Transport: st, CheckRedirect: noRedirect}
	})
	return p.client
}

// streamHTTPClient dials the WebSockets of streams (httpClient's settings,
// bufferedConn's reads).
func (p *Proxy) streamHTTPClient() *http.Client {
	p.httpClient()
	return p.streamClient
}

// upstreamReadBuffer is how much a stream's connection to its session reads
// at once. The WebSocket library reads a frame's header through a 4 KiB
// buffer and then its payload: from the socket, that is two or three system
// calls per websockify message (64 KiB at most); through this buffer, one
// read takes whatever messages have arrived, several at once when the
// portal fell behind.
const upstreamReadBuffer = 256 << 10

// bufferedConn reads its connection through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

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
func dialSession(ctx context.Context, hc *http.Client, url string, subprotocols []string) (*websocket.Conn, error) {
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc, Subprotocols: subprotocols})
	if err != nil && resp != nil && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, &RedirectError{Status: resp.StatusCode, Location: resp.Header.Get("Location")}
	}
	return conn, err
}
