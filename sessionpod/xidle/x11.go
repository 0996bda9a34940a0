// Package xidle reads how long ago a person last gave input to an X server
// — the X server's own idle timer, as the MIT-SCREEN-SAVER extension
// reports it (what xprintidle prints) — and serves it over HTTP.
//
// It runs inside a session's pod, beside the app, because that is the one
// place input can be measured when the portal's stream proxy cannot read
// it (Selkies over WebRTC carries input over a data channel; a client may
// reach the pod another way). An open browser tab sends frames but no
// input events, so it does not move this timer.
//
// It speaks just enough of the X11 protocol itself (connection setup,
// QueryExtension, ScreenSaverQueryInfo): the image is one static binary,
// with no libX11. Every length the X server declares is bounded before
// anything is read into memory.
package xidle

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Bounds on what an X server may make us buffer. A real server's setup
// (vendor, pixmap formats, screens with their visuals) is a few KiB; the
// replies we ask for carry nothing beyond their 32 bytes.
const (
	maxSetupBytes = 64 << 10
	maxReplyExtra = 1 << 10
	// We select no events; a server that sends a flood instead of the
	// reply is given up on.
	maxEvents = 256
)

// ErrNoScreenSaver means the X server lacks the MIT-SCREEN-SAVER
// extension, so it cannot tell its idle time.
var ErrNoScreenSaver = errors.New("the X server has no MIT-SCREEN-SAVER extension, so it cannot report its idle time")

// Auth is an X authorization (MIT-MAGIC-COOKIE-1 and its cookie); nil
// connects without one.
type Auth struct {
	Name string
	Data []byte
}

// Idle connects to the display, asks its idle time and closes the
// connection. A connection per question: the X server may restart, and
// the controller asks rarely (at a session's idle deadline).
func Idle(ctx context.Context, d Display, auth *Auth) (time.Duration, error) {
	c, err := dial(ctx, d, auth)
	if err != nil {
		return 0, err
	}
	defer c.conn.Close()
	return c.idle()
}

// client is one X connection, little-endian (we say so in the setup, and
// the server then speaks our byte order).
type client struct {
	conn net.Conn
	root uint32
	seq  uint16
}

var le = binary.LittleEndian

