package stream

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync"
)

// The RFB (VNC) filters follow both directions of a stream byte by byte,
// whatever WebSocket frames the bytes come in (websockify cuts the stream
// where its buffer ends, not where a message does), and for every message:
//   - bound its length before holding any of it: a message is framed from a
//     small head (never more than maxHead bytes); its body is passed or
//     dropped as it streams by, and only an extended-clipboard provide (at
//     most Policy.MaxClipboard) is held whole, to bound what it inflates to;
//   - apply the data policy: clipboard messages the policy refuses are
//     dropped whole and the rest of the stream goes on, framing intact;
//   - tell user input (key, pointer, clipboard in) from a viewer's own
//     traffic (update requests), which must not keep a session awake.
//
// Anything the filter cannot frame ends the stream (ProtocolError) rather
// than pass unread: past an unknown message the proxy could no longer bound
// lengths nor enforce the policy, and a client could hide a 4 GiB paste
// behind one unknown byte. Standard clients never send one; to make sure the
// server does not either, the client's SetEncodings is cut down to the
// encodings the server filter can frame.

// maxHead bounds the head the filters collect for one unit (a message, a
// rectangle or a tile header): the largest is a SetEncodings of
// maxEncodings.
const (
	maxEncodings = 1024
	maxHead      = 4 + 4*maxEncodings
	// maxName bounds the desktop name (ServerInit, DesktopName): servers
	// send a host name.
	maxName = 64 << 10
	// maxRelay bounds KasmVNC's UnixRelay payload, as KasmVNC itself does.
	maxRelay = 1 << 20
)

// rfbDialect is the set of client messages a session's server understands.
type rfbDialect int

const (
	// dialectRFB is RFB 3.8 with the extensions noVNC and TigerVNC use.
	dialectRFB rfbDialect = iota
	// dialectKasmVNC is KasmVNC's RFB: a 11-byte PointerEvent (16-bit
	// button mask and scroll deltas) and its own messages 178–191 and 252
	// (common/rfb/msgTypes.h, SMsgReader.cxx in KasmVNC).
	dialectKasmVNC
)

// verdict is what happens to a unit of the stream.
type verdict uint8

const (
	pass verdict = iota
	drop
	hold // gathered whole (bounded by the caller), checked, then passed
)

// unit is what a parse function made of the head collected so far. While
// len(head) < need the framer collects more; once the head is complete the
// parse function has moved its state on and the framer applies the rest.
type unit struct {
	need    int
	body    int64
	verdict verdict
	input   bool
	// rewrite replaces the head when it passes.
	rewrite []byte
	// check runs over a held unit (head and body) before it passes.
	check func([]byte) error
}

// framer is the engine both directions share.
type framer struct {
	parse func(head []byte) (unit, error)

	head    []byte
	body    int64
	verdict verdict
	held    []byte
	check   func([]byte) error
}

// run appends to out what of in may pass, and reports whether in completed
// a unit of user input.
func (f *framer) run(out, in []byte) ([]byte, bool, error) {
	input := false
	for {
		if f.body > 0 {
			if len(in) == 0 {
				return out, input, nil
			}
			n := int(min(f.body, int64(len(in))))
			switch f.verdict {
			case pass:
				out = append(out, in[:n]...)
			case hold:
				f.held = append(f.held, in[:n]...)
			}
			f.body -= int64(n)
			in = in[n:]
			if f.body == 0 && f.verdict == hold {
				var err error
				if out, err = f.release(out); err != nil {
					return out, input, err
				}
			}
			continue
		}
		u, err := f.parse(f.head)
		if err != nil {
			return out, input, err
		}
		if u.need > maxHead {
			return out, input, &ProtocolError{Msg: fmt.Sprintf("RFB message head of %d bytes is over the proxy's %d", u.need, maxHead)}
		}
		if len(f.head) < u.need {
			if len(in) == 0 {
				return out, input, nil
			}
			n := min(u.need-len(f.head), len(in))
			f.head = append(f.head, in[:n]...)
			in = in[n:]
			continue
		}
		head := f.head
		if u.rewrite != nil {
			head = u.rewrite
		}
		switch u.verdict {
		case pass:
			out = append(out, head...)
		case hold:
			f.held = append(f.held[:0], head...)
		}
		input = input || u.input
		f.verdict, f.body, f.check = u.verdict, u.body, u.check
		f.head = f.head[:0]
		if u.body == 0 && u.verdict == hold {
			if out, err = f.release(out); err != nil {
				return out, input, err
			}
		}
	}
}

