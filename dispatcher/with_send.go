package dispatcher

import (
	"sync"
	"time"

	"github.com/asyncore-go/asyncore/internal/config"
	"github.com/asyncore-go/asyncore/internal/lifecycle"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/producer"
)

// DefaultLingerTimeout is DispatcherWithSend.LingerTimeout's default: how
// long a CloseWhenDone may go without progress (nginx's
// lingering_timeout).
const DefaultLingerTimeout = 5 * time.Second

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

	// q is the output queue and the close lifecycle, allocated when first
	// needed — a Send the socket does not take at once, or a close that
	// begins — and released when the socket closes: most connections of a
	// busy server write every reply at once, and an idle one then holds
	// no queue (see sendState).
	q *sendState
}

// sendState is the part of a DispatcherWithSend that only a connection
// with output waiting, or one that is closing, needs.
type sendState struct {
	// out is the queued output: the same queue AsyncChat uses, holding
	// only copied data here. Its buffers go back to the pools all queues
	// share once written, so an idle dispatcher holds none.
	out producer.FIFO
	// life is the close lifecycle: CloseWhenDone, ShutdownWriteWhenDone,
	// the flush after the peer's EOF and the lingering close.
	life lifecycle.Machine
	// tlsAt is, while StartTLS waits, how many bytes at the head of out
	// are the reply before the switch: they go out in plaintext, and
	// what was sent after StartTLS waits behind them for the handshake.
	tlsAt int
}

// state returns the send state, allocating it on first use.
func (d *DispatcherWithSend) state() *sendState {
	if d.q == nil {
		d.q = new(sendState)
	}
	return d.q
}

// lifeState is the close lifecycle's state: Open until a close begins.
func (d *DispatcherWithSend) lifeState() lifecycle.State {
	if d.q == nil {
		return lifecycle.Open
	}
	return d.q.life.State()
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
	if len(data) == 0 || d.fd < 0 || d.lifeState() != lifecycle.Open {
		return
	}
	if d.Pending() == 0 && d.connected {
		n, err := d.Dispatcher.Send(data)
		if err != nil || n == len(data) {
			return
		}
		data = data[n:]
	}
	d.state().out.Push(data) // a slow reader's buffer is compacted, not grown (producer.FIFO.Push)
	d.UpdateInterest()
}

// Pending reports how many bytes are queued and not yet written.
func (d *DispatcherWithSend) Pending() int {
	if d.q == nil {
		return 0
	}
	return d.q.out.Len()
}

// initiateSend is asyncore's initiate_send: write at most config.IOChunk
// bytes with one send(2).
func (d *DispatcherWithSend) initiateSend() {
	if d.Pending() == 0 {
		d.whenDone()
		return
	}
	q := d.q // not nil: output is pending
	limit := config.IOChunk
	awaitTLS := d.tls != nil && d.tls.phase == tlsAwaitFlush
	if awaitTLS {
		limit = min(limit, q.tlsAt) // no plaintext past the switch point
	}
	var one [1][]byte // one buffer, one send(2)
	bufs := q.out.Gather(one[:0], limit, len(one))
	n, err := d.Dispatcher.Send(bufs[0])
	if err != nil {
		return // HandleClose or HandleError has run
	}
	q.out.Consume(n)
	q.life.Wrote(d.conn(), n)
	if awaitTLS {
		if q.tlsAt -= n; q.tlsAt == 0 {
			// STARTTLS: the reply is out; what was sent after
			// StartTLS waits for the handshake.
			_ = d.startAfterFlush()
		}
		return
	}
	if d.Pending() > 0 {
		return
	}
	if x, ok := d.self.(Drainer); ok {
		epoch := d.epoch
		x.HandleDrained()
		if d.epoch != epoch || d.Pending() > 0 {
			return
		}
	}
	if d.q != nil && d.q.life.Flushing() {
		_ = d.self.Close()
		return
	}
	d.whenDone()
}

