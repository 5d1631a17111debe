package chat

import (
	"sync"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/producer"
)

// Defaults for the AsyncChat fields left at zero.
const (
	// DefaultBufferSize is asynchat's ac_in_buffer_size and
	// ac_out_buffer_size: the most bytes one read asks for, and the most
	// bytes one write hands the kernel.
	DefaultBufferSize = 65536
	// DefaultFramesPerRead is how many frames one read may deliver before
	// the other channels get their turn.
	DefaultFramesPerRead = 1024
	// DefaultMaxLine bounds a frame waiting for its delimiter.
	DefaultMaxLine = 64 << 10
	// DefaultMaxMessage bounds a length terminator, and what the default
	// collector holds.
	DefaultMaxMessage = 1 << 20
	// DefaultOutHighWater is the queued output above which reading stops.
	DefaultOutHighWater = 1 << 20
	// DefaultOutLimit is the queued output above which the channel is
	// closed.
	DefaultOutLimit = 32 << 20
	// DefaultFrameTimeout bounds a frame from its first byte to its
	// terminator: nginx's client_header_timeout.
	DefaultFrameTimeout = 60 * time.Second
	// DefaultLingerTimeout bounds a CloseWhenDone that makes no progress:
	// nginx's lingering_timeout.
	DefaultLingerTimeout = 5 * time.Second
)

// keepIncoming is the largest default-collector buffer kept for reuse once
// its data has been taken.
const keepIncoming = 64 << 10

// Handler is what an AsyncChat's embedding type can override: everything a
// dispatcher's can, plus the two asynchat override points.
type Handler interface {
	dispatcher.Handler
	// CollectIncomingData is asynchat's collect_incoming_data: it receives
	// the input of the current frame, in pieces, as it arrives.
	//
	// data is only lent: it points into a read buffer that later reads
	// reuse (and other connections borrow), so it is valid only until
	// CollectIncomingData returns, as bufio.Scanner.Bytes is until the
	// next Scan. Copy what you keep — c.buf = append(c.buf, data...) — and
	// never keep data itself: asynchat's self.buffer.append(data), ported
	// as c.parts = append(c.parts, data), yields corrupted frames later.
	// Under go test -race, or with ASYNCORE_DEBUG=1 in the environment,
	// the chat overwrites data with '#' bytes as soon as the call returns,
	// so that such a bug shows at once (see debug.go).
	CollectIncomingData(data []byte)
	// FoundTerminator is asynchat's found_terminator: the current frame is
	// complete.
	FoundTerminator()

	asyncChat() *AsyncChat
}

