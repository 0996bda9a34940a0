package stream

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// byteFilter passes a byte stream, and ends it at the first part that
// begins with stop.
type byteFilter struct{ stop byte }

func (byteFilter) byteStream() {}

func (f byteFilter) filter(out, in []byte, _, _ bool) ([]byte, bool, error) {
	if len(in) > 0 && in[0] == f.stop {
		return out, false, &ProtocolError{Msg: "stop byte"}
	}
	return append(out, in...), false, nil
}

// relayBytes serves a viewer's WebSocket from upstream through pump with f,
// as the proxy's join does, closing with the filter's reason.
func relayBytes(t *testing.T, upstream string, f filter) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		up, err := dialSession(req.Context(), (&Proxy{}).streamHTTPClient(), upstream, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer up.CloseNow()
		up.SetReadLimit(-1)
		down, err := websocket.Accept(w, req, nil)
		if err != nil {
			return
		}
		defer down.CloseNow()
		err = pump(req.Context(), down, up, func(int64) {}, f, nil)
		status, reason, ok := closeOf(err)
		if !ok {
			status = websocket.CloseStatus(err)
		}
		_ = down.Close(status, reason)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
}

// sendAll serves one WebSocket that sends msgs as fast as it can, then
// closes normally.
func sendAll(t *testing.T, msgs [][]byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c, err := websocket.Accept(w, req, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for _, m := range msgs {
			if err := c.Write(req.Context(), websocket.MessageBinary, m); err != nil {
				return
			}
		}
		_ = c.Close(websocket.StatusNormalClosure, "done")
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
}

// readAll reads a viewer's stream to its close.
func readAll(t *testing.T, url string) ([]byte, int, error) {
	t.Helper()
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(-1)
	var got []byte
	messages := 0
	for {
		_, m, err := c.Read(ctx)
		if err != nil {
			return got, messages, err
		}
		if len(m) > maxBatch+pumpBuffer {
			t.Fatalf("a message of %d bytes: more than a batch holds", len(m))
		}
		got = append(got, m...)
		messages++
	}
}

func randomMessages(n int, stop byte) ([][]byte, []byte) {
	var msgs [][]byte
	var all []byte
	for range n {
		m := make([]byte, 1+rand.IntN(300<<10)) // some over pumpBuffer: read in parts
		for i := range m {
			m[i] = byte(rand.IntN(255))
			if m[i] == stop {
				m[i]++
			}
		}
		msgs = append(msgs, m)
		all = append(all, m...)
	}
	return msgs, all
}

// A byte stream goes through a batch whole and in order, however it is cut,
// and the upstream's close comes after the last of it.
func TestBatchKeepsTheStream(t *testing.T) {
	msgs, all := randomMessages(60, 0xFF)
	got, messages, err := readAll(t, relayBytes(t, sendAll(t, msgs), byteFilter{stop: 0xFF}))
	if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("closed with %v, want the upstream's normal closure", err)
	}
	if !bytes.Equal(got, all) {
		t.Fatalf("got %d bytes, want the %d sent, in order", len(got), len(all))
	}
	t.Logf("%d messages sent, %d received", len(msgs), messages)
}

// What a filter refuses ends the stream with its reason after what passed
// before it, and nothing of the refused part passes.
func TestBatchFilterErrorEndsAfterWhatPassed(t *testing.T) {
	msgs, all := randomMessages(20, 0xFF)
	cut := len(all)
	msgs = append(msgs, []byte{0xFF, 1, 2, 3}, []byte("never"))
	got, _, err := readAll(t, relayBytes(t, sendAll(t, msgs), byteFilter{stop: 0xFF}))
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || !strings.Contains(ce.Reason, "stop byte") {
		t.Fatalf("closed with %v, want a policy violation naming the stop byte", err)
	}
	if !bytes.Equal(got, all[:cut]) {
		t.Fatalf("got %d bytes, want the %d before the refused part", len(got), cut)
	}
}
