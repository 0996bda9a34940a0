package vnctest

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"

	"github.com/coder/websocket"
)

// Viewer is a minimal RFB 3.8 client over VNC-over-WebSocket, as noVNC
// is: security None, shared, Raw encoding, 32-bit pixels.
type Viewer struct {
	WS            *websocket.Conn
	Width, Height int
	// CutText is the text of every ServerCutText (the session's clipboard)
	// read so far.
	CutText []string
	r       *bufio.Reader
	w       io.Writer
	bpp     int
}

// Dial opens url (with header, e.g. the Authorization) and does the
// handshake.
func Dial(ctx context.Context, url string, header http.Header) (*Viewer, error) {
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header, Subprotocols: []string{"binary"}})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(-1)
	// websockify cuts the RFB stream wherever its buffer ends, not at RFB
	// message boundaries: read it as one byte stream
	nc := websocket.NetConn(context.WithoutCancel(ctx), ws, websocket.MessageBinary)
	v := &Viewer{WS: ws, r: bufio.NewReaderSize(nc, 256<<10), w: nc}
	if err := v.handshake(); err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("RFB handshake: %w", err)
	}
	return v, nil
}

// Close ends the connection normally.
func (v *Viewer) Close() { _ = v.WS.Close(websocket.StatusNormalClosure, "") }

func (v *Viewer) handshake() error {
	var b [24]byte
	if _, err := io.ReadFull(v.r, b[:12]); err != nil {
		return err
	}
	if string(b[:12]) != "RFB 003.008\n" {
		return fmt.Errorf("server version %q", b[:12])
	}
	if _, err := v.w.Write([]byte("RFB 003.008\n")); err != nil {
		return err
	}
	n, err := v.r.ReadByte()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("the server refused the connection")
	}
	types := make([]byte, n)
	if _, err := io.ReadFull(v.r, types); err != nil {
		return err
	}
	if _, err := v.w.Write([]byte{1}); err != nil { // security None
		return err
	}
	if _, err := io.ReadFull(v.r, b[:4]); err != nil {
		return err
	}
	if res := binary.BigEndian.Uint32(b[:4]); res != 0 {
		return fmt.Errorf("security result %d (offered %v)", res, types)
	}
	if _, err := v.w.Write([]byte{1}); err != nil { // ClientInit: shared
		return err
	}
	if _, err := io.ReadFull(v.r, b[:24]); err != nil { // ServerInit
		return err
	}
	v.Width, v.Height = int(binary.BigEndian.Uint16(b[0:2])), int(binary.BigEndian.Uint16(b[2:4]))
	v.bpp = int(b[4]) / 8
	nameLen := binary.BigEndian.Uint32(b[20:24])
	if _, err := io.CopyN(io.Discard, v.r, int64(nameLen)); err != nil {
		return err
	}
	// SetEncodings: Raw only
	_, err = v.w.Write([]byte{2, 0, 0, 1, 0, 0, 0, 0})
	return err
}

// Frame is what a framebuffer update held.
type Frame struct {
	Rects  int
	Bytes  int
	Colors int // distinct pixel values: 1 means a blank (e.g. black) screen
}

// FullFrame asks for the whole screen and reads the update.
func (v *Viewer) FullFrame() (Frame, error) {
	req := []byte{3, 0, 0, 0, 0, 0, byte(v.Width >> 8), byte(v.Width), byte(v.Height >> 8), byte(v.Height)}
	if _, err := v.w.Write(req); err != nil {
		return Frame{}, err
	}
	for {
		typ, err := v.r.ReadByte()
		if err != nil {
			return Frame{}, err
		}
		switch typ {
		case 0: // FramebufferUpdate
			return v.readUpdate()
		case 2: // Bell
		case 3: // ServerCutText
			var h [7]byte
			if _, err := io.ReadFull(v.r, h[:]); err != nil {
				return Frame{}, err
			}
			text := make([]byte, binary.BigEndian.Uint32(h[3:7]))
			if _, err := io.ReadFull(v.r, text); err != nil {
				return Frame{}, err
			}
			v.CutText = append(v.CutText, string(text))
		default:
			return Frame{}, fmt.Errorf("unexpected server message %d", typ)
		}
	}
}

func (v *Viewer) readUpdate() (Frame, error) {
	var h [3]byte
	if _, err := io.ReadFull(v.r, h[:]); err != nil {
		return Frame{}, err
	}
	f := Frame{Rects: int(binary.BigEndian.Uint16(h[1:3]))}
	colors := map[string]bool{}
	px := make([]byte, v.bpp)
	for i := 0; i < f.Rects; i++ {
		var rh [12]byte
		if _, err := io.ReadFull(v.r, rh[:]); err != nil {
			return f, err
		}
		w, hh := int(binary.BigEndian.Uint16(rh[4:6])), int(binary.BigEndian.Uint16(rh[6:8]))
		if enc := int32(binary.BigEndian.Uint32(rh[8:12])); enc != 0 {
			return f, fmt.Errorf("rectangle encoding %d, asked for Raw", enc)
		}
		for p := 0; p < w*hh; p++ {
			if _, err := io.ReadFull(v.r, px); err != nil {
				return f, err
			}
			if len(colors) < 1000 {
				colors[string(px)] = true
			}
		}
		f.Bytes += w * hh * v.bpp
	}
	f.Colors = len(colors)
	return f, nil
}

// Key presses and releases one key (an X keysym): user input, which the
// portal counts as activity.
func (v *Viewer) Key(keysym uint32) error {
	for _, down := range []byte{1, 0} {
		msg := []byte{4, down, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(msg[4:], keysym)
		if _, err := v.w.Write(msg); err != nil {
			return err
		}
	}
	return nil
}

// Pointer moves the pointer to x, y with buttons (a mask, 1 = left)
// held: user input, like Key.
func (v *Viewer) Pointer(x, y uint16, buttons byte) error {
	msg := []byte{5, buttons, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(msg[2:], x)
	binary.BigEndian.PutUint16(msg[4:], y)
	_, err := v.w.Write(msg)
	return err
}
