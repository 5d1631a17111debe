package chat

import (
	"bytes"
	"sync"
	"time"

	"github.com/asyncore-go/asyncore/internal/config"
	"github.com/asyncore-go/asyncore/loop"
)

// The input side of AsyncChat: reads, framing at the terminator, the input
// limits and the flow control that postpones or holds input already read.

// inputWait says why input already read waits in c.in unframed, if it does.
// While it waits the chat reads nothing more (Readable is false), so what
// it holds is at most one read.
type inputWait uint8

const (
	// waitNone: no input waits; c.in holds at most a partial delimiter.
	waitNone inputWait = iota
	// waitTurn: the read delivered FramesPerRead frames already; the rest
	// is framed after the other channels' events (see postpone).
	waitTurn
	// waitOutput: the output queue went above OutHighWater; the rest is
	// framed once it drains below OutLowWater (see hold).
	waitOutput
)

// Reads go into the loop's read buffer (loop.Loop.BorrowReadBuffer). Input
// is framed as soon as it arrives and only a partial delimiter is kept, so a
// read buffer is needed only for the length of HandleRead: the loop's one
// buffer serves all its channels, an idle connection holds none (F11
// slowloris, docs/failure-modes.md), and a handler that reads another
// channel from inside FoundTerminator gets a buffer of its own.
//
// largeReads holds the buffers of the rare read that does not fit in the
// loop's: an InBufferSize above loop.ReadBufferSize, or a partial delimiter
// of half the buffer or more.
var largeReads = sync.Pool{New: func() any { return new([]byte) }}

// HandleRead reads what the socket has, frames it, and writes the replies
// the frames produced with one gathered write: asynchat's handle_read.
func (c *AsyncChat) HandleRead() {
	if c.wait != waitNone || c.startTLS != nil {
		// Input read earlier waits to be framed, and the chat is not
		// watched for reading; only a hang-up calls HandleRead now (see
		// dispatcher's handleHangup). Reading would let a peer that
		// does not read its replies grow c.in, and the peer that hung
		// up cannot receive replies anyway: it is closed.
		return
	}
	size := c.InBufferSize
	if size <= 0 {
		size = DefaultBufferSize
	}
	// A partial delimiter kept from the last read goes in front of this
	// one in the borrowed buffer, so c.in never grows to a read's size and
	// an idle channel keeps only those few bytes. With the default size the
	// read then asks for that many bytes less, to fit the loop's buffer.
	k := len(c.in)
	if size > loop.ReadBufferSize || k >= loop.ReadBufferSize/2 {
		c.readLarge(k, size)
		return
	}
	l := c.Map().Loop()
	buf := l.BorrowReadBuffer()
	defer l.ReturnReadBuffer(buf) // also if a handler panics
	c.readInto(buf[:min(k+size, len(buf))], k)
}

// readLarge is HandleRead into a pooled buffer of k+size bytes.
func (c *AsyncChat) readLarge(k, size int) {
	bp := largeReads.Get().(*[]byte)
	if cap(*bp) < k+size {
		*bp = make([]byte, k+size)
	}
	c.readInto((*bp)[:k+size], k)
	largeReads.Put(bp)
}

// readInto copies the partial delimiter c.in to the front of buf, reads
// into the rest, and frames the input.
func (c *AsyncChat) readInto(buf []byte, k int) {
	copy(buf, c.in)
	if n, _ := c.Recv(buf[k:]); n > 0 { // errors have gone to HandleClose or HandleError
		if c.life.Closing() {
			c.life.Dropped(chatConn{c}) // read only to be dropped (see feed)
		}
		c.in = c.in[:0]
		// Asked on every read rather than kept in a field: the flag
		// would cost the chat a word, and its size class (size_test.go).
		if p, ok := c.self.(InputPeeker); ok && c.life.Acting() {
			p.PeekInput(buf[:k+n])
		}
		c.handleInput(buf[:k+n])
		c.initiateSend()
	}
}

