package stream

import "encoding/binary"

// rfbInput follows the client→server side of an RFB (VNC) stream and
// reports which bytes carry user input. A viewer keeps asking for screen
// updates on its own (FramebufferUpdateRequest), so counting every frame
// from the browser would keep an unattended tab "active" for ever; only
// key, pointer and clipboard messages are a person.
//
// It understands the RFB 3.8 handshake with security None or VNC
// authentication and the standard client messages. Anything it does not
// understand makes it give up and count every frame, so that a parser gap
// can never hibernate someone who is working.
type rfbInput struct {
	buf   []byte
	stage int // 0 version, 1 security type, 2 VNC auth response, 3 ClientInit, 4 messages
	lost  bool
}

// Write consumes client bytes and reports whether they completed at least
// one input message (or whether the parser gave up).
func (p *rfbInput) Write(b []byte) (input bool) {
	if p.lost {
		return true
	}
	p.buf = append(p.buf, b...)
	for {
		n, isInput, ok := p.next()
		if !ok {
			return input || p.lost
		}
		p.buf = p.buf[n:]
		input = input || isInput
	}
}

// next parses one unit from buf: its length, whether it is input, and
// whether it was complete.
func (p *rfbInput) next() (int, bool, bool) {
	need := func(n int) bool { return len(p.buf) >= n }
	switch p.stage {
	case 0:
		if !need(12) {
			return 0, false, false
		}
		p.stage = 1
		return 12, false, true
	case 1:
		if !need(1) {
			return 0, false, false
		}
		switch p.buf[0] {
		case 1: // None
			p.stage = 3
		case 2: // VNC authentication
			p.stage = 2
		default:
			p.lost = true
			return 0, false, false
		}
		return 1, false, true
	case 2:
		if !need(16) {
			return 0, false, false
		}
		p.stage = 3
		return 16, false, true
	case 3:
		if !need(1) {
			return 0, false, false
		}
		p.stage = 4
		return 1, false, true
	}
	if !need(1) {
		return 0, false, false
	}
	switch p.buf[0] {
	case 0: // SetPixelFormat
		return sized(p.buf, 20, false)
	case 2: // SetEncodings
		if !need(4) {
			return 0, false, false
		}
		return sized(p.buf, 4+4*int(binary.BigEndian.Uint16(p.buf[2:4])), false)
	case 3: // FramebufferUpdateRequest
		return sized(p.buf, 10, false)
	case 4: // KeyEvent
		return sized(p.buf, 8, true)
	case 5: // PointerEvent
		return sized(p.buf, 6, true)
	case 6: // ClientCutText
		if !need(8) {
			return 0, false, false
		}
		return sized(p.buf, 8+int(binary.BigEndian.Uint32(p.buf[4:8])), true)
	}
	p.lost = true
	return 0, false, false
}

func sized(buf []byte, n int, input bool) (int, bool, bool) {
	if len(buf) < n {
		return 0, false, false
	}
	return n, input, true
}
