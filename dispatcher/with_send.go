package dispatcher

import (
	"sync"
	"time"
)

// sendChunk is how much DispatcherWithSend hands to one send(2), as
// asyncore's dispatcher_with_send sends at most 65536 bytes per call.
const sendChunk = 65536

// shrinkAbove is the buffer capacity above which an emptied output buffer is
// released, so one large burst does not pin its memory for the connection's
// life.
const shrinkAbove = 256 << 10

// DefaultLingerTimeout is DispatcherWithSend.LingerTimeout's default: how
// long a CloseWhenDone may go without progress (nginx's
// lingering_timeout).
const DefaultLingerTimeout = 5 * time.Second

// maxLingerPeriods bounds a lingering close to this many LingerTimeouts in
// all (30 s with the default: nginx's lingering_time), however slowly the
// peer trickles input.
const maxLingerPeriods = 6

// Drainer is implemented by a handler that wants to hear when its queued
// output has all been written: DispatcherWithSend calls HandleDrained each
// time its queue goes from non-empty to empty (a Send written at once never
// queued anything and does not call it). It is the place to produce the
// next piece of a large reply, or to resume reading input that was paused
// while output piled up. chat.AsyncChat calls a HandleDrained method the
// same way.
type Drainer interface{ HandleDrained() }

// DispatcherWithSend is asyncore's dispatcher_with_send: a Dispatcher with an
// output buffer. Send queues data and writes as much as the socket takes at
// once; the rest goes out as the socket becomes writable. Embed it instead
// of Dispatcher for simple servers that only need buffered sending.
//
// Close drops whatever is still queued; CloseWhenDone writes it first.
// ShutdownWriteWhenDone is a client's half-close: send everything, then
// tell the peer "no more" and keep reading its answer.
type DispatcherWithSend struct {
	Dispatcher

	// LingerTimeout bounds a CloseWhenDone that stalls: if none of the
	// queued output has been written for that long (the peer stopped
	// reading), the dispatcher is closed and the rest dropped. A large
	// reply that keeps draining is never cut short. Once the output is
	// written, if the peer may still be sending, the close lingers: input
	// is read and dropped until the peer's EOF, or until LingerTimeout
	// passes without input (at most six LingerTimeouts in all), so that
	// the reply is not destroyed by a reset. Zero means
	// DefaultLingerTimeout; negative: no lingering, and a stalled
	// CloseWhenDone waits as long as WriteStallTimeout allows.
	LingerTimeout time.Duration

	out      []byte // queued output; out[off:] is still to go
	off      int
	flushing bool // the peer sent EOF: close once out is written

	closing    bool  // CloseWhenDone: close once out is written
	shutWr     bool  // ShutdownWriteWhenDone: shut down writing once out is written
	halfClosed bool  // … and it has been
	lingering  bool  // the close is bounded: lingerAt is its last progress
	lingerAt   int64 // loop.Loop.Now of the last progress of the close
	draining   bool  // output written, writing shut down: input is dropped until EOF
	drainStart int64
	dropped    bool // input arrived after CloseWhenDone
}

// withSend lets Init find the DispatcherWithSend around a Dispatcher.
func (d *DispatcherWithSend) withSend() *DispatcherWithSend { return d }

// Send queues data and tries to write it at once: asyncore's
// dispatcher_with_send.send. It returns nothing; errors go to HandleClose or
// HandleError as for Dispatcher.Send. Data sent while a connect is in
// progress waits for the connection. The data is copied only if it cannot all
// be written at once, so the caller may reuse it when Send returns. Data sent
// after CloseWhenDone or ShutdownWriteWhenDone is dropped.
func (d *DispatcherWithSend) Send(data []byte) {
	if d.Debug {
		d.LogInfo("sending "+quote(data), "info")
	}
	if len(data) == 0 || d.fd < 0 || d.closing || d.shutWr {
		return
	}
	if d.Pending() == 0 && d.connected {
		n, err := d.Dispatcher.Send(data)
		if err != nil || n == len(data) {
			return
		}
		data = data[n:]
	}
	if d.off > 0 && d.off >= len(d.out)/2 {
		// More than half the buffer has been sent: move the rest down, so
		// a connection whose buffer never empties (a slow reader) does not
		// keep every byte it ever sent. Each byte moves at most once per
		// halving, so this is amortised O(1) per byte.
		d.out = d.out[:copy(d.out, d.out[d.off:])]
		d.off = 0
	}
	d.out = append(d.out, data...)
	d.UpdateInterest()
}

