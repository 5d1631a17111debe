package loop

import (
	"sync"

	"github.com/asyncore-go/asyncore/internal/config"
)

// The loop's read buffer: one scratch buffer per loop that handlers read
// into, as libuv's alloc callback and gnet's per-loop buffer do. A loop
// runs one handler at a time, and input read into the buffer is handled —
// framed, copied or sent on — before the handler returns, so one buffer
// serves every connection of the loop and an idle connection holds none.

// ReadBufferSize is the length of the buffer BorrowReadBuffer lends:
// config.IOChunk, the most one read asks for.
const ReadBufferSize = config.IOChunk

// chunk is the buffer BorrowReadBuffer lends.
type chunk = [ReadBufferSize]byte

// nestedBuffers serves a borrow made while the loop's buffer is lent — a
// handler that reads another channel from inside its own input handling,
// as a proxy does — so the nested read never overwrites the input the outer
// handler is still working on.
var nestedBuffers = sync.Pool{New: func() any { return new(chunk) }}

// readBuffer is the loop's scratch buffer and whether it is lent.
type readBuffer struct {
	buf  *chunk // allocated on the first borrow
	lent bool
}

// BorrowReadBuffer lends a buffer of ReadBufferSize bytes to read into:
// the loop's own, allocated on first use, or — while that one is already
// lent — one from a pool shared by all loops. Give it back with
// ReturnReadBuffer, on the loop's goroutine, before the handler that
// borrowed it returns.
//
// The lifetime rule: what is read into the buffer is valid only until it
// is returned, and it is returned before the event handler that borrowed it
// returns; the next read on any channel of the loop overwrites it. Copy what
// must outlive the handler. This is the rule dispatcher.DataHandler's
// HandleData and chat's CollectIncomingData state for the slices they are
// lent.
//
// Like every Loop method except Post and Stop, it must be called on the
// loop's goroutine.
func (l *Loop) BorrowReadBuffer() []byte {
	rb := &l.readBuf
	if rb.lent {
		return nestedBuffers.Get().(*chunk)[:]
	}
	if rb.buf == nil {
		rb.buf = new(chunk)
	}
	rb.lent = true
	return rb.buf[:]
}

// ReturnReadBuffer gives back a buffer BorrowReadBuffer lent; b must be that
// slice (or start where it starts, with at least ReadBufferSize bytes).
// Returning the loop's own buffer makes it available to the next borrow;
// a pooled one goes back to the pool.
func (l *Loop) ReturnReadBuffer(b []byte) {
	rb := &l.readBuf
	if len(b) < ReadBufferSize {
		b = b[:cap(b)]
		if len(b) < ReadBufferSize {
			return // not a lent buffer
		}
	}
	c := (*chunk)(b[:ReadBufferSize])
	if c == rb.buf {
		rb.lent = false
		return
	}
	nestedBuffers.Put(c)
}
