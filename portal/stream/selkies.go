package stream

import (
	"bytes"
	"compress/gzip"
	"io"
	"strconv"
	"strings"
)

// Selkies (selkies-project/selkies, the web client of linuxserver.io's
// images) speaks over its WebSocket in whole messages: text verbs split by
// commas ("kd,65" a key down, "m,x,y,buttons,scroll" the mouse, "cw,<b64>"
// a paste), binary frames tagged by their first byte (0x01 a file chunk to
// the session and audio from it, 0x02 the microphone, 0x03/0x04 video), and
// 0x05 frames that carry a gzip'd text verb (large clipboard or cursor
// text). Its WebRTC mode carries input over a data channel the proxy never
// sees; there idle must be measured inside the session.

// selkiesMaxMessage bounds one message, as Selkies itself does
// (WS_MAX_MESSAGE_BYTES, which its file upload chunks are sized to).
const selkiesMaxMessage = 8 << 20

// selkiesClass is what one Selkies message is.
type selkiesClass struct {
	input bool
	kind  DataKind // "" when it carries nothing the policy governs
	// declared is a length the message announces (a multi-part clipboard's
	// total), bounded like a clipboard.
	declared int64
}

// Browser → session verbs (input_handler.py, selkies.py).
var selkiesIn = map[string]selkiesClass{
	"kd": {input: true}, "ku": {input: true}, // key down, up ("kr" resets, "kh" is a held-key heartbeat: not a person)
	"m": {input: true}, "m2": {input: true}, // mouse, absolute and relative
	"co":  {input: true},                                                                // "co,end,<text>": composed (IME) text
	"js":  {input: true},                                                                // gamepad
	"cmd": {input: true},                                                                // an app launched from the dashboard
	"cw":  {input: true, kind: KindClipboard}, "cb": {input: true, kind: KindClipboard}, // paste, text or binary
	"cws": {input: true, kind: KindClipboard}, "cwd": {input: true, kind: KindClipboard}, "cwe": {input: true, kind: KindClipboard},
	"cbs": {input: true, kind: KindClipboard}, "cbd": {input: true, kind: KindClipboard}, "cbe": {input: true, kind: KindClipboard},
	"FILE_UPLOAD_START": {input: true, kind: KindFile}, "FILE_UPLOAD_END": {kind: KindFile}, "FILE_UPLOAD_ERROR": {kind: KindFile},
}

// Requests for the session's clipboard: refused with clipboard out, so the
// session is not asked for what would be dropped on its way back.
var selkiesClipboardReads = map[string]bool{"cr": true, "REQUEST_CLIPBOARD": true}

// Session → browser verbs that carry the session's clipboard.
var selkiesOut = map[string]bool{
	"clipboard": true, "clipboard_binary": true, "clipboard_start": true,
	"clipboard_data": true, "clipboard_finish": true, "clipboard_reply": true,
}

// newSelkiesFilters are the two filters of a Selkies stream.
func newSelkiesFilters(p Policy, r *refusals) (toSession, toBrowser filter) {
	return &selkiesFilter{dir: DirectionIn, policy: p, refusals: r}, &selkiesFilter{dir: DirectionOut, policy: p, refusals: r}
}

// selkiesFilter classifies each message from its first bytes and passes or
// drops it whole; a 0x05 (gzip) message is held (bounded) until it ends, to
// classify the text inside.
type selkiesFilter struct {
	dir      Direction
	policy   Policy
	refusals *refusals

	// the current message
	verdict verdict
	size    int64
	limit   int64 // the current message's own bound, when under selkiesMaxMessage
	gz      bool
	held    []byte
}

func (f *selkiesFilter) filter(out, in []byte, first, last bool) ([]byte, bool, error) {
	out, input, err := f.part(out, in, first)
	if err != nil || !last {
		return out, input, err
	}
	out, gzInput, err := f.end(out)
	return out, input || gzInput, err
}

func (f *selkiesFilter) part(out, in []byte, first bool) ([]byte, bool, error) {
	input := false
	if first {
		f.size, f.limit, f.gz, f.held = 0, selkiesMaxMessage, len(in) > 0 && in[0] == 0x05, f.held[:0]
		if !f.gz {
			var err error
			if f.verdict, input, err = f.decide(in); err != nil {
				return out, false, err
			}
		}
	}
	f.size += int64(len(in))
	if f.size > f.limit {
		return out, false, &LimitError{What: "Selkies message", Declared: f.size, Limit: f.limit}
	}
	if !f.gz {
		if f.verdict == pass {
			out = append(out, in...)
		}
		return out, input, nil
	}
	f.held = append(f.held, in...)
	return out, false, nil
}

