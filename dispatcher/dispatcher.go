package dispatcher

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/asyncore-go/asyncore/internal/sock"
	"github.com/asyncore-go/asyncore/loop"
	"golang.org/x/sys/unix"
)

// Address families and socket types for CreateSocket, re-exported so that
// simple servers need not import x/sys/unix.
const (
	AFInet     = unix.AF_INET
	AFInet6    = unix.AF_INET6
	AFUnix     = unix.AF_UNIX
	SockStream = unix.SOCK_STREAM
	SockDgram  = unix.SOCK_DGRAM
)

// Handler is everything a dispatcher's embedding type can override. Every
// type that embeds Dispatcher (directly or through DispatcherWithSend or
// FileDispatcher) implements it; the unexported method makes sure nothing
// else does.
type Handler interface {
	loop.Channel

	// Readable is asyncore's readable(): whether to watch for reading.
	Readable() bool
	// Writable is asyncore's writable(): whether to watch for writing.
	Writable() bool
	// HandleRead is asyncore's handle_read: the socket has data or EOF.
	HandleRead()
	// HandleWrite is asyncore's handle_write: the socket can take data.
	HandleWrite()
	// HandleExpt is asyncore's handle_expt: out-of-band data is waiting.
	HandleExpt()
	// HandleConnect is asyncore's handle_connect: a Connect finished.
	HandleConnect()
	// HandleAccept is asyncore's handle_accept: a listener is readable.
	HandleAccept()
	// HandleAccepted is asyncore's handle_accepted: a connection was
	// accepted; fd is now the handler's to adopt or close.
	HandleAccepted(fd int, addr net.Addr)
	// HandleClose is asyncore's handle_close: the peer closed or the
	// connection broke.
	HandleClose()

	dispatcher() *Dispatcher
}

