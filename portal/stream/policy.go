package stream

import (
	"errors"
	"fmt"
	"sync"

	"github.com/coder/websocket"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// DefaultMaxClipboard bounds one clipboard transfer (either way) when the
// proxy is not told otherwise: far more text than anyone pastes, far less
// than what would hurt the portal if every open stream held it at once.
const DefaultMaxClipboard = 1 << 20

// Policy is what a stream lets cross between the user's device and the
// session: the template's dataPolicy, plus the limits the portal sets.
type Policy struct {
	ClipboardIn, ClipboardOut bool
	FileUpload, FileDownload  bool
	Audio                     bool
	// MaxClipboard is the largest clipboard transfer, in bytes, that may
	// cross either way (when allowed); a larger declared length closes the
	// stream.
	MaxClipboard int64
}

// PolicyOf is the policy of a template's streams. The clipboard defaults to
// allowed (as the CRD's defaults say), file transfer and audio to refused.
func PolicyOf(t *streamv1.Template, maxClipboard int64) Policy {
	d := t.Spec.DataPolicy
	if maxClipboard <= 0 {
		maxClipboard = DefaultMaxClipboard
	}
	return Policy{
		ClipboardIn: d.ClipboardIn == nil || *d.ClipboardIn, ClipboardOut: d.ClipboardOut == nil || *d.ClipboardOut,
		FileUpload: d.FileUpload, FileDownload: d.FileDownload, Audio: d.Audio,
		MaxClipboard: maxClipboard,
	}
}

// Direction of a refused transfer: in is from the user's device into the
// session, out the reverse.
type Direction string

const (
	DirectionIn  Direction = "in"
	DirectionOut Direction = "out"
)

// DataKind is what a refused message carried.
type DataKind string

const (
	KindClipboard DataKind = "clipboard"
	KindFile      DataKind = "file"
	KindAudio     DataKind = "audio"
)

// Refusal is one kind of traffic the policy dropped from a stream.
type Refusal struct {
	Direction Direction
	Kind      DataKind
}

func (r Refusal) String() string { return fmt.Sprintf("%s %s", r.Kind, r.Direction) }

// allows says whether the policy lets data of kind cross in direction d.
func (p Policy) allows(d Direction, k DataKind) bool {
	switch k {
	case KindClipboard:
		return (d == DirectionIn && p.ClipboardIn) || (d == DirectionOut && p.ClipboardOut)
	case KindFile:
		return (d == DirectionIn && p.FileUpload) || (d == DirectionOut && p.FileDownload)
	case KindAudio:
		return p.Audio
	}
	return false
}

// refusals counts what one stream's policy dropped and tells report the
// first time each (direction, kind) is refused, so the audit log gets one
// line per kind of refusal and stream, not one per message (a viewer that
// syncs its clipboard every second would otherwise flood it).
type refusals struct {
	count  func(Refusal)
	report func(Refusal)

	mu   sync.Mutex
	seen map[Refusal]bool
}

func (r *refusals) refuse(x Refusal) {
	if r == nil {
		return
	}
	if r.count != nil {
		r.count(x)
	}
	r.mu.Lock()
	first := !r.seen[x]
	if r.seen == nil {
		r.seen = map[Refusal]bool{}
	}
	r.seen[x] = true
	r.mu.Unlock()
	if first && r.report != nil {
		r.report(x)
	}
}

// LimitError is a message longer than the proxy lets through: it closes the
// stream (1009, message too big) before any of it is held.
type LimitError struct {
	// What declared the length, e.g. "RFB ClientCutText".
	What     string
	Declared int64
	Limit    int64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s of %d bytes is over the %d-byte limit", e.What, e.Declared, e.Limit)
}

// ProtocolError is traffic the proxy cannot frame, so it cannot enforce the
// policy on what follows: it closes the stream (1008, policy violation)
// rather than let it through unread.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return e.Msg }

// closeOf is the WebSocket close status and reason that tell the viewer why
// the proxy ended its stream, for the errors the filters return; ok is
// false for any other error.
func closeOf(err error) (status websocket.StatusCode, reason string, ok bool) {
	var limit *LimitError
	if errors.As(err, &limit) {
		return websocket.StatusMessageTooBig, closeReason(limit.Error()), true
	}
	var protocol *ProtocolError
	if errors.As(err, &protocol) {
		return websocket.StatusPolicyViolation, closeReason(protocol.Error()), true
	}
	return 0, "", false
}

// closeReason fits a reason into a close frame (123 bytes at most).
func closeReason(s string) string {
	if len(s) > 123 {
		return s[:120] + "..."
	}
	return s
}
