package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"

	"github.com/coder/websocket"
)

// rfbConn is a minimal RFB 3.8 viewer over VNC-over-WebSocket: just enough
// to ask for framebuffer updates and read them back. The same client reads
// every path, so what differs between them is only the hop in between.
type rfbConn struct {
	ws     *websocket.Conn
	r      *bufio.Reader
	w      io.Writer
	width  uint16
	height uint16
	bpp    int // bytes per pixel
}

// dialRFB opens the WebSocket, does the handshake (security None, shared)
// and asks for Raw only, so a full update is width × height × bpp bytes
// whatever the picture: the volume moved does not depend on its content.
func dialRFB(ctx context.Context, url string, header http.Header) (*rfbConn, error) {
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header, Subprotocols: []string{"binary"}})
	if err != nil {
		return nil, err
	}
	// NetConn reads across WebSocket messages: websockify cuts the RFB
	// stream wherever its recv buffer ends, not at RFB message boundaries.
	nc := websocket.NetConn(ctx, ws, websocket.MessageBinary)
	c := &rfbConn{ws: ws, r: bufio.NewReaderSize(nc, 256<<10), w: nc}
	if err := c.handshake(); err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("RFB handshake: %w", err)
	}
	return c, nil
}

func (c *rfbConn) close() { _ = c.ws.Close(websocket.StatusNormalClosure, "") }

func (c *rfbConn) handshake() error {
	var b [24]byte
	if _, err := io.ReadFull(c.r, b[:12]); err != nil {
		return err
	}
	if string(b[:12]) != "RFB 003.008\n" {
		return fmt.Errorf("server version %q", b[:12])
	}
	if _, err := c.w.Write([]byte("RFB 003.008\n")); err != nil {
		return err
	}
	n, err := c.r.ReadByte()
	if err != nil {
		return err
	}
	types := make([]byte, n)
	if _, err := io.ReadFull(c.r, types); err != nil {
		return err
	}
	if _, err := c.w.Write([]byte{1}); err != nil { // None
		return err
	}
	if _, err := io.ReadFull(c.r, b[:4]); err != nil {
		return err
	}
	if res := binary.BigEndian.Uint32(b[:4]); res != 0 {
		return fmt.Errorf("security result %d (offered %v)", res, types)
	}
	if _, err := c.w.Write([]byte{1}); err != nil { // ClientInit: shared
		return err
	}
	// ServerInit: width, height, 16-byte pixel format, name
	if _, err := io.ReadFull(c.r, b[:24]); err != nil {
		return err
	}
	c.width, c.height = binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4])
	c.bpp = int(b[4]) / 8
	if _, err := c.r.Discard(int(binary.BigEndian.Uint32(b[20:24]))); err != nil {
		return err
	}
	// SetEncodings: Raw only
	_, err = c.w.Write([]byte{2, 0, 0, 1, 0, 0, 0, 0})
	return err
}

// update sends a non-incremental FramebufferUpdateRequest for the
// rectangle and reads the FramebufferUpdate that answers it; it returns
// the bytes that update took on the wire (RFB, not WebSocket framing).
func (c *rfbConn) update(x, y, w, h uint16) (int64, error) {
	req := []byte{3, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(req[2:], x)
	binary.BigEndian.PutUint16(req[4:], y)
	binary.BigEndian.PutUint16(req[6:], w)
	binary.BigEndian.PutUint16(req[8:], h)
	if _, err := c.w.Write(req); err != nil {
		return 0, err
	}
	var b [16]byte
	for {
		typ, err := c.r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch typ {
		case 0: // FramebufferUpdate
		case 2: // Bell
			continue
		case 3: // ServerCutText: the desktop's clipboard, not ours to read
			if _, err := io.ReadFull(c.r, b[:7]); err != nil {
				return 0, err
			}
			if _, err := c.r.Discard(int(binary.BigEndian.Uint32(b[3:7]))); err != nil {
				return 0, err
			}
			continue
		default:
			return 0, fmt.Errorf("server message type %d", typ)
		}
		if _, err := io.ReadFull(c.r, b[:3]); err != nil {
			return 0, err
		}
		total := int64(4)
		for rects := binary.BigEndian.Uint16(b[1:3]); rects > 0; rects-- {
			if _, err := io.ReadFull(c.r, b[:12]); err != nil {
				return 0, err
			}
			rw, rh := int(binary.BigEndian.Uint16(b[4:6])), int(binary.BigEndian.Uint16(b[6:8]))
			if enc := int32(binary.BigEndian.Uint32(b[8:12])); enc != 0 {
				return 0, fmt.Errorf("rectangle encoding %d, asked for Raw only", enc)
			}
			// Discard reads through bufio's buffer: the pixels are counted,
			// not kept, as cheaply on every path
			n, err := c.r.Discard(rw * rh * c.bpp)
			total += 12 + int64(n)
			if err != nil {
				return total, err
			}
		}
		return total, nil
	}
}