// AsyncChat is asynchat's async_chat: a dispatcher that splits its input
// into frames at a Terminator and queues its output. Embed it, override
// CollectIncomingData (or use the default collector and TakeData) and
// FoundTerminator, and call Init. The exported fields may be set before the
// connection starts or changed while it runs; zero means the default.
//
// Unlike asynchat, which has no limits at all, an AsyncChat is protected
// against hostile and broken peers by default. Each default applies to the
// field left at zero; a negative value turns it off:
//
//	IdleTimeout        120 s    no input or output progress: ErrIdleTimeout (dispatcher)
//	WriteStallTimeout  60 s     queued output not moving: ErrWriteStall (dispatcher)
//	FrameTimeout       60 s     first byte of a frame to its terminator: ErrFrameTimeout
//	LingerTimeout      5 s      a stalled CloseWhenDone, and the lingering close
//	MaxLine            64 KiB   a frame waiting for its delimiter: ErrLineTooLong
//	MaxMessage         1 MiB    a length terminator, the default collector: ErrMessageTooLarge
//	OutHighWater       1 MiB    queued output above which framing and reading stop
//	OutLimit           32 MiB   one reply, or output nobody reads: ErrOutputLimit
//	FramesPerRead      1024     frames one read delivers before other channels run
//
// OutLowWater defaults to half of OutHighWater; InBufferSize and
// OutBufferSize to 65536, as in asynchat. The two dispatcher timeouts are
// on because Init calls Hooks().UseServerTimeouts; a timeout that fires, like a
// limit, reaches HandleError with a peer-caused error (the default logs
// and closes). So for asynchat's behaviour, set all of them to -1; for a
// client that waits on a slow server, set IdleTimeout and FrameTimeout to
// -1 at least. Lowering a timeout on a running chat takes effect after
// Hooks().ResetTimeouts.
//
// If the embedding type has a HandleDrained() method (dispatcher.Drainer),
// it is called each time the queued output has all been written — the
// place to push the next block of a long transfer, or to shut down
// sending. It is not called for a Push written at once, which queued
// nothing (Pending is 0 right after it), nor when the queue is emptied by
// DiscardBuffers or by closing, nor after CloseWhenDone.
type AsyncChat struct {
	dispatcher.Dispatcher

	// InBufferSize is asynchat's ac_in_buffer_size: the most bytes one read
	// asks for.
	InBufferSize int
	// OutBufferSize is asynchat's ac_out_buffer_size: the most bytes one
	// write hands the kernel, which bounds what one client's writable
	// event can cost the others.
	OutBufferSize int
	// FramesPerRead bounds the frames one read delivers (to
	// FoundTerminator) before the chat lets the loop serve the other
	// channels: the rest of the input is kept and framed later in the
	// same loop iteration (phase 5), without another read, and reading
	// waits until it is done. A read is at most InBufferSize bytes, but
	// 64 KiB of two-byte lines is 32,768 frames — tens of milliseconds in
	// one event. Negative: no limit.
	FramesPerRead int
	// MaxLine bounds the bytes of a frame received while waiting for a
	// delimiter; going past it is ErrLineTooLong. Negative: no limit.
	MaxLine int
	// MaxMessage bounds a length terminator and the bytes the default
	// collector holds; going past it is ErrMessageTooLarge. Negative: no
	// limit.
	MaxMessage int
	// OutHighWater is the queued output above which the chat stops
	// framing input until the queue drains below OutLowWater: checked
	// after every frame, so the reply that crosses it is the last one
	// queued, and the rest of the input already read is held, unframed,
	// while nothing more is read. A peer that pipelines requests without
	// reading the replies therefore costs at most about OutHighWater plus
	// one reply plus one read, and one that reads gets every reply of
	// any pipeline, however much they add up to. Negative: never stop.
	OutHighWater int
	// OutLowWater is where framing and reading resume — in the same loop
	// iteration as the write that drained the queue; zero means half of
	// OutHighWater.
	OutLowWater int
	// OutLimit is the queued output above which the channel fails with
	// ErrOutputLimit and is closed. Inside FoundTerminator it bounds that
	// frame's reply alone (what is still queued of the replies before it
	// does not count), so only a single reply larger than OutLimit, or
	// output pushed from outside FoundTerminator to a peer that does not
	// read, closes the channel. Negative: no limit.
	OutLimit int
	// FrameTimeout bounds the time from the first byte of a frame to its
	// terminator; going past it is ErrFrameTimeout, handled like the
	// input limits. It is what stops a peer that trickles a request a byte
	// at a time: such a peer is never idle. It does not apply while the
	// terminator is None (collect everything). Negative: off.
	FrameTimeout time.Duration
	// LingerTimeout bounds a CloseWhenDone that has stalled: if no queued
	// output has been written for that long since CloseWhenDone (or since
	// the last write after it), the channel is closed anyway, dropping the
	// rest. A large reply that keeps draining is never cut short. Once the
	// output is written, if the peer is still sending, the close lingers
	// (see linger): input is read and dropped until the peer's EOF, or
	// until LingerTimeout passes without input, so that the reply is not
	// destroyed by an RST. Negative: no lingering, and a stalled
	// CloseWhenDone waits as long as WriteStallTimeout allows.
	LingerTimeout time.Duration

	self     Handler
	drainer  drainer // self, if it has HandleDrained
	term     Terminator
	in       []byte // a partial delimiter kept between reads
	incoming []byte // the default collector's buffer
	frame    int    // bytes collected since the last FoundTerminator
	out      producer.FIFO
	bufs     [][]byte // Gather's scratch

	reading bool // inside HandleRead: writes wait for its end
	backlog bool // c.in holds input read but not yet framed (FramesPerRead)
	// held: c.in holds input not framed because the output queue went
	// above OutHighWater; it is framed once the queue drains (see hold).
	held     bool
	resumeFn func()
	// replyBase is what was queued when the current FoundTerminator began
	// (0 outside one): OutLimit bounds one reply, not the rest of the
	// reply before it that is still being written.
	replyBase int
	closing   bool // CloseWhenDone was called: input is discarded
	flushing  bool // the peer sent EOF: close once the output is written
	paused    bool // reading stopped above OutHighWater
	failed    bool // a limit was exceeded: no more input is framed
	// discarded is set by DiscardBuffers, so that one called from
	// FoundTerminator also drops the rest of the input being framed.
	discarded bool

	framing   bool  // a frame has begun: frameAt is its first byte's time
	frameAt   int64 // loop.Loop.Now at the first byte of the current frame
	lingering bool  // CloseWhenDone was called at lingerAt
	lingerAt  int64
	// draining: the output is written and the sending side shut down; the
	// input is read and dropped until EOF or the linger deadline, since
	// drainStart (docs/failure-modes.md#f17-lingering-close).
	draining   bool
	drainStart int64
	dropped    bool // input arrived after CloseWhenDone and was dropped
}

