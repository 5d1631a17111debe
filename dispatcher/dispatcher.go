package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
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

// DefaultAcceptBackoff is how long a listener stops accepting after accept
// fails for lack of descriptors (EMFILE, ENFILE): nginx's accept_mutex_delay.
const DefaultAcceptBackoff = 500 * time.Millisecond

// acceptsPerEvent bounds the connections one HandleAccept takes, so a storm
// of connects cannot starve the established connections (Redis accepts ten
// per event, docs/failure-modes.md#f20-fairness).
const acceptsPerEvent = 10

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
// (60 s); nothing else is bounded, as in asyncore. UseServerTimeouts —
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
	// connection the listener refuses because the loop's MaxConns is
	// reached, before it is closed: "-ERR max number of clients
	// reached\r\n" for a Redis-like protocol. nil writes nothing.
	RejectMessage []byte

	// IdleTimeout closes a connection with no input or output progress
	// for that long: HandleError receives ErrIdleTimeout. Zero means off
	// for a plain Dispatcher and DefaultIdleTimeout after
	// UseServerTimeouts (AsyncChat); negative means off. Listeners and
	// connecting sockets are never idle.
	IdleTimeout time.Duration
	// WriteStallTimeout closes a connection whose output has waited that
	// long without a byte being written: HandleError receives
	// ErrWriteStall. Zero means off for a plain Dispatcher and
	// DefaultWriteStallTimeout after UseServerTimeouts; negative means off.
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
	// after UseServerTimeouts. It stops counting once the peer has sent EOF.
	ReadIdleTimeout time.Duration

	self   Handler
	m      *loop.Map
	fd     int
	family int
	sotype int
	isFile bool
	epoch  uint32 // changes whenever the socket does: stale-handler guard

	connected  bool
	accepting  bool
	connecting bool
	eof        bool // a read returned EOF: stop watching for reading
	addr       net.Addr

	acceptPaused bool
	acceptTimer  *loop.Timer
	rejected     uint64 // connections refused over MaxConns
	shedConns    uint64 // connections accepted and closed for lack of descriptors
	spare        int    // the listener's reserve descriptor, if hasSpare
	hasSpare     bool

	tmo timeouts

	// ws is the DispatcherWithSend around this Dispatcher, if any: its
	// CloseWhenDone keeps a deadline on the dispatcher's timer and drops
	// input (dropInput) instead of calling HandleRead.
	ws        *DispatcherWithSend
	dropInput bool

	shuttingDown bool // BeginShutdown was called for this socket

	iov []unix.Iovec // SendBuffers' scratch

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

// Map returns the map the dispatcher registers in.
func (d *Dispatcher) Map() *loop.Map { return d.m }

// Loop returns the loop serving the dispatcher's map (loop.Map.Loop). It
// exists before the map first runs, so timers can be set and functions
// posted on it during setup. Timers for the dispatcher are set on it.
func (d *Dispatcher) Loop() *loop.Loop { return d.m.Loop() }

// Connected reports asyncore's connected flag.
func (d *Dispatcher) Connected() bool { return d.connected }

// Accepting reports asyncore's accepting flag: Listen was called.
func (d *Dispatcher) Accepting() bool { return d.accepting }

// Connecting reports asyncore's connecting flag: a Connect is in progress.
func (d *Dispatcher) Connecting() bool { return d.connecting }

// Addr is asyncore's addr: the peer of a connected or adopted socket, the
// target of Connect, or the bound address of a listener. It is nil until one
// of those is known.
func (d *Dispatcher) Addr() net.Addr { return d.addr }

// Family and Type report the socket's address family and type.
func (d *Dispatcher) Family() int { return d.family }

// Type reports the socket type (SockStream or SockDgram).
func (d *Dispatcher) Type() int { return d.sotype }

// LocalAddr returns the socket's own address, or nil.
func (d *Dispatcher) LocalAddr() net.Addr {
	if d.fd < 0 || d.isFile {
		return nil
	}
	sa, err := unix.Getsockname(d.fd)
	if err != nil {
		return nil
	}
	return sock.ToNetAddr(sa, d.sotype)
}

