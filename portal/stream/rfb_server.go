package stream

import (
	"encoding/binary"
	"fmt"
)

// rfbServer frames the session's side of an RFB stream: the handshake, then
// server messages down to each rectangle of each framebuffer update, so
// that a ServerCutText is found (and bounded, and dropped when the policy
// says so) wherever it falls between updates. Pixel data is never held: a
// rectangle's body streams through as it comes.
type rfbServer struct {
	framer
	s        *rfbShared
	policy   Policy
	refusals *refusals

	stage int // 0 version, 1 security types, 2 security exchange, 3 ServerInit, 4 messages, 5 refused (the server closes)

	rects     int  // rectangles left in the current update
	untilLast bool // the update counts its rectangles with a LastRect
	// the rectangle being read, when its body comes in parts
	rect      func(h []byte) (unit, error)
	w, h      int64
	tileX     int64 // Hextile: the next tile
	tileY     int64
	tightCtrl byte
}

// byteStream: RFB from the server is one stream, cut anywhere (batch).
func (v *rfbServer) byteStream() {}

func (v *rfbServer) filter(out, in []byte, _, _ bool) ([]byte, bool, error) {
	out, _, err := v.run(out, in)
	return out, false, err // nothing from the session is user input
}

func (v *rfbServer) shared() (minor int, security byte, pf pixelFormat) {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	return v.s.minor, v.s.security, v.s.pf
}

func (v *rfbServer) next(h []byte) (unit, error) {
	switch v.stage {
	case 0:
		if len(h) < 12 {
			return unit{need: 12}, nil
		}
		v.stage = 1
		return unit{need: 12}, nil
	case 1: // the security types offered (3.7, 3.8), or none and a reason
		if len(h) < 1 {
			return unit{need: 1}, nil
		}
		if h[0] == 0 {
			return v.failure(h, 1)
		}
		if len(h) < 1+int(h[0]) {
			return unit{need: 1 + int(h[0])}, nil
		}
		v.stage = 2
		return unit{need: 1 + int(h[0])}, nil
	case 2:
		if len(h) < 1 { // the client's choice is known once the server answers it
			return unit{need: 1}, nil
		}
		minor, security, _ := v.shared()
		need := 0
		switch {
		case security == 2: // the challenge, then the result
			need = 16 + 4
		case security == 1 && minor >= 8:
			need = 4
		case security == 1: // 3.7 sends no result for None: this is ServerInit
			v.stage = 3
			return v.next(h)
		default:
			return unit{}, &ProtocolError{Msg: "RFB server spoke before the client chose a security type"}
		}
		if len(h) < need {
			return unit{need: need}, nil
		}
		if binary.BigEndian.Uint32(h[need-4:need]) != 0 {
			if minor >= 8 {
				return v.failure(h, need)
			}
			v.stage = 5
			return unit{need: need}, nil
		}
		v.stage = 3
		return unit{need: need}, nil
	case 3: // ServerInit
		if len(h) < 24 {
			return unit{need: 24}, nil
		}
		v.s.mu.Lock()
		v.s.pf = readPixelFormat(h[4:20])
		v.s.mu.Unlock()
		n := int64(binary.BigEndian.Uint32(h[20:24]))
		if n > maxName {
			return unit{}, &LimitError{What: "RFB desktop name", Declared: n, Limit: maxName}
		}
		v.stage = 4
		return unit{need: 24, body: n}, nil
	case 5:
		return unit{need: 1}, nil // whatever the server says before it closes
	}
	if v.rect != nil {
		return v.rect(h)
	}
	if v.rects > 0 || v.untilLast {
		return v.rectangle(h)
	}
	if len(h) < 1 {
		return unit{need: 1}, nil
	}
	switch h[0] {
	case 0: // FramebufferUpdate
		if len(h) < 4 {
			return unit{need: 4}, nil
		}
		v.rects = int(binary.BigEndian.Uint16(h[2:4]))
		v.untilLast = v.rects == 0xFFFF
		return unit{need: 4}, nil
	case 1: // SetColourMapEntries
		if len(h) < 6 {
			return unit{need: 6}, nil
		}
		return unit{need: 6, body: 6 * int64(binary.BigEndian.Uint16(h[4:6]))}, nil
	case 2: // Bell
		return unit{need: 1}, nil
	case 3: // ServerCutText
		return cutText(h, "RFB ServerCutText", DirectionOut, v.policy, v.refusals)
	case 150: // EndOfContinuousUpdates
		return unit{need: 1}, nil
	case 248: // ServerFence
		if len(h) < 9 {
			return unit{need: 9}, nil
		}
		return unit{need: 9, body: int64(h[8])}, nil
	case 250: // xvp
		return unit{need: 4}, nil
	}
	return unit{}, &ProtocolError{Msg: fmt.Sprintf("RFB server message type %d is unknown to the proxy", h[0])}
}