// InputPeeker is what an embedding type implements to see the input of
// each read whole, before it is framed: PeekInput receives the bytes that
// CollectIncomingData and FoundTerminator are about to be given, in order
// — after the few bytes of a partial delimiter kept from the last read, if
// there are any — and then framing starts. Asynchat has no such hook: it
// is for a server that handles pipelined requests and can prepare for a
// whole batch at once. examples/resp looks up the keys of a read's commands
// together there, so that their cache misses overlap instead of coming one
// after another.
//
// data is lent, as to CollectIncomingData (valid until PeekInput returns),
// and is read-only. PeekInput must not act on the chat: no Push, no
// SetTerminator, no Close; the frames it has seen are delivered next. It
// is not called for input a close has made moot, nor again for input held
// back by FramesPerRead or OutHighWater and framed later.
type InputPeeker interface {
	PeekInput(data []byte)
}

// handleInput frames data with writes held back until it is done, so the
// replies to pipelined requests leave in one system call.
func (c *AsyncChat) handleInput(data []byte) {
	c.reading = true
	defer func() { // also if a handler panics
		c.reading = false
		c.settle() // the input is about to be reused
	}()
	c.feed(data)
}

// feed frames data — what was kept of the last read followed by this one:
// asynchat's handle_read loop, one Match at a time.
func (c *AsyncChat) feed(data []byte) {
	if !c.life.Acting() {
		return // a close was decided: later input is not acted on (F22 frames-after-close)
	}
	frames, most := 0, config.Or(c.FramesPerRead, DefaultFramesPerRead)
	partial := false // the input ends inside a frame
	for len(data) > 0 && c.open() {
		if c.term.kind == kindLength && c.overLength() {
			return
		}
		// Match's core, updating c.term in place (see match); its
		// one-byte-delimiter case, the common line terminator, inline.
		var n, adv int
		var found, wait bool
		if d := c.term.delim; c.term.kind == kindDelim && len(d) == 1 {
			n = bytes.IndexByte(data, d[0])
			if found = n >= 0; found {
				adv = n + 1
			} else {
				n, adv = len(data), len(data)
			}
		} else {
			n, adv, found, wait = match(data, &c.term)
		}
		partial = !found
		if n > 0 && !c.collect(data[:n]) {
			break // over MaxLine, or the collector failed or closed: the frame is not delivered
		}
		if n >= lendFrom && found {
			c.lentLine(data[:adv], n) // lend.go
		}
		data = data[adv:]
		if found {
			frames++
			data = c.deliver(data)
			if len(data) > 0 && (c.paused || most > 0 && frames >= most) && c.stopAfter(data, frames, most) {
				return
			}
		} else if wait {
			break
		}
	}
	if partial && !c.framing && c.open() {
		// Only a frame the input ends inside can time out: one that
		// begins and ends in the same read needs no clock, so the clock
		// starts here, once per read, rather than at every frame. The
		// frame began in this read, whose time l.Now() still reports.
		c.startFrame()
	}
	c.keep(data)
}

// collect hands the next n bytes of a frame to CollectIncomingData, after
// checking MaxLine, and reports whether framing goes on. Only input waiting
// for a delimiter makes a line: what None or a length collected before a
// switch to a delimiter does not.
func (c *AsyncChat) collect(piece []byte) bool {
	c.frame += len(piece)
	if c.term.kind != kindDelim {
		c.frame = 0
	}
	if limit := config.Or(c.MaxLine, DefaultMaxLine); limit > 0 && c.frame > limit {
		c.fail(ErrLineTooLong)
		return false
	}
	if len(piece) >= lendFrom && c.reading && !c.lent && cap(c.in) == 0 && c.term.kind == kindDelim {
		c.offer(piece) // lend.go
	} else {
		c.self.CollectIncomingData(piece[:len(piece):len(piece)])
		if debugCollect {
			poison(piece) // the handler's loan has ended
		}
	}
	return c.open()
}

