package dispatcher

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/asyncore-go/asyncore/internal/sock"
	"golang.org/x/sys/unix"
)

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
	d.family, d.sotype = uint8(family), uint8(sotype)
	if err := d.setSocket(fd); err != nil {
		_ = sock.Close(fd)
		return err
	}
	return nil
}

// setSocket is asyncore's set_socket: adopt fd and join the map.
func (d *Dispatcher) setSocket(fd int) error {
	if err := d.m.Add(fd, d.self); err != nil {
		return err
	}
	stateOf(d.m).registered(fd)
	d.fd = fd
	d.epoch++
	d.eof = false
	d.tmo.writeBlocked = false
	d.restartClocks(d.now())
	d.resetTimeouts()
	return nil
}

// Adopt takes over an open socket descriptor, as asyncore's
// dispatcher(sock) does: it makes it non-blocking, joins the map, and sets
// connected and Addr from the peer's address. A socket whose peer is already
// gone (ENOTCONN, EINVAL — an accepted connection that was reset at once) is
// kept with Connected false, as CPython does since bpo-10340. A listening
// socket becomes Accepting. On error the descriptor stays the caller's.
//
// The descriptor HandleAccepted was given is adopted without asking the
// kernel what the listener already knew — the socket's family and type,
// and the peer's address, which Addr then returns as HandleAccepted got it.
func (d *Dispatcher) Adopt(fd int) error {
	d.mustInit()
	if d.fd >= 0 {
		return ErrHasSocket
	}
	if err := sock.SetNonblock(fd); err != nil {
		return os.NewSyscallError("fcntl", err)
	}
	if st := stateOf(d.m); fd >= 0 && fd == st.accepted && st.acceptedAddr != nil {
		return d.adoptAccepted(fd, st)
	}
	sotype, err := sock.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return os.NewSyscallError("getsockopt", err)
	}
	family, err := sock.Family(fd)
	if err != nil {
		return err
	}
	d.family, d.sotype = uint8(family), uint8(sotype)
	if err := d.setSocket(fd); err != nil {
		return err
	}
	if listening, _ := sock.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); listening != 0 {
		d.accepting, d.connected = true, false
		d.addr = d.localAddr()
		d.openSpare()
		return nil
	}
	d.connected = true
	sa, err := sock.PeerAddr(fd)
	switch {
	case err == unix.ENOTCONN || err == unix.EINVAL:
		d.connected = false
	case err != nil:
		if d.m.Remove(fd, d.self) {
			stateOf(d.m).removed(fd)
		}
		d.fd = -1
		return os.NewSyscallError("getpeername", err)
	default:
		d.addr = sock.ToNetAddr(sa, sotype)
	}
	return nil
}

// adoptAccepted is Adopt for the connection a listener of this map is
// handing to HandleAccepted (mapState.markAccepted): it has the listener's
// family and type, and accept(2) told its peer. A peer that has reset the
// connection since shows at the first read, as it would a moment after
// getpeername(2).
func (d *Dispatcher) adoptAccepted(fd int, st *mapState) error {
	d.family, d.sotype = st.acceptedFamily, st.acceptedType
	addr := st.acceptedAddr
	if err := d.setSocket(fd); err != nil {
		return err
	}
	d.connected, d.addr = true, addr
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
		_ = sock.Close(fd)
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
	if err := sock.SetsockoptInt(d.fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}

// Bind binds the socket to address — "host:port" for AFInet and AFInet6,
// a path for AFUnix: asyncore's bind. With ReusePort set it sets
// SO_REUSEPORT first. On success Addr reports the bound address, with the
// real port when port 0 was asked for.
func (d *Dispatcher) Bind(address string) error {
	if d.fd < 0 {
		return ErrClosed
	}
	sa, err := sock.Resolve(int(d.family), address)
	if err != nil {
		return err
	}
	if d.ReusePort {
		if err := d.setReusePort(); err != nil {
			return err
		}
	}
	if err := sock.Bind(d.fd, sa); err != nil {
		return os.NewSyscallError("bind", err)
	}
	d.addr = d.localAddr()
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
	if err := sock.Listen(d.fd, backlog); err != nil {
		return os.NewSyscallError("listen", err)
	}
	d.openSpare()
	return nil
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
	sa, err := sock.Resolve(int(d.family), address)
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
		d.addr = sock.ToNetAddr(sa, int(d.sotype))
		d.m.Update(d.fd)
		d.tmo.connectStart = d.now()
		d.resetTimeouts()
		return nil
	case nil, unix.EISCONN:
		// Connected at once: HandleConnect runs now, and a failure found
		// here is the caller's, like every error Connect returns.
		d.addr = sock.ToNetAddr(sa, int(d.sotype))
		d.m.Update(d.fd)
		return d.handleConnectEvent()
	}
	d.connecting = false
	return os.NewSyscallError("connect", err)
}