func (f *framer) release(out []byte) ([]byte, error) {
	if f.check != nil {
		if err := f.check(f.held); err != nil {
			return out, err
		}
	}
	out = append(out, f.held...)
	f.held = f.held[:0]
	if cap(f.held) > 64<<10 { // do not keep a large paste's buffer for the life of the stream
		f.held = nil
	}
	return out, nil
}

// pixelFormat is the part of an RFB pixel format that sizes pixel data.
type pixelFormat struct {
	bpp, depth             uint8
	trueColour             bool
	redMax, greenMax, blue uint16
}

func readPixelFormat(b []byte) pixelFormat {
	return pixelFormat{bpp: b[0], depth: b[1], trueColour: b[3] != 0,
		redMax: binary.BigEndian.Uint16(b[4:6]), greenMax: binary.BigEndian.Uint16(b[6:8]), blue: binary.BigEndian.Uint16(b[8:10])}
}

func (pf pixelFormat) bytes() int64 { return int64(pf.bpp) / 8 }

// tpixel is the size of a Tight pixel: 3 bytes for 24-bit colour in 32 bits.
func (pf pixelFormat) tpixel() int64 {
	if pf.trueColour && pf.bpp == 32 && pf.depth == 24 && pf.redMax == 255 && pf.greenMax == 255 && pf.blue == 255 {
		return 3
	}
	return pf.bytes()
}

// rfbShared is what the two directions of one stream learn from each
// other: the server filter sizes pixels with the format the client set, and
// reads the security exchange the client chose.
type rfbShared struct {
	mu        sync.Mutex
	minor     int  // protocol version the client chose: 7 or 8
	security  byte // security type the client chose
	pf        pixelFormat
	requested bool // a FramebufferUpdateRequest went to the server
}

// newRFBFilters are the two filters of one RFB stream: from the browser to
// the session and back. For KasmVNC the server side is not framed:
// KasmVNC's updates carry its own encodings, so server message lengths are
// KasmVNC's own business there, and so would clipboard out be — which the
// portal then cannot promise: a template that forbids it gets no KasmVNC
// stream at all (kasmClipboardOutRefused), never one that leaks.
func newRFBFilters(d rfbDialect, p Policy, r *refusals) (toSession, toBrowser filter) {
	s := &rfbShared{}
	c := &rfbClient{s: s, dialect: d, policy: p, refusals: r}
	c.parse = c.next
	if d == dialectKasmVNC {
		if !p.ClipboardOut {
			return c, kasmClipboardOutRefused{}
		}
		return c, nil
	}
	v := &rfbServer{s: s, policy: p, refusals: r}
	v.parse = v.next
	return c, v
}

// rfbClient frames the browser's side of an RFB stream.
type rfbClient struct {
	framer
	s        *rfbShared
	dialect  rfbDialect
	policy   Policy
	refusals *refusals

	stage int // 0 version, 1 security type, 2 VNC auth response, 3 ClientInit, 4 messages
	// items and itemVerdict frame the entries of a KasmVNC BinaryClipboard.
	items       int
	itemVerdict verdict
	itemTotal   int64
}

func (c *rfbClient) filter(out, in []byte, _, _ bool) ([]byte, bool, error) { return c.run(out, in) }