// end is called when a message is complete: a held gzip message is
// classified and passed or dropped.
func (f *selkiesFilter) end(out []byte) ([]byte, bool, error) {
	if !f.gz {
		return out, false, nil
	}
	f.gz = false
	zr, err := gzip.NewReader(bytes.NewReader(f.held[1:]))
	if err != nil {
		return out, false, &ProtocolError{Msg: "Selkies 0x05 message is not gzip"}
	}
	text, err := io.ReadAll(io.LimitReader(zr, selkiesMaxMessage+1))
	if int64(len(text)) > selkiesMaxMessage {
		return out, false, &LimitError{What: "Selkies gzip message (inflated)", Declared: int64(len(text)), Limit: selkiesMaxMessage}
	}
	if err != nil {
		return out, false, &ProtocolError{Msg: "Selkies 0x05 message does not inflate"}
	}
	v, input, err := f.decideText(string(text), int64(len(text)))
	if err != nil {
		return out, false, err
	}
	if v == pass {
		out = append(out, f.held...)
	}
	if cap(f.held) > 64<<10 {
		f.held = nil
	}
	return out, input, nil
}

// decide classifies a message from its first part.
func (f *selkiesFilter) decide(in []byte) (verdict, bool, error) {
	if len(in) > 0 && in[0] < 0x20 { // a binary frame, tagged by its first byte
		switch {
		case in[0] == 0x01 && f.dir == DirectionIn:
			return f.allow(KindFile), true, nil
		case in[0] == 0x01 && f.dir == DirectionOut, in[0] == 0x02 && f.dir == DirectionIn:
			return f.allow(KindAudio), false, nil
		}
		return pass, false, nil
	}
	head := in[:min(len(in), 64)]
	return f.decideText(string(head), -1)
}

// decideText classifies a text verb; size is the whole message's length
// when known (-1 when only its first part is at hand).
func (f *selkiesFilter) decideText(text string, size int64) (verdict, bool, error) {
	verb, rest, _ := strings.Cut(text, ",")
	if i := strings.IndexByte(verb, ':'); i >= 0 { // FILE_UPLOAD_*:<path>:<size>
		verb = verb[:i]
	}
	if f.dir == DirectionOut {
		if !selkiesOut[verb] {
			return pass, false, nil
		}
		if err := f.bound(verb, rest, size); err != nil {
			return drop, false, err
		}
		return f.allow(KindClipboard), false, nil
	}
	if selkiesClipboardReads[verb] {
		if f.policy.ClipboardOut {
			return pass, false, nil
		}
		f.refusals.refuse(Refusal{Direction: DirectionOut, Kind: KindClipboard})
		return drop, false, nil
	}
	c, ok := selkiesIn[verb]
	if !ok {
		return pass, false, nil
	}
	if c.kind == KindClipboard {
		if err := f.bound(verb, rest, size); err != nil {
			return drop, false, err
		}
	}
	if c.kind == "" {
		return pass, c.input, nil
	}
	return f.allow(c.kind), c.input, nil
}

// bound checks a clipboard message against the clipboard limit: the total a
// multi-part transfer declares ("cws,<id>,<size>", "cbs,<id>,<mime>,<size>",
// "clipboard_start,<mime>,<size>"), or the message itself (base64 is 4/3 of
// its content).
func (f *selkiesFilter) bound(verb, rest string, size int64) error {
	limit := f.policy.MaxClipboard
	switch verb {
	case "cws", "cbs", "clipboard_start":
		fields := strings.Split(rest, ",")
		n, err := strconv.ParseInt(fields[len(fields)-1], 10, 64)
		if err != nil {
			return nil // the session refuses a malformed start itself
		}
		if n > limit {
			return &LimitError{What: "Selkies clipboard (" + verb + ")", Declared: n, Limit: limit}
		}
		return nil
	}
	max := limit/3*4 + 4<<10
	if size > max {
		return &LimitError{What: "Selkies clipboard (" + verb + ")", Declared: size, Limit: max}
	}
	f.limit = min(f.limit, max) // a message still coming in is bounded as it grows
	return nil
}

func (f *selkiesFilter) allow(k DataKind) verdict {
	if f.policy.allows(f.dir, k) {
		return pass
	}
	f.refusals.refuse(Refusal{Direction: f.dir, Kind: k})
	return drop
}

// SelkiesHTTPRefusal says whether the policy refuses an HTTP request to a
// Selkies web client: its file manager uploads with POST <prefix>/api/upload
// and serves downloads under GET <prefix>/api/files/ (stream_server.py), on
// the web client's own port, beside its WebSocket. Any method on either
// path counts: what the session's server makes of an odd one is its own.
func SelkiesHTTPRefusal(p Policy, path string) (Refusal, bool) {
	r := Refusal{Direction: DirectionIn, Kind: KindFile}
	switch {
	case strings.Contains(path, "/api/upload"):
	case strings.Contains(path, "/api/files/"):
		r.Direction = DirectionOut
	default:
		return Refusal{}, false
	}
	return r, !p.allows(r.Direction, r.Kind)
}
