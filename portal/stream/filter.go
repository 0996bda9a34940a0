package stream

import (
	"context"
	"errors"
	"io"

	"github.com/coder/websocket"

	streamv1 "github.com/streamspace/streamspace/api/v1alpha1"
)

// A filter reads one direction of a stream and says what of it may pass:
// it bounds lengths, drops what the data policy refuses and tells user
// input from a client's own traffic.
type filter interface {
	// filter appends to out what of in may pass on. in is the next part of
	// the current WebSocket message; first says it begins one, last that it
	// ends it. input
	// reports whether in completed some user input. An error ends the
	// stream (see closeOf for how the viewer is told).
	filter(out, in []byte, first, last bool) (pass []byte, input bool, err error)
}

// filtersFor are the filters of a stream of template t, in both
// directions; nil where the proxy does not read that direction (and then,
// from the browser, every frame counts as input).
func filtersFor(t *streamv1.Template, p Policy, r *refusals) (toSession, toBrowser filter) {
	switch t.Spec.Stream.Protocol {
	case streamv1.StreamWebsockifyVNC, streamv1.StreamNoVNC:
		// NoVNC: the pod's own client, whose WebSocket is standard RFB
		return newRFBFilters(dialectRFB, p, r)
	case streamv1.StreamKasmVNC:
		return newRFBFilters(dialectKasmVNC, p, r)
	case streamv1.StreamSelkies:
		return newSelkiesFilters(p, r)
	}
	return nil, nil
}

// pumpBuffer is how much of a message pump holds at once: a message that
// fits (nearly all of them: websockify sends at most 64 KiB) goes out as one
// frame with one write; a larger one streams through the same buffer, so a
// framebuffer update is never held whole.
const pumpBuffer = 256 << 10

// pump copies messages from src to dst through f (nil: as they are),
// calling onInput when f saw user input (with no f, for every message).
// It holds at most pumpBuffer bytes of a message, plus what f holds.
func pump(ctx context.Context, dst, src *websocket.Conn, count func(int64), f filter, onInput func()) (err error) {
	// one buffer for the life of the stream: a fresh one per message (as
	// io.Copy makes) is garbage whose collection shows in the latency tail
	buf := make([]byte, pumpBuffer)
	var out []byte
	var b *batch
	if sf, ok := f.(streamFilter); ok {
		f = sf
		b = newBatch(ctx, dst)
		defer func() {
			// what passed before the end goes out before the close
			if werr := b.finish(); err == nil {
				err = werr
			}
		}()
	}
	for {
		typ, r, err := src.Reader(ctx)
		if err != nil {
			return err
		}
		var w io.WriteCloser
		for first := true; ; first = false {
			n, err := io.ReadFull(r, buf)
			end := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
			if err != nil && !end {
				return err
			}
			if b != nil {
				// a byte stream: every part goes to the batch, cut as the
				// viewer's pace allows (batch)
				passed, input, err := b.add(typ, f, buf[:n], first, end)
				if err != nil {
					return err
				}
				if input && onInput != nil {
					onInput()
				}
				count(int64(passed))
				if end {
					break
				}
				continue
			}
			data, input := buf[:n], f == nil && first
			if f != nil {
				if out, input, err = f.filter(out[:0], data, first, end); err != nil {
					return err
				}
				data = out
			}
			if input && onInput != nil {
				onInput()
			}
			count(int64(len(data)))
			switch {
			case end && w == nil:
				// the whole message (or what passed of it) in one frame; a
				// message the filter dropped whole is not sent at all
				if len(data) > 0 || (f == nil && n == 0) {
					if err := dst.Write(ctx, typ, data); err != nil {
						return err
					}
				}
			case len(data) > 0:
				if w == nil {
					if w, err = dst.Writer(ctx, typ); err != nil {
						return err
					}
				}
				if _, err := w.Write(data); err != nil {
					return err
				}
			}
			if end {
				if w != nil {
					if err := w.Close(); err != nil {
						return err
					}
				}
				break
			}
		}
		if cap(out) > 2*pumpBuffer { // a held paste went through: do not keep its buffer
			out = nil
		}
	}
}