// Pending reports how many bytes are queued and not yet written.
func (d *DispatcherWithSend) Pending() int { return len(d.out) - d.off }

// initiateSend is asyncore's initiate_send: write at most sendChunk bytes.
func (d *DispatcherWithSend) initiateSend() {
	if d.Pending() == 0 {
		d.whenDone()
		return
	}
	end := min(d.off+sendChunk, len(d.out))
	n, err := d.Dispatcher.Send(d.out[d.off:end])
	if err != nil {
		return // HandleClose or HandleError has run
	}
	d.off += n
	if n > 0 && d.lingering {
		// The close is making progress: LingerTimeout bounds a close
		// that has stalled, not one that is slow.
		d.lingerAt = d.now()
	}
	if d.off < len(d.out) {
		return
	}
	if cap(d.out) > shrinkAbove {
		d.out = nil
	} else {
		d.out = d.out[:0]
	}
	d.off = 0
	if x, ok := d.self.(Drainer); ok {
		epoch := d.epoch
		x.HandleDrained()
		if d.epoch != epoch || d.Pending() > 0 {
			return
		}
	}
	if d.flushing {
		_ = d.self.Close()
		return
	}
	d.whenDone()
}

// whenDone acts on CloseWhenDone or ShutdownWriteWhenDone once everything
// queued has been written.
func (d *DispatcherWithSend) whenDone() {
	if d.fd < 0 || d.draining || d.connecting && !d.connected || d.connected && d.Pending() > 0 {
		return // not yet; a socket that is neither connected nor connecting has nothing to wait for
	}
	switch {
	case d.closing:
		if d.linger() {
			return
		}
		d.lingering = false
		d.self.HandleClose()
	case d.shutWr && !d.halfClosed:
		d.halfClosed = true // done: the peer's EOF ends the connection
		if err := d.shutdownWrite(); err != nil {
			d.self.HandleClose() // the peer is gone already
			return
		}
		d.UpdateInterest()
	}
}

// CloseWhenDone closes the dispatcher once everything queued so far has been
// written, as asynchat's close_when_done does: Close would drop what the
// socket has not taken yet (a Send of 8 MiB followed by Close delivers only
// what fits in the socket buffers). From now on input is read and dropped
// — the handler's HandleRead is no longer called — and anything sent is
// dropped. The close goes through HandleClose, as asynchat's does.
//
// If the peer may still be sending when the output is written — input
// arrived after CloseWhenDone, or waits unread — the close lingers: a TCP
// close with unread input makes the kernel reset the connection instead of
// ending it, and the reset can destroy the last bytes written before the
// peer reads them. So the dispatcher shuts down its sending side (the peer
// reads everything, then EOF), reads and drops input until the peer's EOF,
// and only then closes. LingerTimeout bounds both a write that stalls and
// the lingering.
func (d *DispatcherWithSend) CloseWhenDone() {
	if d.fd < 0 || d.closing {
		return
	}
	d.closing, d.shutWr = true, false
	d.dropInput = true
	if to := d.lingerTimeout(); to > 0 {
		d.lingering, d.lingerAt = true, d.now()
		d.armTimeout(time.Duration(d.lingerAt) + to)
	}
	d.UpdateInterest()
	d.whenDone()
}

// ShutdownWriteWhenDone is the client's half-close: once everything queued
// so far has been written, it shuts down the sending side (Socket().ShutdownWrite),
// so the peer reads EOF after the last byte, and keeps reading — HandleRead
// goes on as before — until the peer's own EOF, whose HandleClose ends the
// connection. A client that sends a request and then waits for the whole
// answer (`printf 'a\n' | client`) calls it after its last Send. Data sent
// afterwards is dropped.
func (d *DispatcherWithSend) ShutdownWriteWhenDone() {
	if d.fd < 0 || d.closing || d.shutWr {
		return
	}
	d.shutWr = true
	d.whenDone()
}