func (c *rfbClient) next(h []byte) (unit, error) {
	switch c.stage {
	case 0:
		if len(h) < 12 {
			return unit{need: 12}, nil
		}
		minor, err := rfbVersion(h)
		if err != nil {
			return unit{}, err
		}
		c.s.mu.Lock()
		c.s.minor = minor
		c.s.mu.Unlock()
		c.stage = 1
		return unit{need: 12}, nil
	case 1:
		if len(h) < 1 {
			return unit{need: 1}, nil
		}
		switch h[0] {
		case 1: // None
			c.stage = 3
		case 2: // VNC authentication
			c.stage = 2
		default:
			return unit{}, &ProtocolError{Msg: fmt.Sprintf("RFB security type %d is not one the proxy can read through", h[0])}
		}
		c.s.mu.Lock()
		c.s.security = h[0]
		c.s.mu.Unlock()
		return unit{need: 1}, nil
	case 2:
		if len(h) < 16 {
			return unit{need: 16}, nil
		}
		c.stage = 3
		return unit{need: 16}, nil
	case 3:
		if len(h) < 1 {
			return unit{need: 1}, nil
		}
		c.stage = 4
		return unit{need: 1}, nil
	}
	if c.items > 0 {
		return c.binaryClipboardItem(h)
	}
	if len(h) < 1 {
		return unit{need: 1}, nil
	}
	fixed := func(n int, input bool) (unit, error) { return unit{need: n, input: input}, nil }
	switch h[0] {
	case 0: // SetPixelFormat
		if len(h) < 20 {
			return unit{need: 20}, nil
		}
		c.s.mu.Lock()
		defer c.s.mu.Unlock()
		if c.s.requested && c.dialect == dialectRFB {
			// updates already asked for may come in either format: the
			// server filter could no longer tell how long they are
			return unit{}, &ProtocolError{Msg: "RFB SetPixelFormat after the first update request is not supported by the proxy"}
		}
		c.s.pf = readPixelFormat(h[4:20])
		return unit{need: 20}, nil
	case 2: // SetEncodings
		if len(h) < 4 {
			return unit{need: 4}, nil
		}
		n := int(binary.BigEndian.Uint16(h[2:4]))
		if n > maxEncodings {
			return unit{}, &LimitError{What: "RFB SetEncodings list", Declared: int64(n), Limit: maxEncodings}
		}
		if len(h) < 4+4*n {
			return unit{need: 4 + 4*n}, nil
		}
		u := unit{need: 4 + 4*n}
		if c.dialect == dialectRFB {
			u.rewrite = framableEncodings(h)
		}
		return u, nil
	case 3: // FramebufferUpdateRequest
		if len(h) >= 10 {
			c.s.mu.Lock()
			c.s.requested = true
			c.s.mu.Unlock()
		}
		return fixed(10, false)
	case 4: // KeyEvent
		return fixed(8, true)
	case 5: // PointerEvent
		if c.dialect == dialectKasmVNC {
			return fixed(11, true)
		}
		return fixed(6, true)
	case 6: // ClientCutText
		return cutText(h, "RFB ClientCutText", DirectionIn, c.policy, c.refusals)
	case 150: // EnableContinuousUpdates
		return fixed(10, false)
	case 248: // ClientFence
		if len(h) < 9 {
			return unit{need: 9}, nil
		}
		return unit{need: 9, body: int64(h[8])}, nil
	case 251: // SetDesktopSize
		if len(h) < 8 {
			return unit{need: 8}, nil
		}
		return unit{need: 8, body: 16 * int64(h[6])}, nil
	case 255: // QEMU client message: only the extended key event is known
		if len(h) < 2 {
			return unit{need: 2}, nil
		}
		if h[1] != 0 {
			return unit{}, &ProtocolError{Msg: fmt.Sprintf("RFB QEMU client message subtype %d is unknown to the proxy", h[1])}
		}
		return fixed(12, true)
	}
	if c.dialect == dialectRFB && h[0] == 250 { // xvp
		return fixed(4, false)
	}
	if c.dialect == dialectKasmVNC {
		switch h[0] {
		case 178, 190, 191: // RequestStats, NetworkStats, SystemStats
			return fixed(4, false)
		case 179: // FrameStats
			return fixed(12, false)
		case 180: // BinaryClipboard: a count, then (mime, length, data) entries
			if len(h) < 2 {
				return unit{need: 2}, nil
			}
			c.items, c.itemTotal, c.itemVerdict = int(h[1]), 0, c.allow(DirectionIn)
			return unit{need: 2, verdict: c.itemVerdict, input: true}, nil
		case 181: // UpgradeToUdp
			if len(h) < 3 {
				return unit{need: 3}, nil
			}
			return unit{need: 3, body: int64(binary.BigEndian.Uint16(h[1:3]))}, nil
		case 182: // SubscribeUnixRelay
			if len(h) < 2 {
				return unit{need: 2}, nil
			}
			return unit{need: 2, body: int64(h[1])}, nil
		case 183: // UnixRelay: name, then a 32-bit length
			need, n, ok := lengthAfterName(h, 1)
			if !ok {
				return unit{need: need}, nil
			}
			if n > maxRelay {
				return unit{}, &LimitError{What: "KasmVNC UnixRelay", Declared: n, Limit: maxRelay}
			}
			return unit{need: need, body: n}, nil
		case 184: // VideoEncoders
			if len(h) < 2 {
				return unit{need: 2}, nil
			}
			return unit{need: 2, body: 4 * int64(h[1])}, nil
		case 185: // KeepAlive
			return fixed(1, false)
		case 188: // DirectMouseEvent
			return fixed(10, true)
		case 189: // LatencyMeasurement
			return fixed(8, false)
		case 252: // SetMaxVideoResolution
			return fixed(5, false)
		}
	}
	return unit{}, &ProtocolError{Msg: fmt.Sprintf("RFB client message type %d is unknown to the proxy", h[0])}
}