func (c *AsyncChat) asyncChat() *AsyncChat { return c }

// Init prepares c to serve self — the value that embeds c — in map m
// (loop.DefaultMap if nil): asynchat's async_chat.__init__(map=m). Give it
// a socket afterwards with CreateSocket/Connect, Adopt or AdoptConn. It
// panics if self does not embed c.
func (c *AsyncChat) Init(self Handler, m *loop.Map) {
	if self == nil || self.asyncChat() != c {
		panic("chat: Init's self must be the value that embeds this AsyncChat")
	}
	c.self = self
	c.drainer, _ = self.(drainer)
	c.Dispatcher.Init(self, m)
	c.Hooks().UseServerTimeouts()
}

// SetTerminator sets where the current frame ends: asynchat's
// set_terminator. It takes effect at once, also for input already received
// and not yet framed — FoundTerminator may switch, say, from a header
// delimiter to a body length.
func (c *AsyncChat) SetTerminator(t Terminator) { c.term = t }

// Terminator returns the current terminator: asynchat's get_terminator. A
// length terminator reports the bytes still to come, and Length(0) once it
// has fired.
func (c *AsyncChat) Terminator() Terminator { return c.term }

// readBuffers holds the buffers reads go into. Input is framed as soon as it
// arrives and only a partial delimiter is kept, so a read buffer is needed
// only for the length of HandleRead: a pool lets idle connections hold none
// (F11 slowloris, docs/failure-modes.md), and a handler that reads another
// channel from inside FoundTerminator gets its own.
var readBuffers = sync.Pool{New: func() any { return new([]byte) }}