// failure frames a refusal: a reason (32-bit length, text) after the at
// bytes already read; the server closes after it.
func (v *rfbServer) failure(h []byte, at int) (unit, error) {
	if len(h) < at+4 {
		return unit{need: at + 4}, nil
	}
	n := int64(binary.BigEndian.Uint32(h[at : at+4]))
	if n > maxName {
		return unit{}, &LimitError{What: "RFB failure reason", Declared: n, Limit: maxName}
	}
	v.stage = 5
	return unit{need: at + 4, body: n}, nil
}

// rectangle frames a rectangle header and decides how its body is framed.
func (v *rfbServer) rectangle(h []byte) (unit, error) {
	if len(h) < 12 {
		return unit{need: 12}, nil
	}
	if v.rects > 0 {
		v.rects--
	}
	_, _, pf := v.shared()
	w, hh := int64(binary.BigEndian.Uint16(h[4:6])), int64(binary.BigEndian.Uint16(h[6:8]))
	v.w, v.h = w, hh
	enc := int32(binary.BigEndian.Uint32(h[8:12]))
	done := unit{need: 12}
	body := func(n int64) (unit, error) { done.body = n; return done, nil }
	mask := (w + 7) / 8 * hh
	switch enc {
	case 0: // Raw
		return body(w * hh * pf.bytes())
	case 1: // CopyRect
		return body(4)
	case 2: // RRE: subrectangle count and background, then the subrectangles
		v.rect = func(h []byte) (unit, error) {
			need := 4 + int(pf.bytes())
			if len(h) < need {
				return unit{need: need}, nil
			}
			v.rect = nil
			return unit{need: need, body: int64(binary.BigEndian.Uint32(h[0:4])) * (pf.bytes() + 8)}, nil
		}
	case 5: // Hextile
		v.tileX, v.tileY = 0, 0
		if w > 0 && hh > 0 {
			v.rect = v.hextileTile
		}
	case 6, 16: // Zlib, ZRLE: a 32-bit length, then the data
		v.rect = func(h []byte) (unit, error) {
			if len(h) < 4 {
				return unit{need: 4}, nil
			}
			v.rect = nil
			return unit{need: 4, body: int64(binary.BigEndian.Uint32(h[0:4]))}, nil
		}
	case 7, -260: // Tight, TightPNG
		v.rect = v.tight
	case -223, -258: // DesktopSize, QEMU extended key event: no data
	case -224: // LastRect
		v.rects, v.untilLast = 0, false
	case -239: // Cursor: pixels, then a bit mask
		return body(w*hh*pf.bytes() + mask)
	case -240: // XCursor: two colours, then two bit masks
		if w*hh == 0 {
			return done, nil
		}
		return body(6 + 2*mask)
	case -261: // QEMU LED state
		return body(1)
	case 0x574d5668: // VMware LED state
		return body(4)
	case -307: // DesktopName
		v.rect = func(h []byte) (unit, error) {
			if len(h) < 4 {
				return unit{need: 4}, nil
			}
			n := int64(binary.BigEndian.Uint32(h[0:4]))
			if n > maxName {
				return unit{}, &LimitError{What: "RFB desktop name", Declared: n, Limit: maxName}
			}
			v.rect = nil
			return unit{need: 4, body: n}, nil
		}
	case -308: // ExtendedDesktopSize: screen count, padding, screens
		v.rect = func(h []byte) (unit, error) {
			if len(h) < 4 {
				return unit{need: 4}, nil
			}
			v.rect = nil
			return unit{need: 4, body: 16 * int64(h[0])}, nil
		}
	default:
		return unit{}, &ProtocolError{Msg: fmt.Sprintf("RFB rectangle encoding %d is unknown to the proxy", enc)}
	}
	return done, nil
}

