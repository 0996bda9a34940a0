package stream

import (
	"bytes"
	"testing"
)

// serverInit is a 4×2 desktop in 32-bit true colour, named "x".
var serverInit = cat([]byte{0, 4, 0, 2, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0}, u32(1), []byte("x"))

// rect is a rectangle header.
func rect(w, h uint16, enc int32) []byte {
	return cat([]byte{0, 0, 0, 0, byte(w >> 8), byte(w), byte(h >> 8), byte(h)}, u32(uint32(enc)))
}

func serverCutText(text string) []byte {
	return cat([]byte{3, 0, 0, 0}, u32(uint32(len(text))), []byte(text))
}

// connected returns the server filter of a stream whose client chose
// security None and a 32-bit pixel format.
func connected(t *testing.T, p Policy, r *refusals) filter {
	t.Helper()
	c, v := newRFBFilters(dialectRFB, p, r)
	// in the order they cross: the server offers before the client chooses
	runSteps(t, v, []step{{name: "server version", in: []byte("RFB 003.008\n")}})
	runSteps(t, c, handshake[:1])
	runSteps(t, v, []step{{name: "security types", in: []byte{1, 1}}})
	runSteps(t, c, handshake[1:2])
	runSteps(t, v, []step{{name: "security result", in: u32(0)}})
	runSteps(t, c, handshake[2:])
	runSteps(t, v, []step{{name: "ServerInit", in: serverInit}})
	return v
}

func TestRFBServer_clipboardOutRefused_foundBetweenUpdates_droppedWhole(t *testing.T) {
	var refused []Refusal
	v := connected(t, Policy{ClipboardIn: true, MaxClipboard: DefaultMaxClipboard}, &refusals{report: func(x Refusal) { refused = append(refused, x) }})
	raw := cat([]byte{0, 0, 0, 1}, rect(4, 2, 0), bytes.Repeat([]byte{3}, 4*2*4)) // one Raw rectangle holding ServerCutText's type byte
	hextile := cat([]byte{0, 0, 0, 1}, rect(4, 2, 5), []byte{2 | 8 | 16}, []byte{1, 2, 3, 4}, []byte{1}, []byte{9, 9, 9, 9, 0, 0x11})
	tight := cat([]byte{0, 0, 0, 3}, rect(4, 2, 7), []byte{0x80, 1, 2, 3}, // fill
		rect(4, 2, 7), []byte{0x40, 1, 1, 5, 5, 5, 6, 6, 6, 0xAA, 0x55}, // palette of 2: 2 bytes of bits, raw as under 12
		rect(100, 1, 7), []byte{0x00, 0x82, 0x01}, bytes.Repeat([]byte{7}, 130)) // basic, zlib with a 2-byte compact length
	cut := serverCutText("copied in the app")
	runSteps(t, v, []step{
		{name: "Raw update", in: raw},
		{name: "cut text, then a Bell", in: cat(cut, []byte{2}), out: []byte{2}},
		{name: "Hextile update split inside a tile's head: first", in: hextile[:20], out: hextile[:16]},
		{name: "second: the head passes once whole", in: hextile[20:], out: hextile[16:]},
		{name: "Tight update", in: tight},
		{name: "extended-clipboard provide", in: extendedProvide(3, []byte("more")), out: []byte{}},
		// TigerVNC's caps: caps | request, peek, notify, provide | text, then the text size limit
		{name: "extended-clipboard caps naming provide among the actions passes", in: extendedCaps},
		{name: "a cut text split around an update", in: cat(cut[:5]), out: []byte{}},
		{name: "end of it, then an update", in: cat(cut[5:], raw), out: raw},
		{name: "LastRect-counted update with ExtendedDesktopSize and DesktopName", in: cat([]byte{0, 0, 0xFF, 0xFF},
			rect(4, 2, -308), []byte{1, 0, 0, 0}, make([]byte, 16), rect(0, 0, -307), u32(2), []byte("hi"), rect(0, 0, -224))},
		{name: "an unknown server message ends the stream", in: []byte{77}, err: "server message type 77"},
	})
	if len(refused) != 1 || refused[0] != (Refusal{Direction: DirectionOut, Kind: KindClipboard}) {
		t.Errorf("reported %v", refused)
	}
}

func TestRFBServer_allowedCutText_passes_andIsBounded(t *testing.T) {
	v := connected(t, open, nil)
	runSteps(t, v, []step{
		{name: "cut text", in: serverCutText("copied")},
		{name: "a declared 4 GiB cut text", in: cat([]byte{3, 0, 0, 0}, u32(0x7FFFFFFF)), err: "ServerCutText of 2147483647 bytes"},
	})
}

func TestRFBServer_refusedSecurity_readsTheReason(t *testing.T) {
	c, v := newRFBFilters(dialectRFB, open, nil)
	runSteps(t, c, handshake[:2])
	runSteps(t, v, []step{
		{name: "version", in: []byte("RFB 003.008\n")},
		{name: "security types", in: []byte{1, 1}},
		{name: "failed, with a reason", in: cat(u32(1), u32(2), []byte("no"))},
	})
}

// extendedCaps is the extended-clipboard caps message Xvnc (TigerVNC 1.12)
// sends first, as a ServerCutText: its action bits list provide.
var extendedCaps = cat([]byte{3, 0, 0, 0}, u32(0xFFFFFFF8), u32(1<<24|1<<25|1<<26|1<<27|1<<28|1), u32(20<<20))