// whenDone acts on CloseWhenDone or ShutdownWriteWhenDone once everything
// queued has been written.
func (d *DispatcherWithSend) whenDone() {
	st := d.lifeState()
	if d.fd < 0 || st == lifecycle.Draining || d.connecting && !d.connected || d.connected && d.Pending() > 0 {
		return // not yet; a socket that is neither connected nor connecting has nothing to wait for
	}
	switch st { // not Open: d.q is allocated
	case lifecycle.Closing:
		if d.q.life.Linger(d.conn(), d.lingerTimeout()) {
			d.UpdateInterest()
			return
		}
		d.q.life.StopClock()
		d.self.HandleClose()
	case lifecycle.HalfClosing:
		d.q.life.HalfClosed() // done: the peer's EOF ends the connection
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
	if d.fd < 0 || d.q != nil && d.q.life.Closing() {
		return
	}
	d.dropInput = true
	d.state().life.BeginClose(d.conn(), d.lingerTimeout())
	d.UpdateInterest()
	d.whenDone()
}

// ShutdownWriteWhenDone is the client's half-close: once everything queued
// so far has been written, it shuts down the sending side (ShutdownWrite),
// so the peer reads EOF after the last byte, and keeps reading — HandleRead
// goes on as before — until the peer's own EOF, whose HandleClose ends the
// connection. A client that sends a request and then waits for the whole
// answer (`printf 'a\n' | client`) calls it after its last Send. Data sent
// afterwards is dropped.
func (d *DispatcherWithSend) ShutdownWriteWhenDone() {
	if d.fd < 0 || d.lifeState() != lifecycle.Open {
		return
	}
	d.state().life.BeginHalfClose()
	d.whenDone()
}

func (d *DispatcherWithSend) lingerTimeout() time.Duration {
	return config.Or(d.LingerTimeout, DefaultLingerTimeout)
}

// lingerDeadline is when a CloseWhenDone gives up (lifecycle.Machine.Deadline),
// for the dispatcher's timer.
func (d *DispatcherWithSend) lingerDeadline() (time.Duration, bool) {
	if d.q == nil {
		return 0, false
	}
	return d.q.life.Deadline(d.lingerTimeout())
}

// handleLinger closes a CloseWhenDone whose deadline has passed by now.
func (d *DispatcherWithSend) handleLinger(now int64) {
	if d.q == nil {
		return
	}
	switch d.q.life.Expired(time.Duration(now), d.lingerTimeout()) {
	case lifecycle.Drained:
		// Everything was written; the peer just never finished.
		d.countTimeout()
		d.self.HandleClose()
	case lifecycle.Stalled:
		d.countTimeout()
		_ = d.self.Close()
	}
}

// discardBuffers is where Recv puts input read after CloseWhenDone.
var discardBuffers = sync.Pool{New: func() any { return new([config.DiscardBuffer]byte) }}

// dropRead reads and drops input after CloseWhenDone; EOF reaches
// HandleClose as usual.
func (d *DispatcherWithSend) dropRead() {
	buf := discardBuffers.Get().(*[config.DiscardBuffer]byte)
	n, _ := d.Recv(buf[:])
	discardBuffers.Put(buf)
	if n > 0 {
		d.state().life.Dropped(d.conn())
	}
}

// closed resets the close state and releases the queue when the socket
// closes: what was not written is dropped.
func (d *DispatcherWithSend) closed() {
	d.q = nil
}

// HandleClose is asyncore's handle_close, with one difference: when the peer
// has only finished sending (EOF) and output is still queued, it writes that
// first and closes afterwards, so a client that half-closes after its
// request still gets the whole answer (docs/asyncore-compat.md#half-close). A
// second HandleClose while flushing — the peer went away entirely — closes at
// once, through Dispatcher.HandleClose. The peer's EOF during a CloseWhenDone
// that still has output to write waits for that output too.
func (d *DispatcherWithSend) HandleClose() {
	if d.Pending() > 0 && d.q.life.StartFlush(d.eof, true, d.connected) {
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
	st := d.lifeState()
	return !d.connected || d.Pending() > 0 || st == lifecycle.HalfClosing || st == lifecycle.Closing
}

// lifeConn is a dispatcher as its close lifecycle sees it (lifecycle.Conn).
// It is one pointer, so passing it as an interface does not allocate.
type lifeConn struct{ d *Dispatcher }

func (x lifeConn) Loop() *loop.Loop            { return x.d.m.Loop() }
func (x lifeConn) EOF() bool                   { return x.d.eof }
func (x lifeConn) Type() int                   { return int(x.d.sotype) }
func (x lifeConn) Unread() int                 { return x.d.unread() }
func (x lifeConn) ShutdownWrite() error        { return x.d.shutdownWrite() }
func (x lifeConn) ArmTimeout(at time.Duration) { x.d.armTimeout(at) }

// conn is d as its lifecycle sees it.
func (d *DispatcherWithSend) conn() lifecycle.Conn { return lifeConn{&d.Dispatcher} }
