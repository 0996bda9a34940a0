package stream

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// step is one frame through a filter: what passes, whether it was input,
// and the error that ends the stream, if any.
type step struct {
	name  string
	in    []byte
	input bool
	out   []byte // nil: all of in passes
	err   string // a part of the error message; "" for none
}

func runSteps(t *testing.T, f filter, steps []step) {
	t.Helper()
	for _, s := range steps {
		out, input, err := f.filter(nil, s.in, true, true)
		if s.err != "" {
			if err == nil || !strings.Contains(err.Error(), s.err) {
				t.Fatalf("%s: error %v, want one saying %q", s.name, err, s.err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		want := s.out
		if want == nil {
			want = s.in
		}
		if !bytes.Equal(out, want) {
			t.Errorf("%s: passed % x, want % x", s.name, out, want)
		}
		if input != s.input {
			t.Errorf("%s: input %v, want %v", s.name, input, s.input)
		}
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func u32(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

var (
	handshake = []step{
		{name: "version", in: []byte("RFB 003.008\n")},
		{name: "security None", in: []byte{1}},
		{name: "ClientInit", in: []byte{1}},
	}
	updateRequest = []byte{3, 1, 0, 0, 0, 0, 2, 128, 1, 224}
	keyA          = []byte{4, 1, 0, 0, 0, 0, 0, 0x61}
	open          = Policy{ClipboardIn: true, ClipboardOut: true, MaxClipboard: DefaultMaxClipboard}
	closed        = Policy{MaxClipboard: DefaultMaxClipboard}
)

func clientCutText(text string) []byte {
	return cat([]byte{6, 0, 0, 0}, u32(uint32(len(text))), []byte(text))
}

// extendedProvide is an extended-clipboard provide of text (zlib: a length,
// then the text), from either side (ClientCutText 6 or ServerCutText 3).
func extendedProvide(typ byte, text []byte) []byte {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write(u32(uint32(len(text))))
	_, _ = zw.Write(text)
	_ = zw.Close()
	payload := cat(u32(1<<28|1), z.Bytes()) // provide, text
	return cat([]byte{typ, 0, 0, 0}, u32(uint32(-int32(len(payload)))), payload)
}

func clientFilter(d rfbDialect, p Policy, r *refusals) filter {
	f, _ := newRFBFilters(d, p, r)
	return f
}

func TestRFBClient_onlyKeysPointerAndClipboardAreInput(t *testing.T) {
	runSteps(t, clientFilter(dialectRFB, open, nil), append(handshake, []step{
		{name: "SetEncodings Raw, ZRLE", in: []byte{2, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 16}},
		{name: "SetPixelFormat", in: append([]byte{0}, make([]byte, 19)...)},
		{name: "FramebufferUpdateRequest", in: updateRequest},
		{name: "half a KeyEvent is held (a head passes whole)", in: keyA[:4], out: []byte{}},
		{name: "rest of the KeyEvent", in: keyA[4:], input: true, out: keyA},
		{name: "update request and pointer in one frame", in: cat(updateRequest, []byte{5, 0, 0, 10, 0, 20}), input: true},
		{name: "ClientCutText", in: clientCutText("hi"), input: true},
		{name: "another update request", in: updateRequest},
		{name: "an unknown message ends the stream rather than pass unread", in: []byte{200, 1, 2, 3}, err: "type 200 is unknown"},
	}...))
}

func TestRFBClient_clipboardInRefused_droppedWhole_acrossFrames_streamGoesOn(t *testing.T) {
	var refused []Refusal
	r := &refusals{report: func(x Refusal) { refused = append(refused, x) }}
	paste := clientCutText("secret text")
	runSteps(t, clientFilter(dialectRFB, closed, r), append(handshake, []step{
		{name: "key, then the start of a paste", in: cat(keyA, paste[:10]), input: true, out: keyA},
		{name: "the paste's middle", in: paste[10:15], out: []byte{}},
		{name: "its end and an update request", in: cat(paste[15:], updateRequest), out: updateRequest},
		{name: "a second paste", in: clientCutText("again"), input: true, out: []byte{}},
		{name: "an extended-clipboard provide", in: extendedProvide(6, []byte("more")), input: true, out: []byte{}},
		{name: "a key after all that", in: keyA, input: true},
	}...))
	if len(refused) != 1 || refused[0] != (Refusal{Direction: DirectionIn, Kind: KindClipboard}) {
		t.Errorf("reported %v, want one clipboard-in refusal for the stream", refused)
	}
}

func TestRFBClient_lengthsBoundedBeforeAnythingIsHeld(t *testing.T) {
	huge := cat([]byte{6, 0, 0, 0}, u32(0xFFFFFFFF>>1)) // 2 GiB declared, nothing sent yet
	bomb := extendedProvide(6, bytes.Repeat([]byte{'a'}, 4*DefaultMaxClipboard))
	for _, tc := range []struct {
		name string
		msg  []byte
		want string
	}{
		{"ClientCutText of 2 GiB", huge, "ClientCutText of 2147483647 bytes is over the 1048576-byte limit"},
		{"ClientCutText of 4 GiB (extended, negative)", cat([]byte{6, 0, 0, 0}, u32(0x80000000)), "(extended clipboard) of 2147483648 bytes"},
		{"extended provide inflating past the limit", bomb, "inflated"},
		{"extended payload with no flags", cat([]byte{6, 0, 0, 0}, u32(0xFFFFFFFE)), "has no flags"},
		{"SetEncodings of 65535", []byte{2, 0, 0xFF, 0xFF}, "SetEncodings list of 65535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runSteps(t, clientFilter(dialectRFB, open, nil), append(handshake, step{name: tc.name, in: tc.msg, err: tc.want}))
		})
	}
	// the close the viewer gets says which limit
	_, _, err := clientFilter(dialectRFB, open, nil).filter(nil, cat([]byte("RFB 003.008\n\x01\x01"), huge), true, true)
	status, reason, ok := closeOf(err)
	if !ok || status != websocket.StatusMessageTooBig || !strings.Contains(reason, "1048576-byte limit") {
		t.Errorf("close %v %q %v", status, reason, ok)
	}
}

func TestRFBClient_allowedExtendedProvide_passesWhole(t *testing.T) {
	msg := extendedProvide(6, []byte("pasted"))
	runSteps(t, clientFilter(dialectRFB, open, nil), append(handshake, []step{
		{name: "first half is held", in: msg[:9], out: []byte{}},
		{name: "then passes whole", in: msg[9:], input: true, out: msg},
		{name: "a caps message is not input", in: cat([]byte{6, 0, 0, 0}, u32(uint32(0xFFFFFFF8)), u32(1<<24|1), u32(1024))},
	}...))
}

func TestRFBClient_SetEncodings_cutToWhatTheServerFilterFrames(t *testing.T) {
	msg := []byte{2, 0, 0, 4, 0, 0, 0, 21, 0, 0, 0, 7, 0, 0, 0, 50, 0xC0, 0xA1, 0xE5, 0xCE} // JPEG, Tight, H.264, extended clipboard
	runSteps(t, clientFilter(dialectRFB, open, nil), append(handshake,
		step{name: "SetEncodings", in: msg, out: []byte{2, 0, 0, 2, 0, 0, 0, 7, 0xC0, 0xA1, 0xE5, 0xCE}}))
	// KasmVNC's server side is not framed: its encodings are left alone
	runSteps(t, clientFilter(dialectKasmVNC, open, nil), append(handshake, step{name: "SetEncodings", in: msg}))
}

func TestRFBClient_KasmVNC_messagesFramed(t *testing.T) {
	var r []Refusal
	refuse := &refusals{report: func(x Refusal) { r = append(r, x) }}
	binaryClipboard := cat([]byte{180, 2}, []byte{9}, []byte("text/html"), u32(3), []byte("<b>"), []byte{10}, []byte("image/png\x00"), u32(2), []byte{1, 2})
	runSteps(t, clientFilter(dialectKasmVNC, Policy{ClipboardOut: true, MaxClipboard: DefaultMaxClipboard}, refuse), append(handshake, []step{
		{name: "PointerEvent with 16-bit mask and scroll", in: []byte{5, 0, 1, 0, 10, 0, 20, 0, 0, 0, 0}, input: true},
		{name: "SetMaxVideoResolution", in: []byte{252, 7, 128, 4, 56}},
		{name: "RequestStats, KeepAlive, LatencyMeasurement", in: cat([]byte{178, 0, 0, 0, 185}, []byte{189, 0, 0, 0}, u32(7))},
		{name: "FrameStats", in: cat([]byte{179, 0, 0, 0}, u32(1), u32(2))},
		{name: "DirectMouseEvent", in: []byte{188, 1, 0, 5, 0, 5, 0, 0, 0, 0}, input: true},
		{name: "VideoEncoders", in: cat([]byte{184, 2}, u32(1), u32(2))},
		{name: "UnixRelay", in: cat([]byte{183, 7}, []byte("printer"), u32(3), []byte("pdf"))},
		{name: "BinaryClipboard (refused), in two frames: first", in: binaryClipboard[:12], input: true, out: []byte{}},
		{name: "BinaryClipboard: rest, then a key", in: cat(binaryClipboard[12:], keyA), input: true, out: keyA},
		{name: "UnixRelay over the limit", in: cat([]byte{183, 1, 'x'}, u32(maxRelay+1)), err: "UnixRelay of 1048577 bytes"},
	}...))
	if len(r) != 1 {
		t.Errorf("refusals reported %v", r)
	}
}

func TestRFBClient_unsupportedHandshakes_endTheStream(t *testing.T) {
	for name, in := range map[string][]byte{
		"RFB 3.3":  []byte("RFB 003.003\n"),
		"VeNCrypt": []byte("RFB 003.008\n\x13"),
	} {
		_, _, err := clientFilter(dialectRFB, open, nil).filter(nil, in, true, true)
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			t.Errorf("%s: %v, want a protocol error", name, err)
		}
	}
	// a late pixel format change would make update lengths ambiguous
	runSteps(t, clientFilter(dialectRFB, open, nil), append(handshake, []step{
		{name: "update request", in: updateRequest},
		{name: "SetPixelFormat", in: append([]byte{0}, make([]byte, 19)...), err: "after the first update request"},
	}...))
}

// KasmVNC's server side is not read, so a template that forbids clipboard
// out gets no KasmVNC stream at all: ended at the session's first byte,
// saying why (1008), rather than one that would carry the clipboard.
func TestRFB_KasmVNC_clipboardOutForbidden_streamRefused(t *testing.T) {
	_, toBrowser := newRFBFilters(dialectKasmVNC, Policy{ClipboardOut: false, ClipboardIn: true, MaxClipboard: DefaultMaxClipboard}, nil)
	if toBrowser == nil {
		t.Fatal("clipboardOut false: the session's side passes unread")
	}
	_, _, err := toBrowser.filter(nil, []byte("RFB 003.008\n"), true, true)
	status, reason, ok := closeOf(err)
	if !ok || status != websocket.StatusPolicyViolation || !strings.Contains(reason, "clipboard out") {
		t.Errorf("closed %v %q (%v), want 1008 naming clipboard out", status, reason, err)
	}
	if _, toBrowser := newRFBFilters(dialectKasmVNC, Policy{ClipboardOut: true, MaxClipboard: DefaultMaxClipboard}, nil); toBrowser != nil {
		t.Error("clipboardOut true: KasmVNC's own encodings are left unread, as before")
	}
}