// HandleRead reads what the socket has, frames it, and writes the replies
// the frames produced with one gathered write: asynchat's handle_read.
func (c *AsyncChat) HandleRead() {
	if c.held || c.backlog {
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
	// an idle channel keeps only those few bytes.
	k := len(c.in)
	bp := readBuffers.Get().(*[]byte)
	if cap(*bp) < k+size {
		*bp = make([]byte, k+size)
	}
	buf := (*bp)[:k+size]
	copy(buf, c.in)
	if n, _ := c.Recv(buf[k:]); n > 0 { // errors have gone to HandleClose or HandleError
		if c.closing {
			c.drop()
		}
		c.in = c.in[:0]
		c.handleInput(buf[:k+n])
		c.initiateSend()
	}
	readBuffers.Put(bp)
}

// handleInput frames data with writes held back until it is done, so the
// replies to pipelined requests leave in one system call.
func (c *AsyncChat) handleInput(data []byte) {
	c.reading = true
	defer func() { c.reading = false }() // also if a handler panics
	c.feed(data)
}

// feed frames data — what was kept of the last read followed by this one:
// asynchat's handle_read loop, one Match at a time.
func (c *AsyncChat) feed(data []byte) {
	if c.closing || c.failed {
		return // a close was decided: later input is not acted on (F22 frames-after-close)
	}
	frames, most := 0, positive(c.FramesPerRead, DefaultFramesPerRead)
	for len(data) > 0 && c.open() {
		if c.term.kind == kindLength && c.overLength() {
			return
		}
		if !c.framing {
			c.startFrame()
		}
		// Match's core, updating c.term in place (see match).
		n, adv, found, wait := match(data, &c.term)
		if n > 0 {
			// Only input waiting for a delimiter makes a line: what None or
			// a length collected before a switch to a delimiter does not.
			c.frame += n
			if c.term.kind != kindDelim {
				c.frame = 0
			}
			if max := positive(c.MaxLine, DefaultMaxLine); max > 0 && c.frame > max {
				c.fail(ErrLineTooLong)
				return
			}
			c.self.CollectIncomingData(data[:n:n])
			if debugCollect {
				poison(data[:n]) // the handler's loan has ended
			}
			if !c.open() {
				break // the collector failed or closed: the frame is not delivered
			}
		}
		data = data[adv:]
		if found {
			c.frame = 0
			c.framing = false
			c.discarded = false
			c.replyBase = c.out.Len()
			c.self.FoundTerminator()
			c.replyBase = 0
			if c.discarded {
				data = nil // as asynchat's discard_buffers empties ac_in_buffer
			}
			frames++
			if len(data) > 0 && c.open() {
				if c.paused {
					c.hold(data)
					return
				}
				if most > 0 && frames >= most {
					c.postpone(data)
					return
				}
			}
		} else if wait {
			break
		}
	}
	if !c.open() {
		c.in = nil
		return
	}
	c.overLength()
	if cap(c.in) > maxKeptIn && len(data) <= maxKeptIn/2 {
		c.in = nil // a postponed backlog was framed: give its buffer back
	}
	c.in = append(c.in[:0], data...) // the partial delimiter, if any
}

// maxKeptIn is the largest buffer c.in keeps once what it holds is small
// again, so that an idle channel holds a few bytes, not a read's worth.
const maxKeptIn = 4096

// postpone keeps input read but not yet framed, because this read has
// delivered FramesPerRead frames already, and arranges for it to be framed
// after the other channels of this loop iteration have had their events:
// by a function posted to the loop (phase 5). Until then the chat does not
// read (Readable is false), so the backlog cannot grow.
func (c *AsyncChat) postpone(data []byte) {
	c.in = append(c.in[:0], data...) // data may be a suffix of c.in: append moves it
	l := c.Map().Loop()
	if l == nil {
		return
	}
	if c.resumeFn == nil {
		c.resumeFn = c.resume
	}
	if l.Post(c.resumeFn) == nil {
		c.backlog = true
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
	c.in = append(c.in[:0], data...) // data may be a suffix of c.in: append moves it
	c.held = true
	c.UpdateInterest()
}

// resume frames a postponed backlog (see postpone) and writes the replies.
func (c *AsyncChat) resume() {
	if !c.backlog {
		return
	}
	c.backlog = false
	c.UpdateInterest()
	if c.Fd() < 0 {
		return
	}
	c.handleInput(c.in)
	c.initiateSend()
}

// startFrame starts the frame clock at the first byte of a frame.
func (c *AsyncChat) startFrame() {
	to := timeout(c.FrameTimeout, DefaultFrameTimeout)
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

// NextDeadline reports the chat's earliest deadline — the current frame's
// and the CloseWhenDone's — for the dispatcher's timer
// (dispatcher.Deadliner).
func (c *AsyncChat) NextDeadline() (time.Duration, bool) {
	next, ok := time.Duration(0), false
	if to := c.frameTimeout(); to > 0 {
		next, ok = time.Duration(c.frameAt)+to, true
	}
	if at, ok2 := c.lingerDeadline(); ok2 && (!ok || at < next) {
		next, ok = at, true
	}
	return next, ok
}

// lingerDeadline is when a CloseWhenDone gives up: LingerTimeout after the
// last progress — output written, or, once draining, input read — and for
// a drain never later than maxLingerPeriods × LingerTimeout after it began
// (nginx's lingering_timeout and lingering_time).
func (c *AsyncChat) lingerDeadline() (time.Duration, bool) {
	to := timeout(c.LingerTimeout, DefaultLingerTimeout)
	if !c.lingering || to == 0 {
		return 0, false
	}
	at := time.Duration(c.lingerAt) + to
	if c.draining {
		at = min(at, time.Duration(c.drainStart)+maxLingerPeriods*to)
	}
	return at, true
}

// maxLingerPeriods bounds a lingering close in LingerTimeouts: 30 s with
// the default, nginx's lingering_time.
const maxLingerPeriods = 6

// HandleDeadline acts on the chat's deadlines that have passed by now
// (dispatcher.Deadliner): a CloseWhenDone past LingerTimeout closes the
// channel; a frame past FrameTimeout fails it with ErrFrameTimeout, as an
// input limit does — HandleError may push a reply, which is written before
// the close.
func (c *AsyncChat) HandleDeadline(now time.Duration) {
	if at, ok := c.lingerDeadline(); ok && now >= at {
		c.Hooks().CountTimeout()
		if c.draining {
			// Everything was written; the peer just never finished.
			c.self.HandleClose()
		} else {
			_ = c.self.Close()
		}
		return
	}
	if to := c.frameTimeout(); to > 0 && int64(now) >= c.frameAt+int64(to) {
		c.framing = false
		if !c.closing && !c.failed {
			c.Hooks().CountTimeout()
			c.fail(ErrFrameTimeout)
		}
	}
}

// frameTimeout is the frame timeout if a frame is under way: none while
// the terminator is None (SetTerminator(None) mid-frame stops the clock),
// since collecting everything has no frame to finish.
func (c *AsyncChat) frameTimeout() time.Duration {
	if !c.framing || c.term.IsNone() {
		return 0
	}
	return timeout(c.FrameTimeout, DefaultFrameTimeout)
}

// timeout is positive for durations: v, def for zero, 0 (off) if negative.
func timeout(v, def time.Duration) time.Duration {
	switch {
	case v < 0:
		return 0
	case v == 0:
		return def
	}
	return v
}

// open reports whether input should still be framed.
func (c *AsyncChat) open() bool { return c.Fd() >= 0 && !c.closing && !c.failed }

// overLength fails the channel if its length terminator is above
// MaxMessage: a length announced by the peer must not make us wait for, or
// collect, more than we are willing to hold
// (docs/failure-modes.md#f9-announced-length).
func (c *AsyncChat) overLength() bool {
	n, ok := c.term.Len()
	if max := positive(c.MaxMessage, DefaultMaxMessage); ok && max > 0 && n > max {
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
	c.failed = true
	c.dropped = true // the rest of the frame is likely on its way
	c.in, c.incoming = nil, nil
	c.self.HandleError(err)
	if c.Fd() >= 0 {
		c.CloseWhenDone()
	}
}

// CollectIncomingData is the default collector: it appends data to a buffer
// that TakeData empties. It fails the channel with ErrMessageTooLarge rather
// than hold more than MaxMessage bytes.
func (c *AsyncChat) CollectIncomingData(data []byte) {
	if max := positive(c.MaxMessage, DefaultMaxMessage); max > 0 && len(c.incoming)+len(data) > max {
		c.fail(ErrMessageTooLarge)
		return
	}
	if len(c.incoming) == 0 && cap(c.incoming) > keepIncoming {
		// The last message was large and has been taken: start a small
		// buffer, so one big message is not held for the connection's life.
		c.incoming = nil
	}
	c.incoming = append(c.incoming, data...)
}

// TakeData returns what the default collector has gathered and empties it:
// asynchat's _get_data. The slice is reused by the next collection, so use
// or copy it before returning from FoundTerminator.
func (c *AsyncChat) TakeData() []byte {
	data := c.incoming
	c.incoming = c.incoming[:0]
	return data
}

// FoundTerminator is called when a frame is complete. asynchat's version
// raises NotImplementedError; this one logs "unhandled found terminator" as
// a warning and drops the collected data, so memory stays bounded.
func (c *AsyncChat) FoundTerminator() {
	c.LogInfo("unhandled found terminator", "warning")
	c.incoming = c.incoming[:0]
}

// Readable is asynchat's readable(), always true there; here it is false
// while queued output is above OutHighWater, and while input already read
// waits to be framed (FramesPerRead, or held above OutHighWater).
func (c *AsyncChat) Readable() bool { return !c.paused && !c.backlog && !c.held }

// drop notes input that arrived after CloseWhenDone and was dropped; while
// draining it also counts as progress for the linger deadline.
func (c *AsyncChat) drop() {
	c.dropped = true
	if l := c.Map().Loop(); c.draining && l != nil {
		c.lingerAt = int64(l.Now())
	}
}

// linger starts a lingering close, docs/failure-modes.md#f17-lingering-close,
// once a CloseWhenDone's output is all written, if the peer may still be
// sending: input arrived after CloseWhenDone, or some waits unread. Closing a
// TCP socket with unread input makes the kernel send RST instead of FIN
// (RFC 1122 4.2.2.13), and an RST can destroy the reply just written — the
// error line that explains why the connection is being closed — before the
// peer reads it. So, as nginx's lingering_close does, the chat shuts down
// its sending side (the peer reads the reply, then EOF), reads and drops
// input until the peer's EOF, and closes then, or after LingerTimeout
// without input (at most maxLingerPeriods × LingerTimeout in all). It
// reports whether the close is now lingering; HandleClose runs when it
// ends. A negative LingerTimeout, a peer that already sent EOF, or a
// datagram socket close at once.
func (c *AsyncChat) linger() bool {
	if c.draining || c.Hooks().EOF() || c.Socket().Type() != dispatcher.SockStream ||
		timeout(c.LingerTimeout, DefaultLingerTimeout) == 0 {
		return false
	}
	l := c.Map().Loop()
	if l == nil || !c.dropped && c.Socket().Unread() == 0 {
		return false
	}
	if err := c.Socket().ShutdownWrite(); err != nil {
		return false // the peer is gone already: nothing to protect
	}
	now := int64(l.Now())
	c.draining, c.drainStart = true, now
	c.lingering, c.lingerAt = true, now
	c.paused = false
	if at, ok := c.lingerDeadline(); ok {
		c.Hooks().ArmTimeout(at)
	}
	c.UpdateInterest()
	return true
}

// HandleClose is asynchat's handle_close, which closes the channel. When the
// peer has only finished sending (EOF) and replies are still queued, it
// writes them first and closes afterwards — asynchat would drop them
// (docs/asyncore-compat.md#half-close, docs/failure-modes.md#f15-half-close). A
// second HandleClose while flushing (the peer went away entirely) closes at
// once.
func (c *AsyncChat) HandleClose() {
	if c.Hooks().EOF() && !c.flushing && !c.out.Empty() && c.Connected() {
		c.flushing = true
		c.CloseWhenDone()
		return
	}
	_ = c.self.Close()
}

// Close closes the channel and releases its buffers, dropping any queued
// output (producers that are io.Closers are closed).
func (c *AsyncChat) Close() error {
	c.out.Discard()
	c.in, c.incoming, c.held = nil, nil, false
	c.framing, c.lingering = false, false
	c.draining, c.dropped = false, false
	return c.Dispatcher.Close()
}

// DiscardBuffers drops buffered input, collected data and queued output:
// asynchat's discard_buffers. Called from FoundTerminator, it also drops
// the rest of the input read with that frame, as asynchat's does.
func (c *AsyncChat) DiscardBuffers() {
	c.discarded = true
	c.in, c.held = c.in[:0], false
	c.incoming = c.incoming[:0]
	c.frame = 0
	c.framing = false
	c.out.Discard()
	c.replyBase = 0
	c.paused = false
	c.UpdateInterest()
}

// ChannelStats adds the chat's buffered input and queued output to the
// dispatcher's figures (loop.StatsReporter).
func (c *AsyncChat) ChannelStats() loop.ChannelStats {
	s := c.Dispatcher.ChannelStats()
	s.InBuffered = len(c.in) + len(c.incoming)
	s.OutBuffered = c.out.Len()
	return s
}

// positive returns v, or def when v is zero (negative values pass through,
// meaning "no limit" for the limits).
func positive(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