// RemoteAddr returns the connected peer's address, or nil.
func (d *Dispatcher) RemoteAddr() net.Addr {
	if d.fd < 0 || d.isFile {
		return nil
	}
	sa, err := unix.Getpeername(d.fd)
	if err != nil {
		return nil
	}
	return sock.ToNetAddr(sa, d.sotype)
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

// CreateSocket creates a non-blocking, close-on-exec socket of the given
// family (AFInet, AFInet6, AFUnix) and type (SockStream, SockDgram) and
// registers the dispatcher in its map: asyncore's create_socket.
func (d *Dispatcher) CreateSocket(family, sotype int) error {
	d.mustInit()
	if d.fd >= 0 {
		return ErrHasSocket
	}
	fd, err := sock.Socket(family, sotype)
	if err != nil {
		return err
	}
	d.family, d.sotype = family, sotype
	if err := d.setSocket(fd); err != nil {
		_ = unix.Close(fd)
		return err
	}
	return nil
}

// setSocket is asyncore's set_socket: adopt fd and join the map.
func (d *Dispatcher) setSocket(fd int) error {
	if err := d.m.Add(fd, d.self); err != nil {
		return err
	}
	d.fd = fd
	d.epoch++
	d.eof = false
	d.tmo.writeBlocked = false
	d.restartClocks(d.now())
	d.ResetTimeouts()
	return nil
}

// Adopt takes over an open socket descriptor, as asyncore's
// dispatcher(sock) does: it makes it non-blocking, joins the map, and sets
// connected and Addr from the peer's address. A socket whose peer is already
// gone (ENOTCONN, EINVAL — an accepted connection that was reset at once) is
// kept with Connected false, as CPython does since bpo-10340. A listening
// socket becomes Accepting. On error the descriptor stays the caller's.
func (d *Dispatcher) Adopt(fd int) error {
	d.mustInit()
	if d.fd >= 0 {
		return ErrHasSocket
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return os.NewSyscallError("fcntl", err)
	}
	sotype, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return os.NewSyscallError("getsockopt", err)
	}
	family, err := sock.Family(fd)
	if err != nil {
		return err
	}
	d.family, d.sotype = family, sotype
	if err := d.setSocket(fd); err != nil {
		return err
	}
	if listening, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); listening != 0 {
		d.accepting, d.connected = true, false
		d.addr = d.LocalAddr()
		d.openSpare()
		return nil
	}
	d.connected = true
	sa, err := unix.Getpeername(fd)
	switch {
	case err == unix.ENOTCONN || err == unix.EINVAL:
		d.connected = false
	case err != nil:
		d.m.Remove(fd, d.self)
		d.fd = -1
		return os.NewSyscallError("getpeername", err)
	default:
		d.addr = sock.ToNetAddr(sa, sotype)
	}
	return nil
}

// AdoptConn takes over the socket of a net.Conn or net.Listener — the
// interface values net.Dial and net.Listen return, the concrete
// *net.TCPConn, *net.TCPListener, *net.UDPConn, *net.UnixConn and
// *net.UnixListener, or any wrapper of them that implements syscall.Conn.
// It duplicates the descriptor, closes c — so c must not be used
// afterwards — and adopts the duplicate as Adopt does. A value that does
// not implement syscall.Conn (a *tls.Conn: its socket alone would lose the
// TLS state) is refused with ErrNoSocket, and, as on every error, c stays
// open and the caller's. A *net.UnixListener is closed without removing its
// socket file, which the adopted listener still serves; remove the file
// when done.
func (d *Dispatcher) AdoptConn(c io.Closer) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return fmt.Errorf("%w: %T does not implement syscall.Conn", ErrNoSocket, c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	fd, derr := -1, error(nil)
	if err := raw.Control(func(s uintptr) { fd, derr = sock.DupCloexec(int(s)) }); err != nil {
		return err
	}
	if derr != nil {
		return derr
	}
	if err := d.Adopt(fd); err != nil {
		_ = unix.Close(fd)
		return err
	}
	if ul, ok := c.(interface{ SetUnlinkOnClose(bool) }); ok {
		// net.UnixListener.Close unlinks the path it listens on, which
		// would leave our duplicate listening on a name nobody can reach.
		ul.SetUnlinkOnClose(false)
	}
	_ = c.Close() // our duplicate keeps the socket open
	return nil
}