// Dispatcher is asyncore's dispatcher: one non-blocking socket registered in
// a loop.Map, with asyncore's connected/accepting/connecting state and a
// default handler for every event. Embed it (see the package documentation)
// and call Init before anything else.
//
// Timeouts, by default: a Connect gives up after DefaultConnectTimeout
// (60 s); nothing else is bounded, as in asyncore. Hooks().UseServerTimeouts —
// which chat.AsyncChat calls in its Init — also turns on IdleTimeout
// (DefaultIdleTimeout, 120 s without input or output) and
// WriteStallTimeout (DefaultWriteStallTimeout, 60 s without writing queued
// output). ReadIdleTimeout is never on unless set.
type Dispatcher struct {
	// Logger receives LogInfo and Log output; nil means slog.Default().
	Logger *slog.Logger
	// IgnoreLogTypes is asyncore's ignore_log_types: LogInfo messages of
	// these types are dropped. nil means the default, {"warning"}, which
	// silences the "unhandled … event" messages; an empty non-nil slice
	// drops nothing.
	IgnoreLogTypes []string
	// Debug is asyncore's debug flag: log every Send.
	Debug bool
	// AcceptBackoff is how long a listener pauses after accept fails with
	// EMFILE or ENFILE; zero means DefaultAcceptBackoff.
	AcceptBackoff time.Duration
	// RejectMessage is written (best effort, never blocking) to a
	// connection the listener refuses because the map's MaxConns is
	// reached, before it is closed: "-ERR max number of clients
	// reached\r\n" for a Redis-like protocol. nil writes nothing.
	RejectMessage []byte
	// ReusePort makes Bind, and so ListenTCP, set SO_REUSEPORT first, so
	// that several sockets can bind the same address and port. On Linux
	// the kernel then balances incoming connections across the listeners —
	// typically one per loop of a loop.Group (loop.StartGroup). For port 0,
	// bind the first listener and give the others the port it got. The
	// BSDs and macOS accept the option but do not balance TCP connections
	// that way (FreeBSD has SO_REUSEPORT_LB for it).
	ReusePort bool

	// IdleTimeout closes a connection with no input or output progress
	// for that long: HandleError receives ErrIdleTimeout. Zero means off
	// for a plain Dispatcher and DefaultIdleTimeout after
	// Hooks().UseServerTimeouts (AsyncChat); negative means off. Listeners and
	// connecting sockets are never idle.
	IdleTimeout time.Duration
	// WriteStallTimeout closes a connection whose output has waited that
	// long without a byte being written: HandleError receives
	// ErrWriteStall. Zero means off for a plain Dispatcher and
	// DefaultWriteStallTimeout after Hooks().UseServerTimeouts; negative means off.
	WriteStallTimeout time.Duration
	// ConnectTimeout bounds a Connect: HandleError receives
	// ErrConnectTimeout if it has not finished in that time. Zero means
	// DefaultConnectTimeout, negative means no bound but the kernel's.
	ConnectTimeout time.Duration
	// ReadIdleTimeout closes a connection that sent no input for that
	// long, whatever the output does: HandleError receives
	// ErrReadIdleTimeout. Unlike IdleTimeout, writing to the peer is not
	// progress — "no request within 5 s" for a server that also sends on
	// its own (a broadcast, a keep-alive). Zero or negative means off, also
	// after Hooks().UseServerTimeouts. It stops counting once the peer has
	// sent EOF.
	ReadIdleTimeout time.Duration

	self   Handler
	m      *loop.Map
	fd     int
	family int32 // int32, with sotype, to keep a connection's struct small
	sotype int32
	isFile bool
	epoch  uint32 // changes whenever the socket does: stale-handler guard

	connected  bool
	accepting  bool
	connecting bool
	eof        bool // a read returned EOF: stop watching for reading
	// dropInput: see ws. shuttingDown: BeginShutdown was called for this
	// socket. (Beside the other flags, so they share one word.)
	dropInput    bool
	shuttingDown bool
	addr         net.Addr

	acc *acceptState // a listener's own state (accept.go); nil on a connection

	tmo timeouts

	// ws is the DispatcherWithSend around this Dispatcher, if any: its
	// CloseWhenDone keeps a deadline on the dispatcher's timer and drops
	// input (dropInput) instead of calling HandleRead.
	ws *DispatcherWithSend

	// tls is the TLS state of a connection that speaks TLS (tls_conn.go);
	// nil for plaintext, whose paths it costs one nil check.
	tls *tlsState

	iov []unix.Iovec // Socket().SendBuffers' scratch

	bytesIn, bytesOut uint64 // ChannelStats
}

func (d *Dispatcher) dispatcher() *Dispatcher { return d }

// New returns a plain Dispatcher in m (DefaultMap if nil), for code that
// needs no overrides. Types that override handlers use Init instead.
func New(m *loop.Map) *Dispatcher {
	d := &Dispatcher{}
	d.Init(d, m)
	return d
}

// Init prepares d to serve self — the value that embeds d — in map m
// (loop.DefaultMap if nil): asyncore's dispatcher.__init__(map=m) with no
// socket. It panics if self does not embed d, which is a programming error.
func (d *Dispatcher) Init(self Handler, m *loop.Map) {
	if self == nil || self.dispatcher() != d {
		panic("dispatcher: Init's self must be the value that embeds this Dispatcher")
	}
	if m == nil {
		m = loop.DefaultMap()
	}
	d.self, d.m, d.fd = self, m, -1
	if w, ok := self.(interface{ withSend() *DispatcherWithSend }); ok && &w.withSend().Dispatcher == d {
		d.ws = w.withSend()
	}
}

func (d *Dispatcher) mustInit() {
	if d.self == nil {
		panic("dispatcher: Dispatcher used before Init")
	}
}

// Fd returns the socket's descriptor, or -1 if there is none.
func (d *Dispatcher) Fd() int {
	if d.self == nil {
		return -1
	}
	return d.fd
}

// Map returns the map the dispatcher registers in: asyncore's _map. Its
// Loop (loop.Map.Loop) is the loop serving it, which exists before the map
// first runs, so timers can be set and functions posted on it during setup.
func (d *Dispatcher) Map() *loop.Map { return d.m }