// deliver ends the current frame with FoundTerminator and returns the input
// left to frame: none if the handler called DiscardBuffers, as asynchat's
// discard_buffers empties ac_in_buffer.
func (c *AsyncChat) deliver(rest []byte) []byte {
	c.frame = 0
	c.framing = false
	c.discarded = false
	c.replyBase = c.out.Len()
	c.self.FoundTerminator()
	c.replyBase = 0
	if c.discarded {
		if c.startTLS != nil {
			c.tlsDropped(len(rest)) // pipelined behind STARTTLS (tls.go)
		}
		return nil
	}
	return rest
}

// stopAfter decides, after a frame, whether the rest of the input waits:
// held while the output is above OutHighWater, postponed once this read
// has delivered most frames. It reports whether it does.
func (c *AsyncChat) stopAfter(rest []byte, frames, most int) bool {
	if len(rest) == 0 || !c.open() {
		return false
	}
	switch {
	case c.paused:
		c.hold(rest)
	case most > 0 && frames >= most:
		c.postpone(rest)
	default:
		return false
	}
	return true
}

// keep stores what feed did not frame — a partial delimiter, if any — in
// c.in, in a small buffer once a large backlog has been framed.
func (c *AsyncChat) keep(data []byte) {
	c.settle()
	if !c.open() {
		c.in = nil
		return
	}
	c.overLength()
	if cap(c.in) > config.MaxKeptIn && len(data) <= config.MaxKeptIn/2 {
		c.in = nil // a postponed backlog was framed: give its buffer back
	}
	c.in = append(c.in[:0], data...) // the partial delimiter, if any
}

// postpone keeps input read but not yet framed, because this read has
// delivered FramesPerRead frames already, and arranges for it to be framed
// after the other channels of this loop iteration have had their events:
// by a function posted to the loop (phase 5). Until then the chat does not
// read (Readable is false), so the backlog cannot grow.
func (c *AsyncChat) postpone(data []byte) {
	c.settle()
	c.in = append(c.in[:0], data...) // data may be a suffix of c.in: append moves it
	l := c.Map().Loop()
	if l == nil {
		return
	}
	if c.resumeFn == nil {
		c.resumeFn = c.resume
	}
	if l.Post(c.resumeFn) == nil {
		c.wait = waitTurn
		c.UpdateInterest()
	}
}

// hold keeps input read but not yet framed, because the replies queued so
// far are above OutHighWater: per-frame flow control. Framing a pipelined
// request only to queue its reply behind a megabyte the peer has not read
// yet gains nothing and costs memory, so the chat stops at the frame that
// crossed the high-water mark, as nginx does not parse the next pipelined
// request before the current reply is sent. It reads nothing more
// meanwhile (Readable is false), so what it holds is at most one read.
// When the queue drains below OutLowWater, initiateSend hands the input to
// postpone, which frames it in the same loop iteration.
func (c *AsyncChat) hold(data []byte) {
	c.settle()
	c.in = append(c.in[:0], data...) // data may be a suffix of c.in: append moves it
	c.wait = waitOutput
	c.UpdateInterest()
}

// unhold forgets that input was held above OutHighWater: the input itself
// has been dropped.
func (c *AsyncChat) unhold() {
	if c.wait == waitOutput {
		c.wait = waitNone
	}
}

// resume frames a postponed backlog (see postpone) and writes the replies.
func (c *AsyncChat) resume() {
	if c.wait != waitTurn {
		return
	}
	c.wait = waitNone
	c.UpdateInterest()
	if c.Fd() < 0 {
		return
	}
	c.handleInput(c.in)
	c.initiateSend()
}

// startFrame starts the frame clock for a frame whose first byte came in
// the current read.
func (c *AsyncChat) startFrame() {
	to := config.Or(c.FrameTimeout, DefaultFrameTimeout)
	if to == 0 || c.term.IsNone() {
		return
	}
	l := c.Map().Loop()
	if l == nil {
		return
	}
	c.framing, c.frameAt = true, int64(l.Now())
	c.Hooks().ArmTimeout(time.Duration(c.frameAt + int64(to)))
}