// SetReuseAddr sets SO_REUSEADDR so a restarted server can bind its port
// while old connections linger in TIME_WAIT: asyncore's set_reuse_addr
// (which ignored errors; this returns them).
func (d *Dispatcher) SetReuseAddr() error {
	if d.fd < 0 {
		return ErrClosed
	}
	if err := unix.SetsockoptInt(d.fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}

// Bind binds the socket to address — "host:port" for AFInet and AFInet6,
// a path for AFUnix: asyncore's bind. On success Addr reports the bound
// address, with the real port when port 0 was asked for.
func (d *Dispatcher) Bind(address string) error {
	if d.fd < 0 {
		return ErrClosed
	}
	sa, err := sock.Resolve(d.family, address)
	if err != nil {
		return err
	}
	if err := unix.Bind(d.fd, sa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	d.addr = d.LocalAddr()
	return nil
}

// Listen makes the socket a listener with the given backlog (a value ≤ 0
// means the system maximum, SOMAXCONN) and sets Accepting: asyncore's
// listen. A listener is never watched for writing.
func (d *Dispatcher) Listen(backlog int) error {
	if d.fd < 0 {
		return ErrClosed
	}
	d.accepting = true
	if backlog <= 0 {
		backlog = unix.SOMAXCONN
	}
	d.m.Update(d.fd)
	if err := unix.Listen(d.fd, backlog); err != nil {
		return os.NewSyscallError("listen", err)
	}
	d.openSpare()
	return nil
}

// openSpare reserves a descriptor (on /dev/null) for a listener, to be
// given up when accept runs out of descriptors (see shed). Failing to get
// one is not an error: the listener then only backs off.
func (d *Dispatcher) openSpare() {
	if d.hasSpare {
		return
	}
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		d.spare, d.hasSpare = fd, true
	}
}

func (d *Dispatcher) closeSpare() {
	if d.hasSpare {
		_ = unix.Close(d.spare)
		d.hasSpare = false
	}
}

// maxShed bounds the connections one shed closes, so a connect storm
// cannot hold the loop in it.
const maxShed = 1024

// shed is libuv's EMFILE trick (uv__emfile_trick,
// docs/failure-modes.md#f1-accept-emfile): with no descriptor left, give up the
// spare one, accept every pending connection and close it at once, then take
// the spare back. The peers see the connection closed — they learn the server
// is overloaded — instead of waiting in a backlog that nobody can drain.
// Another goroutine that opens a file meanwhile may take the freed number; the
// spare is then reopened at the next shed.
func (d *Dispatcher) shed() {
	if !d.hasSpare {
		d.openSpare()
		return
	}
	d.closeSpare()
	for range maxShed {
		fd, _, err := sock.Accept(d.fd)
		if err != nil {
			break
		}
		_ = unix.Close(fd)
		d.shedConns++
		d.m.Stats().Shed++
	}
	d.openSpare()
}

// Shed reports how many connections this listener accepted and closed at
// once because the process was out of descriptors.
func (d *Dispatcher) Shed() uint64 { return d.shedConns }

// Accept accepts one pending connection: asyncore's accept. It returns the
// new descriptor (non-blocking, close-on-exec) and the peer's address, or
// fd -1 and a nil error when there is nothing to accept right now — no
// connection pending (EAGAIN), one aborted before it was accepted
// (ECONNABORTED), or no descriptor left (EMFILE, ENFILE). In the last case
// the listener sheds its backlog — it gives up a spare descriptor it keeps
// for the purpose, accepts every pending connection and closes it at once,
// and takes the spare back (see Shed) — then stops watching for connections
// for AcceptBackoff and logs a warning; the listener is never closed for
// it. Any other error is passed to HandleError and returned.
func (d *Dispatcher) Accept() (int, net.Addr, error) {
	if d.fd < 0 {
		return -1, nil, ErrClosed
	}
	fd, sa, err := sock.Accept(d.fd)
	switch {
	case err == nil:
		return fd, sock.ToNetAddr(sa, d.sotype), nil
	case acceptAgain(err):
		return -1, nil, nil
	case err == unix.EMFILE || err == unix.ENFILE:
		d.shed()
		d.pauseAccepting(err)
		return -1, nil, nil
	case outOfDescriptors(err):
		d.pauseAccepting(err)
		return -1, nil, nil
	}
	return -1, nil, d.fail(os.NewSyscallError("accept", err))
}

// pauseAccepting stops watching the listener for AcceptBackoff. With level
// triggering a listener whose backlog is non-empty stays readable, so
// retrying at once would spin the CPU at 100% while descriptors are short
// (docs/failure-modes.md#f1-accept-emfile); nginx waits 500 ms the same way.
func (d *Dispatcher) pauseAccepting(err error) {
	if d.acceptPaused {
		return
	}
	l := d.m.Loop()
	if l == nil {
		return
	}
	backoff := d.AcceptBackoff
	if backoff <= 0 {
		backoff = DefaultAcceptBackoff
	}
	d.acceptPaused = true
	d.m.Stats().AcceptPauses++
	d.m.Update(d.fd)
	d.logger().Warn("dispatcher: accept failed; pausing the listener", "err", err, "backoff", backoff, "channel", d.self)
	d.acceptTimer = l.AfterFunc(backoff, func() {
		d.acceptPaused, d.acceptTimer = false, nil
		d.UpdateInterest()
	})
}

// Connect starts a non-blocking connect to address ("host:port", or a path
// for AFUnix): asyncore's connect. It returns at once; HandleConnect runs
// when the connection is established, or HandleError with the errno when it
// fails (errors.Is(err, syscall.ECONNREFUSED)). A connect that completes
// immediately (AF_UNIX usually does) runs HandleConnect before Connect
// returns, as in asyncore. Errors found at once are returned and leave
// Connecting false.
func (d *Dispatcher) Connect(address string) error {
	if d.fd < 0 {
		return ErrClosed
	}
	sa, err := sock.Resolve(d.family, address)
	if err != nil {
		return err
	}
	return d.connect(sa)
}

// ConnectAddr is Connect with a net.Addr (*net.TCPAddr, *net.UDPAddr or
// *net.UnixAddr).
func (d *Dispatcher) ConnectAddr(addr net.Addr) error {
	if d.fd < 0 {
		return ErrClosed
	}
	sa, err := sock.FromNetAddr(d.family, addr)
	if err != nil {
		return err
	}
	return d.connect(sa)
}

func (d *Dispatcher) connect(sa unix.Sockaddr) error {
	d.connected, d.connecting = false, true
	err := sock.Connect(d.fd, sa)
	switch err {
	case unix.EINPROGRESS, unix.EALREADY, unix.EAGAIN, unix.EINTR:
		// EINTR: the connect goes on in the background (connect(2)).
		d.addr = sock.ToNetAddr(sa, d.sotype)
		d.m.Update(d.fd)
		d.tmo.connectStart = d.now()
		d.ResetTimeouts()
		return nil
	case nil, unix.EISCONN:
		d.addr = sock.ToNetAddr(sa, d.sotype)
		d.m.Update(d.fd)
		if err := d.handleConnectEvent(); err != nil {
			return err
		}
		return nil
	}
	d.connecting = false
	return os.NewSyscallError("connect", err)
}

// Send writes data to the socket and returns how many bytes went: asyncore's
// send. A full socket buffer (EAGAIN) returns 0 and no error. A peer that
// went away calls HandleClose; another error calls HandleError; both return
// the error. Send never raises SIGPIPE.
func (d *Dispatcher) Send(data []byte) (int, error) {
	if d.fd < 0 {
		return 0, ErrClosed
	}
	if d.Debug {
		d.LogInfo("sending "+quote(data), "info")
	}
	if len(data) == 0 {
		return 0, nil
	}
	var n int
	var err error
	if d.isFile {
		n, err = sock.Write(d.fd, data)
	} else {
		n, err = sock.Send(d.fd, data)
	}
	if err == nil {
		d.wrote(n, len(data))
		return n, nil
	}
	if wouldBlock(err) {
		d.wrote(0, len(data))
		return 0, nil
	}
	return 0, d.ioError("write", err)
}

// SendBuffers writes bufs, in order, with one system call (sendmsg or
// writev) and returns how many bytes went, which may end in the middle of a
// buffer. Errors are handled as in Send. AsyncChat uses it to gather queued
// replies into one write.
func (d *Dispatcher) SendBuffers(bufs [][]byte) (int, error) {
	if d.fd < 0 {
		return 0, ErrClosed
	}
	n, err := sock.Sendv(d.fd, bufs, &d.iov, d.isFile)
	if err == nil {
		d.wrote(n, buffersLen(bufs))
		return n, nil
	}
	if wouldBlock(err) {
		d.wrote(0, buffersLen(bufs))
		return 0, nil
	}
	return 0, d.ioError("sendmsg", err)
}

// EOF reports whether the peer has finished sending: a Recv returned EOF.
// A HandleClose that sees EOF true (and Connected) may still write — the
// peer shut down only its own side — which is how AsyncChat flushes queued
// replies to a client that half-closed.
func (d *Dispatcher) EOF() bool { return d.eof }

// Recv reads into buf and returns how many bytes arrived: asyncore's recv.
// No data yet (EAGAIN, a spurious wake-up) returns 0 and no error. EOF calls
// HandleClose and returns io.EOF; a broken connection calls HandleClose and
// another error HandleError, both returning the error. On a datagram socket
// a zero-length datagram is just that, not EOF.
func (d *Dispatcher) Recv(buf []byte) (int, error) {
	if d.fd < 0 {
		return 0, ErrClosed
	}
	if len(buf) == 0 {
		return 0, nil
	}
	n, err := sock.Read(d.fd, buf)
	switch {
	case err == nil && n > 0:
		d.tmo.lastIO = d.now()
		d.tmo.lastIn = d.tmo.lastIO
		d.read(n)
		return n, nil
	case err == nil && d.sotype == unix.SOCK_DGRAM:
		return 0, nil
	case err == nil:
		d.eof = true
		d.m.Update(d.fd)
		d.self.HandleClose()
		return 0, io.EOF
	case wouldBlock(err):
		return 0, nil
	}
	return 0, d.ioError("read", err)
}

// SendTo sends one datagram to addr (*net.UDPAddr or *net.UnixAddr) and
// returns its length. EAGAIN returns 0 and no error; other errors are handled
// as in Send.
func (d *Dispatcher) SendTo(data []byte, addr net.Addr) (int, error) {
	if d.fd < 0 {
		return 0, ErrClosed
	}
	sa, err := sock.FromNetAddr(d.family, addr)
	if err != nil {
		return 0, err
	}
	for {
		err = unix.Sendto(d.fd, data, unix.MSG_NOSIGNAL, sa)
		if err != unix.EINTR {
			break
		}
	}
	switch {
	case err == nil:
		d.tmo.lastIO = d.now()
		d.bytesOut += uint64(len(data))
		d.m.Stats().BytesOut += uint64(len(data))
		return len(data), nil
	case wouldBlock(err):
		return 0, nil
	}
	return 0, d.ioError("sendto", err)
}

// RecvFrom receives one datagram into buf and returns its length and
// sender. Nothing pending returns 0, nil, nil; errors are handled as in
// Recv.
func (d *Dispatcher) RecvFrom(buf []byte) (int, net.Addr, error) {
	if d.fd < 0 {
		return 0, nil, ErrClosed
	}
	for {
		n, sa, err := unix.Recvfrom(d.fd, buf, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err == nil:
			d.tmo.lastIO = d.now()
			d.tmo.lastIn = d.tmo.lastIO
			d.read(n)
			return n, sock.ToNetAddr(sa, d.sotype), nil
		case wouldBlock(err):
			return 0, nil, nil
		}
		return 0, nil, d.ioError("recvfrom", err)
	}
}

// ioError routes an I/O error as asyncore does: the disconnect errnos to
// HandleClose, anything else to HandleError.
func (d *Dispatcher) ioError(op string, errno error) error {
	err := os.NewSyscallError(op, errno)
	if disconnected(errno) {
		d.self.HandleClose()
		return err
	}
	return d.fail(err)
}

// fail passes err to HandleError and returns it.
func (d *Dispatcher) fail(err error) error {
	d.self.HandleError(err)
	return err
}

// Close closes the socket and removes the dispatcher from its map:
// asyncore's close. It clears connected, accepting and connecting. Closing
// twice, or closing a dispatcher without a socket, does nothing. While the
// loop is dispatching events the descriptor is closed at the end of the
// batch (see loop.Map.CloseFD). EBADF and ENOTCONN are ignored, as asyncore
// ignores them.
func (d *Dispatcher) Close() error {
	d.connected, d.accepting, d.connecting = false, false, false
	if d.acceptTimer != nil {
		d.acceptTimer.Stop()
		d.acceptTimer, d.acceptPaused = nil, false
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
	d.m.Remove(fd, d.self)
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

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

// Log is asyncore's log: it logs message at info level, whatever
// IgnoreLogTypes says.
func (d *Dispatcher) Log(message string) {
	d.logger().Info(message, "channel", d.String())
}

// LogInfo is asyncore's log_info: it logs message with the given type
// ("info", "warning", "error", or any other word) unless the type is in
// IgnoreLogTypes. "error" logs at error level, "warning" at warn level,
// anything else at info level; the type is recorded as the "type" attribute.
func (d *Dispatcher) LogInfo(message, typ string) {
	d.logInfo(message, typ)
}

func (d *Dispatcher) logInfo(message, typ string, attrs ...any) {
	ignore := d.IgnoreLogTypes
	if ignore == nil {
		ignore = []string{"warning"}
	}
	if slices.Contains(ignore, typ) {
		return
	}
	level := slog.LevelInfo
	switch typ {
	case "error":
		level = slog.LevelError
	case "warning":
		level = slog.LevelWarn
	}
	d.logger().Log(context.Background(), level, message, append([]any{"type", typ}, attrs...)...)
}

// dispatcher must satisfy loop.Channel through Handler.
var _ Handler = (*Dispatcher)(nil)

func quote(data []byte) string { return fmt.Sprintf("%q", data) }

func buffersLen(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}