// allow is the verdict on a clipboard transfer in direction d, counting a
// refusal.
func (c *rfbClient) allow(d Direction) verdict { return allowClipboard(d, c.policy, c.refusals) }

func allowClipboard(d Direction, p Policy, r *refusals) verdict {
	if p.allows(d, KindClipboard) {
		return pass
	}
	r.refuse(Refusal{Direction: d, Kind: KindClipboard})
	return drop
}

// binaryClipboardItem frames one entry of a KasmVNC BinaryClipboard: mime
// length, mime, 32-bit data length, data.
func (c *rfbClient) binaryClipboardItem(h []byte) (unit, error) {
	need, n, ok := lengthAfterName(h, 0)
	if !ok {
		return unit{need: need}, nil
	}
	c.itemTotal += n
	if c.itemTotal > c.policy.MaxClipboard {
		return unit{}, &LimitError{What: "KasmVNC BinaryClipboard", Declared: c.itemTotal, Limit: c.policy.MaxClipboard}
	}
	c.items--
	return unit{need: need, body: n, verdict: c.itemVerdict}, nil
}

// lengthAfterName frames, at h[at:], a name (a one-byte length, then the
// name) and a 32-bit length: it returns the head's length and, once the head
// is all there, that 32-bit length.
func lengthAfterName(h []byte, at int) (need int, n int64, ok bool) {
	if len(h) < at+1 {
		return at + 1, 0, false
	}
	need = at + 1 + int(h[at]) + 4
	if len(h) < need {
		return need, 0, false
	}
	return need, int64(binary.BigEndian.Uint32(h[need-4 : need])), true
}