// Connected reports asyncore's connected flag.
func (d *Dispatcher) Connected() bool { return d.connected }

// Accepting reports asyncore's accepting flag: Listen was called.
func (d *Dispatcher) Accepting() bool { return d.accepting }

// Connecting reports asyncore's connecting flag: a Connect is in progress.
func (d *Dispatcher) Connecting() bool { return d.connecting }

// Addr is asyncore's addr: the peer of a connected or adopted socket, the
// target of Connect, or the bound address of a listener (or of any socket
// after Bind). It is nil until one of those is known. Socket().LocalAddr and
// Socket().RemoteAddr ask the kernel instead.
func (d *Dispatcher) Addr() net.Addr { return d.addr }

// localAddr returns the socket's own address, or nil (Socket.LocalAddr).
func (d *Dispatcher) localAddr() net.Addr {
	if d.fd < 0 || d.isFile {
		return nil
	}
	sa, err := sock.LocalAddr(d.fd)
	if err != nil {
		return nil
	}
	return sock.ToNetAddr(sa, int(d.sotype))
}

// remoteAddr returns the connected peer's address, or nil
// (Socket.RemoteAddr).
func (d *Dispatcher) remoteAddr() net.Addr {
	if d.fd < 0 || d.isFile {
		return nil
	}
	sa, err := sock.PeerAddr(d.fd)
	if err != nil {
		return nil
	}
	return sock.ToNetAddr(sa, int(d.sotype))
}

// UpdateInterest tells the loop that Readable or Writable may have changed
// for a reason the library cannot see — state changed by a timer, by another
// channel, or by a posted function. Calls the library makes itself (Send on
// DispatcherWithSend, Connect, Listen, and every event) need no
// UpdateInterest. It is cheap: at most one re-evaluation per iteration.
func (d *Dispatcher) UpdateInterest() {
	if d.fd >= 0 {
		d.m.Update(d.fd)
	}
}

// Close closes the socket and removes the dispatcher from its map:
// asyncore's close. It clears connected, accepting and connecting. Closing
// twice, or closing a dispatcher without a socket, does nothing. While the
// loop is dispatching events the descriptor is closed at the end of the
// batch (see loop.Map.CloseFD). EBADF and ENOTCONN are ignored, as asyncore
// ignores them.
func (d *Dispatcher) Close() error {
	d.connected, d.accepting, d.connecting = false, false, false
	if a := d.acc; a != nil && a.timer != nil {
		a.timer.Stop()
		a.timer, a.paused = nil, false
	}
	d.stopTimeouts()
	d.closeSpare()
	d.dropInput, d.shuttingDown = false, false
	if d.ws != nil {
		d.ws.closed()
	}
	if d.self == nil || d.fd < 0 {
		return nil
	}
	fd := d.fd
	if d.tls != nil {
		d.tlsClose() // close_notify, before the descriptor goes
	}
	if d.m.Remove(fd, d.self) {
		stateOf(d.m).removed(fd)
	}
	d.fd = -1
	d.epoch++
	if err := d.m.CloseFD(fd); err != nil && !errors.Is(err, unix.EBADF) && !errors.Is(err, unix.ENOTCONN) {
		return err
	}
	return nil
}

// String is asyncore's repr: "<pkg.Type [listening|connected] addr at 0x…>".
func (d *Dispatcher) String() string {
	var self any = d
	if d.self != nil {
		self = d.self
	}
	parts := []string{strings.TrimPrefix(fmt.Sprintf("%T", self), "*")}
	if d.accepting && d.addr != nil {
		parts = append(parts, "listening")
	} else if d.connected {
		parts = append(parts, "connected")
	}
	if d.addr != nil {
		parts = append(parts, d.addr.String())
	}
	return fmt.Sprintf("<%s at %p>", strings.Join(parts, " "), self)
}

// dispatcher must satisfy loop.Channel through Handler.
var _ Handler = (*Dispatcher)(nil)
