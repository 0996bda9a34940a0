package stream

import (
	"context"
	"sync"

	"github.com/coder/websocket"
)

// maxBatch bounds what a batch holds for its writer: past it the reader
// waits until the writer has taken it (the browser's pace, as without a
// batch).
const maxBatch = 1 << 20

// streamFilter is a filter of a protocol that is a byte stream over
// WebSocket: where messages begin and end means nothing to either side
// (websockify cuts RFB wherever its buffer ends, and noVNC reads its
// messages as one stream), so what passes may go out in other cuts.
type streamFilter interface {
	filter
	byteStream()
}

// batch coalesces what passes one direction of a byte stream into as few
// WebSocket messages as the viewer's pace allows: the reader appends what
// the filter passes while the writer sends what was there, whole, as one
// message. When the viewer keeps up, each message goes out as soon as it is
// read (no timer, no wait for more); when it does not, the messages read
// meanwhile go out as one, which saves a frame and two write system calls
// per upstream message here, and as much in the viewer.
type batch struct {
	dst *websocket.Conn

	mu      sync.Mutex
	typ     websocket.MessageType
	pending []byte
	done    bool  // the reader adds nothing more
	err     error // the writer's, which ends the stream

	wake   chan struct{} // to the writer: there is something to take
	room   chan struct{} // to the reader: the writer took what was pending
	exited chan struct{}
}

func newBatch(ctx context.Context, dst *websocket.Conn) *batch {
	b := &batch{dst: dst, wake: make(chan struct{}, 1), room: make(chan struct{}, 1), exited: make(chan struct{})}
	go b.write(ctx)
	return b
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// add runs in through f onto what is pending, and returns how many bytes
// passed and whether they completed user input. Nothing of in passes when f
// fails.
func (b *batch) add(typ websocket.MessageType, f filter, in []byte, first, last bool) (int, bool, error) {
	b.mu.Lock()
	for b.err == nil && len(b.pending) > 0 && (len(b.pending) >= maxBatch || typ != b.typ) {
		b.mu.Unlock()
		<-b.room
		b.mu.Lock()
	}
	if b.err != nil {
		err := b.err
		b.mu.Unlock()
		return 0, false, err
	}
	b.typ = typ
	n := len(b.pending)
	out, input, err := f.filter(b.pending, in, first, last)
	if err != nil {
		b.pending = b.pending[:n] // out may be a longer copy; pending's first n bytes are unchanged
		b.mu.Unlock()
		return 0, false, err
	}
	b.pending = out
	passed := len(out) - n
	b.mu.Unlock()
	if passed > 0 {
		signal(b.wake)
	}
	return passed, input, nil
}

// finish sends what is pending and stops the writer; it returns the
// writer's error, if it had one.
func (b *batch) finish() error {
	b.mu.Lock()
	b.done = true
	b.mu.Unlock()
	signal(b.wake)
	<-b.exited
	return b.err
}

func (b *batch) write(ctx context.Context) {
	defer close(b.exited)
	var spare []byte
	for range b.wake {
		b.mu.Lock()
		data, typ, done := b.pending, b.typ, b.done
		b.pending = spare[:0]
		b.mu.Unlock()
		signal(b.room)
		if len(data) > 0 {
			if err := b.dst.Write(ctx, typ, data); err != nil {
				b.mu.Lock()
				b.err = err
				b.mu.Unlock()
				signal(b.room)
				return
			}
		}
		if done { // set by the reader after its last add: data was all of it
			return
		}
		spare = data
		if cap(spare) > 2*maxBatch { // one large chunk went through: do not keep its buffer
			spare = nil
		}
	}
}