// cutText frames a ClientCutText or ServerCutText (same layout): a length
// that is negative for the extended clipboard (pseudo-encoding 0xC0A1E5CE),
// whose payload starts with flags saying which action it is.
func cutText(h []byte, what string, d Direction, p Policy, r *refusals) (unit, error) {
	if len(h) < 8 {
		return unit{need: 8}, nil
	}
	n := int64(int32(binary.BigEndian.Uint32(h[4:8])))
	if n >= 0 {
		if n > p.MaxClipboard {
			return unit{}, &LimitError{What: what, Declared: n, Limit: p.MaxClipboard}
		}
		return unit{need: 8, body: n, verdict: allowClipboard(d, p, r), input: d == DirectionIn}, nil
	}
	n = -n
	if n > p.MaxClipboard {
		return unit{}, &LimitError{What: what + " (extended clipboard)", Declared: n, Limit: p.MaxClipboard}
	}
	if n < 4 {
		return unit{}, &ProtocolError{Msg: fmt.Sprintf("%s: extended clipboard payload of %d bytes has no flags", what, n)}
	}
	if len(h) < 12 {
		return unit{need: 12}, nil
	}
	// In a caps message the action bits say which actions the sender
	// supports (TigerVNC's first ServerCutText sets provide among them), so
	// caps is told apart first.
	const caps, provide = 1 << 24, 1 << 28
	if flags := binary.BigEndian.Uint32(h[8:12]); flags&caps != 0 || flags&provide == 0 {
		// caps, request, peek, notify: which formats exist, never their content
		return unit{need: 12, body: n - 4}, nil
	}
	v := allowClipboard(d, p, r)
	if v == drop {
		return unit{need: 12, body: n - 4, verdict: drop, input: d == DirectionIn}, nil
	}
	// the content is zlib-compressed: a 1 MiB message may inflate to
	// gigabytes in the receiver, so it is held (at most MaxClipboard) and
	// inflated here, bounded, before it passes
	return unit{need: 12, body: n - 4, verdict: hold, input: d == DirectionIn, check: func(msg []byte) error {
		zr, err := zlib.NewReader(bytes.NewReader(msg[12:]))
		if err != nil {
			return &ProtocolError{Msg: what + ": extended clipboard content is not zlib"}
		}
		inflated, err := io.Copy(io.Discard, io.LimitReader(zr, p.MaxClipboard+1))
		if inflated > p.MaxClipboard {
			return &LimitError{What: what + " (extended clipboard, inflated)", Declared: inflated, Limit: p.MaxClipboard}
		}
		if err != nil {
			return &ProtocolError{Msg: what + ": extended clipboard content does not inflate"}
		}
		return nil
	}}, nil
}

func rfbVersion(h []byte) (int, error) {
	switch string(h[:12]) {
	case "RFB 003.008\n":
		return 8, nil
	case "RFB 003.007\n":
		return 7, nil
	}
	return 0, &ProtocolError{Msg: fmt.Sprintf("RFB version %q is not one the proxy can read through (3.7, 3.8)", bytes.TrimSpace(h[:12]))}
}

// RFB encodings the server filter can frame (rfbproto: encodings and
// pseudo-encodings). Those left out change the length of messages in ways
// the filter does not follow (JPEG, H.264, the VMware and alpha cursors, the
// extended mouse buttons' longer PointerEvent, QEMU audio).
var framable = []int32{
	0, 1, 2, 5, 6, 7, 16, -260, // Raw, CopyRect, RRE, Hextile, Zlib, Tight, ZRLE, TightPNG
	-223, -224, -239, -240, -258, -261, // DesktopSize, LastRect, Cursor, XCursor, QEMU extended key, QEMU LED state
	-307, -308, -309, -312, -313, // DesktopName, ExtendedDesktopSize, xvp, Fence, ContinuousUpdates
	-1063131698, 0x574d5668, // extended clipboard (0xC0A1E5CE), VMware LED state
}

func isFramable(e int32) bool {
	switch {
	case e >= -32 && e <= -23, // quality level
		e >= -256 && e <= -247, // compression level
		e >= -512 && e <= -412, // fine quality level
		e >= -768 && e <= -763: // subsampling level
		return true // the client's preferences: the server sends nothing for them
	}
	return slices.Contains(framable, e)
}

// framableEncodings is a SetEncodings message with only the encodings the
// server filter can frame, in the client's order.
func framableEncodings(h []byte) []byte {
	out := append([]byte(nil), h[:4]...)
	for i := 4; i+4 <= len(h); i += 4 {
		if isFramable(int32(binary.BigEndian.Uint32(h[i : i+4]))) {
			out = append(out, h[i:i+4]...)
		}
	}
	binary.BigEndian.PutUint16(out[2:4], uint16((len(out)-4)/4))
	return out
}

// kasmClipboardOutRefused ends a KasmVNC stream at the session's first
// byte, saying why: the proxy does not read KasmVNC's server messages, so
// it cannot drop the clipboard a template's clipboardOut: false forbids.
type kasmClipboardOutRefused struct{}

func (kasmClipboardOutRefused) filter(_, _ []byte, _, _ bool) ([]byte, bool, error) {
	return nil, false, &ProtocolError{Msg: "the template forbids clipboard out, which the portal cannot enforce on KasmVNC streams"}
}
