package chat

import (
	"crypto/tls"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/config"
	"github.com/asyncore-go/asyncore/internal/lifecycle"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/producer"
)

// Defaults for the AsyncChat fields left at zero.
const (
	// DefaultBufferSize is asynchat's ac_in_buffer_size and
	// ac_out_buffer_size: the most bytes one read asks for, and the most
	// bytes one write hands the kernel.
	DefaultBufferSize = config.IOChunk
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

// Handler is what an AsyncChat's embedding type can override: everything a
// dispatcher's can, plus the two asynchat override points.
type Handler interface {
	dispatcher.Handler
	// CollectIncomingData is asynchat's collect_incoming_data: it receives
	// the input of the current frame, in pieces, as it arrives.
	//
	// data is only lent: it points into the loop's read buffer, which
	// the next read of any channel of the loop reuses, so it is valid only
	// until CollectIncomingData returns, as bufio.Scanner.Bytes is until
	// the next Scan — the lifetime rule of dispatcher.DataHandler's
	// HandleData and loop.Loop.BorrowReadBuffer. Copy what you keep — c.buf = append(c.buf, data...) — and
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
// on because Init calls UseServerTimeouts; a timeout that fires, like a
// limit, reaches HandleError with a peer-caused error (the default logs
// and closes). So for asynchat's behaviour, set all of them to -1; for a
// client that waits on a slow server, set IdleTimeout and FrameTimeout to
// -1 at least. Lowering a timeout on a running chat takes effect after
// ResetTimeouts.
//
// If the embedding type has a HandleDrained() method (dispatcher.Drainer),
// it is called each time the queued output has all been written — the
// place to push the next block of a long transfer, or to shut down
// sending. It is not called for a Push written at once, which queued
// nothing (Pending is 0 right after it), nor when the queue is emptied by
// DiscardBuffers or by closing, nor after CloseWhenDone.
//
// If it has a PeekInput(data []byte) method (InputPeeker), it sees the
// input of each read whole before the frames in it are delivered.
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
	term     Terminator
	in       []byte // a partial delimiter kept between reads
	incoming []byte // the default collector's buffer
	frame    int    // bytes collected since the last FoundTerminator
	out      producer.FIFO

	// The flags, together so that they share one word.
	reading bool // inside HandleRead: writes wait for its end
	// wait says why input already read waits in c.in unframed, if it
	// does: FramesPerRead (postpone) or OutHighWater (hold).
	wait    inputWait
	paused  bool // reading stopped above OutHighWater
	framing bool // a frame has begun: frameAt is its first byte's time
	// discarded is set by DiscardBuffers, so that one called from
	// FoundTerminator also drops the rest of the input being framed.
	discarded bool
	drains    bool // self has HandleDrained (drainer)
	// offered: during CollectIncomingData, c.in is the piece being
	// collected, which the default collector may keep rather than copy;
	// lent: it did, c.incoming is that piece and c.in holds the default
	// collector's own buffer meanwhile (see lend.go).
	offered, lent bool

	resumeFn func()
	// startTLS is StartTLS's configuration while the reply before the
	// switch is being written; nothing is read meanwhile.
	startTLS *tls.Config
	// replyBase is what was queued when the current FoundTerminator began
	// (0 outside one): OutLimit bounds one reply, not the rest of the
	// reply before it that is still being written.
	replyBase int
	frameAt   int64 // loop.Loop.Now at the first byte of the current frame

	// life is where the chat is between open and closed — failed,
	// closing when done, draining in a lingering close — with the clocks
	// that bound the close (see close.go).
	life lifecycle.Machine
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
	_, c.drains = self.(drainer)
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

// ChannelStats adds the chat's buffered input and queued output to the
// dispatcher's figures (loop.StatsReporter).
func (c *AsyncChat) ChannelStats() loop.ChannelStats {
	s := c.Dispatcher.ChannelStats()
	s.InBuffered = len(c.in) + len(c.incoming)
	if c.offered {
		s.InBuffered -= len(c.in) // the piece is counted in c.incoming once kept
	}
	s.OutBuffered = c.out.Len()
	return s
}