// frameTimeout is the frame timeout if a frame is under way: none while
// the terminator is None (SetTerminator(None) mid-frame stops the clock),
// since collecting everything has no frame to finish.
func (c *AsyncChat) frameTimeout() time.Duration {
	if !c.framing || c.term.IsNone() {
		return 0
	}
	return config.Or(c.FrameTimeout, DefaultFrameTimeout)
}

// open reports whether input should still be framed.
func (c *AsyncChat) open() bool { return c.Fd() >= 0 && c.life.Acting() }

// overLength fails the channel if its length terminator is above
// MaxMessage: a length announced by the peer must not make us wait for, or
// collect, more than we are willing to hold
// (docs/failure-modes.md#f9-announced-length).
func (c *AsyncChat) overLength() bool {
	n, ok := c.term.Len()
	if limit := config.Or(c.MaxMessage, DefaultMaxMessage); ok && limit > 0 && n > limit {
		c.fail(ErrMessageTooLarge)
		return true
	}
	return false
}

// fail handles a peer that broke a limit: HandleError gets the error (the
// default logs it and closes), and if the handler kept the channel open —
// to push an error reply, say — the chat closes once that is written. No
// further input is framed either way.
func (c *AsyncChat) fail(err error) {
	if err != ErrFrameTimeout {
		c.Hooks().CountLimitClose()
	}
	c.life.Fail()
	c.life.Dropped(chatConn{c}) // the rest of the frame is likely on its way
	c.in, c.incoming, c.lent, c.offered = nil, nil, false, false
	c.self.HandleError(err)
	if c.Fd() >= 0 {
		c.CloseWhenDone()
	}
}

// CollectIncomingData is the default collector: it appends data to a buffer
// that TakeData empties. It fails the channel with ErrMessageTooLarge rather
// than hold more than MaxMessage bytes.
func (c *AsyncChat) CollectIncomingData(data []byte) {
	if limit := config.Or(c.MaxMessage, DefaultMaxMessage); limit > 0 && len(c.incoming)+len(data) > limit {
		c.fail(ErrMessageTooLarge)
		return
	}
	if c.offered || c.lent {
		if c.lend(data) {
			return
		}
		c.settle()
	}
	if len(c.incoming) == 0 && cap(c.incoming) > config.KeepIncoming {
		// The last message was large and has been taken: start a small
		// buffer, so one big message is not held for the connection's life.
		c.incoming = nil
	}
	c.incoming = append(c.incoming, data...)
}

// TakeData returns what the default collector has gathered and empties it:
// asynchat's _get_data. The slice is reused by the next collection, so use
// or copy it before returning from FoundTerminator. A long line (1 KiB or
// more) that arrived in one read is not copied at all: the slice points
// into the read buffer, and may grow by the delimiter's length without
// allocating, as in Push(append(c.TakeData(), '\n')).
func (c *AsyncChat) TakeData() []byte {
	data := c.incoming
	c.emptyIncoming()
	return data
}

// FoundTerminator is called when a frame is complete. asynchat's version
// raises NotImplementedError; this one logs "unhandled found terminator" as
// a warning and drops the collected data, so memory stays bounded.
func (c *AsyncChat) FoundTerminator() {
	c.LogInfo("unhandled found terminator", "warning")
	c.emptyIncoming()
}

// Readable is asynchat's readable(), always true there; here it is false
// while queued output is above OutHighWater, and while input already read
// waits to be framed (FramesPerRead, or held above OutHighWater), and while
// StartTLS waits for its reply to be written.
func (c *AsyncChat) Readable() bool { return !c.paused && c.wait == waitNone && c.startTLS == nil }

// DiscardBuffers drops buffered input, collected data and queued output:
// asynchat's discard_buffers. Called from FoundTerminator, it also drops
// the rest of the input read with that frame, as asynchat's does.
func (c *AsyncChat) DiscardBuffers() {
	c.discarded = true
	c.emptyIncoming()
	c.in = c.in[:0]
	c.unhold()
	c.frame = 0
	c.framing = false
	c.out.Discard()
	c.replyBase = 0
	c.paused = false
	c.UpdateInterest()
}