func (d *DispatcherWithSend) lingerTimeout() time.Duration {
	return effective(d.LingerTimeout, DefaultLingerTimeout)
}

// linger starts a lingering close once a CloseWhenDone's output is all
// written, if the peer may still be sending (see CloseWhenDone), and
// reports whether it did. A peer that already sent EOF, a datagram socket,
// or a negative LingerTimeout close at once.
func (d *DispatcherWithSend) linger() bool {
	if d.eof || d.sotype != SockStream || d.isFile || d.lingerTimeout() == 0 || d.m.Loop() == nil {
		return false
	}
	if d.unread() == 0 && !d.dropped {
		return false
	}
	if err := d.shutdownWrite(); err != nil {
		return false // the peer is gone already: nothing to protect
	}
	now := d.now()
	d.draining, d.drainStart = true, now
	d.lingering, d.lingerAt = true, now
	if at, ok := d.lingerDeadline(); ok {
		d.armTimeout(at)
	}
	d.UpdateInterest()
	return true
}

// lingerDeadline is when a CloseWhenDone gives up: LingerTimeout after its
// last progress — output written, or, once draining, input dropped — and
// for a drain no later than maxLingerPeriods LingerTimeouts after it began.
func (d *DispatcherWithSend) lingerDeadline() (time.Duration, bool) {
	to := d.lingerTimeout()
	if !d.lingering || to == 0 {
		return 0, false
	}
	at := time.Duration(d.lingerAt) + to
	if d.draining {
		at = min(at, time.Duration(d.drainStart)+maxLingerPeriods*to)
	}
	return at, true
}

// handleLinger closes a CloseWhenDone whose deadline has passed by now.
func (d *DispatcherWithSend) handleLinger(now int64) {
	at, ok := d.lingerDeadline()
	if !ok || now < int64(at) {
		return
	}
	d.countTimeout()
	if d.draining {
		// Everything was written; the peer just never finished.
		d.self.HandleClose()
		return
	}
	_ = d.self.Close()
}

// discardBuffers is where Recv puts input read after CloseWhenDone.
var discardBuffers = sync.Pool{New: func() any { return new([16 << 10]byte) }}

// dropRead reads and drops input after CloseWhenDone; EOF reaches
// HandleClose as usual.
func (d *DispatcherWithSend) dropRead() {
	buf := discardBuffers.Get().(*[16 << 10]byte)
	n, _ := d.Recv(buf[:])
	discardBuffers.Put(buf)
	if n > 0 {
		d.dropped = true
		if d.draining {
			d.lingerAt = d.now()
		}
	}
}

// closed resets the close state and releases the queue when the socket
// closes: what was not written is dropped.
func (d *DispatcherWithSend) closed() {
	d.out, d.off = nil, 0
	d.flushing, d.closing, d.shutWr, d.halfClosed = false, false, false, false
	d.lingering, d.draining, d.dropped = false, false, false
}

// HandleClose is asyncore's handle_close, with one difference: when the peer
// has only finished sending (EOF) and output is still queued, it writes that
// first and closes afterwards, so a client that half-closes after its
// request still gets the whole answer (docs/asyncore-compat.md#half-close). A
// second HandleClose while flushing — the peer went away entirely — closes at
// once, through Dispatcher.HandleClose. The peer's EOF during a CloseWhenDone
// that still has output to write waits for that output too.
func (d *DispatcherWithSend) HandleClose() {
	if d.eof && !d.flushing && d.Pending() > 0 && d.connected {
		d.flushing = true
		d.UpdateInterest()
		return
	}
	d.Dispatcher.HandleClose()
}

// HandleWrite writes queued output: asyncore's dispatcher_with_send
// handle_write.
func (d *DispatcherWithSend) HandleWrite() { d.initiateSend() }

// Writable is true while output is queued, or before the socket is
// connected (asyncore: "(not self.connected) or len(self.out_buffer)"),
// and while a CloseWhenDone or ShutdownWriteWhenDone waits for its turn.
func (d *DispatcherWithSend) Writable() bool {
	return !d.connected || d.Pending() > 0 || d.shutWr && !d.halfClosed || d.closing && !d.draining
}