func dial(ctx context.Context, d Display, auth *Auth) (*client, error) {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, d.Network, d.Address)
	if err != nil {
		return nil, fmt.Errorf("connect to X display %s (%s %s): %w", d.Name, d.Network, d.Address, err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	_ = conn.SetDeadline(deadline)
	c := &client{conn: conn}
	if err := c.setup(auth, d.Screen); err != nil {
		conn.Close()
		return nil, fmt.Errorf("X display %s: %w", d.Name, err)
	}
	return c, nil
}

// setup sends the connection setup and keeps the root window of the
// screen asked for.
func (c *client) setup(auth *Auth, screen int) error {
	var name, data []byte
	if auth != nil {
		name, data = []byte(auth.Name), auth.Data
	}
	req := make([]byte, 12, 12+pad4(len(name))+pad4(len(data)))
	req[0] = 'l' // little-endian
	le.PutUint16(req[2:], 11)
	le.PutUint16(req[4:], 0)
	le.PutUint16(req[6:], uint16(len(name)))
	le.PutUint16(req[8:], uint16(len(data)))
	req = append(req, padded(name)...)
	req = append(req, padded(data)...)
	if _, err := c.conn.Write(req); err != nil {
		return fmt.Errorf("send connection setup: %w", err)
	}

	var head [8]byte
	if _, err := io.ReadFull(c.conn, head[:]); err != nil {
		return fmt.Errorf("read connection setup reply: %w", err)
	}
	n := int(le.Uint16(head[6:])) * 4
	if n > maxSetupBytes {
		return fmt.Errorf("the X server declares a %d-byte connection setup, more than the %d bytes a real one needs: refused", n, maxSetupBytes)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.conn, body); err != nil {
		return fmt.Errorf("read connection setup (%d bytes): %w", n, err)
	}
	switch head[0] {
	case 1: // Success
	case 0: // Failed: byte 1 is the reason's length
		return fmt.Errorf("the X server refused the connection: %q (set XAUTHORITY to its cookie file, or run it without access control)", clip(body, int(head[1])))
	case 2: // Authenticate
		return fmt.Errorf("the X server asks for more authentication than MIT-MAGIC-COOKIE-1: %q", clip(body, len(body)))
	default:
		return fmt.Errorf("the X server answered the connection setup with status %d", head[0])
	}

	// Success: 32 fixed bytes (vendor length at 16, screen count at 20,
	// pixmap format count at 21), the vendor, the formats (8 bytes each),
	// then the screens, each starting with its root window.
	if len(body) < 32 {
		return fmt.Errorf("connection setup of %d bytes is too short", len(body))
	}
	vendor, screens, formats := int(le.Uint16(body[16:])), int(body[20]), int(body[21])
	if screen >= screens {
		return fmt.Errorf("screen %d asked for, the X server has %d", screen, screens)
	}
	off := 32 + pad4(vendor) + 8*formats
	for i := 0; ; i++ {
		if off+40 > len(body) {
			return fmt.Errorf("connection setup of %d bytes ends inside screen %d", len(body), i)
		}
		if i == screen {
			c.root = le.Uint32(body[off:])
			return nil
		}
		// A screen is 40 bytes, then its depths: each 8 bytes with a
		// visual count at 2, then 24 bytes per visual.
		depths := int(body[off+39])
		off += 40
		for j := 0; j < depths; j++ {
			if off+8 > len(body) {
				return fmt.Errorf("connection setup ends inside a depth of screen %d", i)
			}
			off += 8 + 24*int(le.Uint16(body[off+2:]))
		}
	}
}

// idle asks for the screen saver extension, then for the time since the
// last input on the root window's screen.
func (c *client) idle() (time.Duration, error) {
	const queryExtension = 98
	ext := []byte("MIT-SCREEN-SAVER")
	req := make([]byte, 8, 8+pad4(len(ext)))
	req[0] = queryExtension
	le.PutUint16(req[2:], uint16((8+pad4(len(ext)))/4))
	le.PutUint16(req[4:], uint16(len(ext)))
	req = append(req, padded(ext)...)
	rep, err := c.roundTrip(req, "QueryExtension")
	if err != nil {
		return 0, err
	}
	if rep[8] == 0 {
		return 0, ErrNoScreenSaver
	}
	major := rep[9]

	// ScreenSaverQueryInfo (minor opcode 1) on the root window; its reply
	// holds the milliseconds since the last user input at byte 16.
	req = make([]byte, 8)
	req[0], req[1] = major, 1
	le.PutUint16(req[2:], 2)
	le.PutUint32(req[4:], c.root)
	rep, err = c.roundTrip(req, "ScreenSaverQueryInfo")
	if err != nil {
		return 0, err
	}
	return time.Duration(le.Uint32(rep[16:])) * time.Millisecond, nil
}

// roundTrip sends one request and returns the 32 bytes of its reply,
// skipping events and refusing an error or a reply longer than bounded.
func (c *client) roundTrip(req []byte, what string) ([]byte, error) {
	c.seq++
	if _, err := c.conn.Write(req); err != nil {
		return nil, fmt.Errorf("send %s: %w", what, err)
	}
	rep := make([]byte, 32)
	for events := 0; ; events++ {
		if events > maxEvents {
			return nil, fmt.Errorf("%s: %d events and no reply", what, events)
		}
		if _, err := io.ReadFull(c.conn, rep); err != nil {
			return nil, fmt.Errorf("read %s reply: %w", what, err)
		}
		switch rep[0] {
		case 0:
			return nil, fmt.Errorf("%s: X error %d", what, rep[1])
		case 1:
			extra := int64(le.Uint32(rep[4:])) * 4
			if extra > maxReplyExtra {
				return nil, fmt.Errorf("%s: the X server declares a reply of %d more bytes, more than the %d this request can have: refused", what, extra, maxReplyExtra)
			}
			if _, err := io.CopyN(io.Discard, c.conn, extra); err != nil {
				return nil, fmt.Errorf("read %s reply: %w", what, err)
			}
			if seq := le.Uint16(rep[2:]); seq != c.seq {
				return nil, fmt.Errorf("%s: reply to request %d, want %d", what, seq, c.seq)
			}
			return rep, nil
		case 35: // GenericEvent: 32 bytes plus its own length
			extra := int64(le.Uint32(rep[4:])) * 4
			if extra > maxReplyExtra {
				return nil, fmt.Errorf("%s: the X server sends an event of %d more bytes: refused", what, extra)
			}
			if _, err := io.CopyN(io.Discard, c.conn, extra); err != nil {
				return nil, err
			}
		default: // an event of 32 bytes: not ours to read
		}
	}
}

func pad4(n int) int { return (n + 3) &^ 3 }

func padded(b []byte) []byte {
	out := make([]byte, pad4(len(b)))
	copy(out, b)
	return out
}

func clip(b []byte, n int) string {
	return string(b[:min(n, len(b))])
}