// hextileTile frames one 16×16 tile of a Hextile rectangle.
func (v *rfbServer) hextileTile(h []byte) (unit, error) {
	if len(h) < 1 {
		return unit{need: 1}, nil
	}
	_, _, pf := v.shared()
	px := pf.bytes()
	tw, th := min(16, v.w-v.tileX), min(16, v.h-v.tileY)
	sub := h[0]
	u := unit{need: 1}
	if sub&1 != 0 { // raw tile
		u.body = tw * th * px
	} else {
		if sub&2 != 0 { // background
			u.need += int(px)
		}
		if sub&4 != 0 { // foreground
			u.need += int(px)
		}
		if sub&8 != 0 { // any subrectangles: a count
			u.need++
		}
		if len(h) < u.need {
			return unit{need: u.need}, nil
		}
		if sub&8 != 0 {
			per := int64(2)
			if sub&16 != 0 { // coloured subrectangles
				per += px
			}
			u.body = int64(h[u.need-1]) * per
		}
	}
	if v.tileX += 16; v.tileX >= v.w {
		v.tileX = 0
		if v.tileY += 16; v.tileY >= v.h {
			v.rect = nil
		}
	}
	return u, nil
}

// tight frames a Tight rectangle: a compression control byte, then a fill
// colour, a JPEG or PNG image, or (basic compression) an optional filter and
// the pixel data, raw when under 12 bytes and zlib with a compact length
// otherwise (rfbproto, Tight encoding).
func (v *rfbServer) tight(h []byte) (unit, error) {
	if len(h) < 1 {
		return unit{need: 1}, nil
	}
	_, _, pf := v.shared()
	tpx := pf.tpixel()
	ctl := h[0] >> 4
	switch {
	case ctl == 8: // fill
		need := 1 + int(tpx)
		if len(h) < need {
			return unit{need: need}, nil
		}
		v.rect = nil
		return unit{need: need}, nil
	case ctl == 9 || ctl == 10: // JPEG, PNG
		return v.compact(h, 1)
	case ctl&8 != 0:
		return unit{}, &ProtocolError{Msg: fmt.Sprintf("RFB Tight compression type %d is unknown to the proxy", ctl)}
	}
	at, size := 1, v.w*v.h*tpx
	if ctl&4 != 0 { // a filter id follows
		if len(h) < 2 {
			return unit{need: 2}, nil
		}
		switch h[1] {
		case 0, 2: // copy, gradient
			at = 2
		case 1: // palette: colour count, then the colours
			if len(h) < 3 {
				return unit{need: 3}, nil
			}
			colours := int64(h[2]) + 1
			at = 3 + int(colours*tpx)
			if colours == 2 {
				size = (v.w + 7) / 8 * v.h
			} else {
				size = v.w * v.h
			}
		default:
			return unit{}, &ProtocolError{Msg: fmt.Sprintf("RFB Tight filter %d is unknown to the proxy", h[1])}
		}
	}
	if len(h) < at {
		return unit{need: at}, nil
	}
	if size < 12 {
		v.rect = nil
		return unit{need: at, body: size}, nil
	}
	return v.compact(h, at)
}

// compact frames Tight's compact length (1 to 3 bytes of 7 bits) at h[at:]
// and the data it counts.
func (v *rfbServer) compact(h []byte, at int) (unit, error) {
	var n int64
	for i := 0; i < 3; i++ {
		if len(h) < at+i+1 {
			return unit{need: at + i + 1}, nil
		}
		b := h[at+i]
		if i == 2 {
			n |= int64(b) << 14
			break
		}
		n |= int64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			v.rect = nil
			return unit{need: at + i + 1, body: n}, nil
		}
	}
	v.rect = nil
	return unit{need: at + 3, body: n}, nil
}
