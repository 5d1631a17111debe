package dispatcher_test

// The API tests of CPython's Lib/test/test_asyncore.py (the BaseTestAPI
// mixin, docs/asyncore-compat.md#ported-test-suites), run once per poller
// backend and per address family, as CPython runs them once per
// TestAPI_Use{IPv4,IPv6,UnixSockets} {Select,Poll} class. The Python helper
// classes BaseTestHandler, BaseServer and BaseClient become baseHandler,
// baseServer and baseClient.

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// waitFor bounds every wait for a condition in these tests. CPython's
// loop_waiting_for_flag gives up after about 5 s; this is longer, a hang
// guard that a busy machine cannot trip.
const waitFor = testutil.HangGuard

// family is one of the address families the API tests run over.
type family struct {
	name string
	af   int
}

var families = []family{
	{"AF_INET", dispatcher.AFInet},
	{"AF_INET6", dispatcher.AFInet6},
	{"AF_UNIX", dispatcher.AFUnix},
}

// network is the Go net package's name for the family's stream sockets.
func (f family) network() string {
	switch f.af {
	case dispatcher.AFInet:
		return "tcp4"
	case dispatcher.AFInet6:
		return "tcp6"
	}
	return "unix"
}

// addr returns an address to bind: port 0 on the loopback interface, or a
// fresh path for AF_UNIX.
func (f family) addr(t testing.TB) string {
	switch f.af {
	case dispatcher.AFInet:
		return "127.0.0.1:0"
	case dispatcher.AFInet6:
		return "[::1]:0"
	}
	return t.TempDir() + "/s.sock"
}

var ipv6 = sync.OnceValue(func() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	_ = ln.Close()
	return true
})

// skipUnavailable skips AF_INET6 where the IPv6 loopback is missing, as
// CPython's IPv6 classes are skipped without IPv6 support.
func (f family) skipUnavailable(t testing.TB) {
	if f.af == dispatcher.AFInet6 && !ipv6() {
		t.Skip("IPv6 loopback unavailable")
	}
}

// env is one run of an API test: a backend, a family and a fresh loop.
type env struct {
	t    *testing.T
	kind poller.Kind
	fam  family
	l    *loop.Loop
	m    *loop.Map
}

// forEachAPI runs f for every backend × family, each with its own loop and
// a descriptor-leak check.
func forEachAPI(t *testing.T, f func(t *testing.T, e *env)) {
	t.Helper()
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		for _, fam := range families {
			t.Run(fam.name, func(t *testing.T) {
				fam.skipUnavailable(t)
				fam.skipRepeat(t, kind)
				testutil.CheckFDLeaks(t)
				l := looptest.NewLoop(t, kind)
				f(t, &env{t: t, kind: kind, fam: fam, l: l, m: l.Map()})
			})
		}
	})
}

// forEachAPIParallel is forEachAPI with all the backend × family subtests
// run in parallel, for tests that mostly wait (slow readers, lingering,
// stalls): each subtest has its own loop, map, sockets and listener, so
// they share nothing. The descriptor-leak check covers them all at once,
// from before the first starts to after the last ends, because a
// per-subtest count would see its siblings' sockets; the test itself is not
// parallel with other tests, so nothing else opens descriptors meanwhile.
// Not for tests that measure anything process-wide.
func forEachAPIParallel(t *testing.T, f func(t *testing.T, e *env)) {
	t.Helper()
	testutil.CheckFDLeaks(t)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		t.Parallel()
		for _, fam := range families {
			t.Run(fam.name, func(t *testing.T) {
				fam.skipUnavailable(t)
				fam.skipRepeat(t, kind)
				t.Parallel()
				l := looptest.NewLoop(t, kind)
				f(t, &env{t: t, kind: kind, fam: fam, l: l, m: l.Map()})
			})
		}
	})
}

// forEachBackendParallel runs f once per backend, the backends in parallel,
// with one descriptor-leak check around them all (see forEachAPIParallel);
// f makes its own loop.
func forEachBackendParallel(t *testing.T, f func(t *testing.T, kind poller.Kind)) {
	t.Helper()
	testutil.CheckFDLeaks(t)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		t.Parallel()
		f(t, kind)
	})
}

// skipRepeat skips AF_INET6 on all backends but the first, unless the long
// runs are on (testutil.Long): the dispatcher's IPv6 code is the address
// conversion, which does not depend on the backend, and past it an IPv6
// socket takes the same paths as an IPv4 one.
func (f family) skipRepeat(t testing.TB, kind poller.Kind) {
	if f.af == dispatcher.AFInet6 && !testutil.Long() && kind != looptest.Backends()[0] {
		t.Skipf("AF_INET6 runs on %v here, and on every backend in the long runs", looptest.Backends()[0])
	}
}

// skipUnix skips the tests CPython skips for AF_UNIX.
func (e *env) skipUnix(why string) {
	if e.fam.af == dispatcher.AFUnix {
		e.t.Skip(why)
	}
}

// runUntil drives the loop until cond holds (CPython's
// loop_waiting_for_flag).
func (e *env) runUntil(cond func() bool) {
	e.t.Helper()
	testutil.RunUntil(e.t, e.l, waitFor, cond)
}

// runFor runs n more iterations, to show that something does not happen.
func (e *env) runFor(n int) {
	e.t.Helper()
	testutil.RunFor(e.t, e.l, n, time.Millisecond)
}

// baseHandler is CPython's BaseTestHandler: the handlers a test does not
// expect fail it, and so does any error (handle_error is a bare raise).
// It also closes the channel, so that a failing test does not spin.
type baseHandler struct {
	dispatcher.Dispatcher
	t    testing.TB
	flag bool
}

func (h *baseHandler) unexpected(name string) {
	h.t.Helper()
	h.t.Errorf("%v: %s not supposed to be called", h, name)
}

func (h *baseHandler) HandleAccept() { h.unexpected("HandleAccept"); _ = h.Close() }
func (h *baseHandler) HandleAccepted(fd int, _ net.Addr) {
	_ = unix.Close(fd)
	h.unexpected("HandleAccepted")
}
func (h *baseHandler) HandleConnect() { h.unexpected("HandleConnect") }
func (h *baseHandler) HandleExpt()    { h.unexpected("HandleExpt"); _ = h.Close() }
func (h *baseHandler) HandleClose()   { h.unexpected("HandleClose"); _ = h.Close() }
func (h *baseHandler) HandleError(err error) {
	h.t.Errorf("%v: unexpected error: %v", h, err)
	_ = h.Close()
}

// adopt is BaseTestHandler.__init__(sock): serve self over the accepted fd.
func (h *baseHandler) adopt(e *env, self dispatcher.Handler, fd int) {
	h.t = e.t
	h.Init(self, e.m)
	if err := h.Adopt(fd); err != nil {
		_ = unix.Close(fd)
		e.t.Errorf("Adopt: %v", err)
	}
}

// listen is the set-up of CPython's TestListener: create_socket, bind,
// listen(5).
func (h *baseHandler) listen(e *env, self dispatcher.Handler) {
	h.t = e.t
	h.Init(self, e.m)
	require.NoError(e.t, h.CreateSocket(e.fam.af, dispatcher.SockStream))
	require.NoError(e.t, h.Bind(e.fam.addr(e.t)))
	require.NoError(e.t, h.Listen(5))
}

// baseClient is CPython's BaseClient: a baseHandler that connects, and whose
// HandleConnect does nothing.
type baseClient struct{ baseHandler }

func (c *baseClient) HandleConnect() {}

// dial is BaseClient.__init__: create_socket and connect. AF_UNIX connects
// at once, so HandleConnect may run before dial returns.
func (c *baseClient) dial(e *env, self dispatcher.Handler, address string) {
	c.t = e.t
	c.Init(self, e.m)
	require.NoError(e.t, c.CreateSocket(e.fam.af, dispatcher.SockStream))
	require.NoError(e.t, c.Connect(address))
}

// baseServer is CPython's BaseServer: a listener whose HandleAccepted hands
// each connection to handler, and for which any error fails the test.
type baseServer struct {
	dispatcher.Dispatcher
	t        testing.TB
	handler  func(fd int)
	accepted int
}

// newServer is BaseServer(family, addr, handler); a nil handler serves each
// connection with a plain baseHandler.
func newServer(e *env, handler func(fd int)) *baseServer {
	if handler == nil {
		handler = func(fd int) {
			h := &baseHandler{}
			h.adopt(e, h, fd)
		}
	}
	s := &baseServer{t: e.t, handler: handler}
	s.Init(s, e.m)
	require.NoError(e.t, s.CreateSocket(e.fam.af, dispatcher.SockStream))
	require.NoError(e.t, s.SetReuseAddr())
	require.NoError(e.t, s.Bind(e.fam.addr(e.t)))
	require.NoError(e.t, s.Listen(5))
	return s
}

// address is BaseServer.address, socket.getsockname(), as Connect wants it.
func (s *baseServer) address() string { return s.Socket().LocalAddr().String() }

func (s *baseServer) HandleAccepted(fd int, _ net.Addr) {
	s.accepted++
	s.handler(fd)
}

func (s *baseServer) HandleError(err error) {
	s.t.Errorf("server: unexpected error: %v", err)
	_ = s.Close()
}

// --- test_handle_connect ---

type connectClient struct {
	baseClient
	connectedDuring, connectingDuring bool
}

func (c *connectClient) HandleConnect() {
	c.connectedDuring, c.connectingDuring = c.Connected(), c.Connecting()
	c.flag = true
}

// TestHandleConnect is test_handle_connect: HandleConnect fires after
// Connect — with Connected still false and Connecting still true, as in
// asyncore's handle_connect_event — and the flags flip after it.
func TestHandleConnect(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		s := newServer(e, nil)
		c := &connectClient{}
		c.dial(e, c, s.address())
		e.runUntil(func() bool { return c.flag })
		assert.False(t, c.connectedDuring, "Connected inside HandleConnect")
		assert.True(t, c.connectingDuring, "Connecting inside HandleConnect")
		assert.True(t, c.Connected())
		assert.False(t, c.Connecting())
	})
}

// --- test_handle_accept ---

type flagListener struct{ baseHandler }

func (l *flagListener) HandleAccept() { l.flag = true }

// TestHandleAccept is test_handle_accept: a connecting client makes the
// listener's HandleAccept fire.
func TestHandleAccept(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		srv := &flagListener{}
		srv.listen(e, srv)
		c := &baseClient{}
		c.dial(e, c, srv.Socket().LocalAddr().String())
		e.runUntil(func() bool { return srv.flag })
	})
}

// --- test_handle_accepted ---

type acceptedListener struct {
	baseHandler
	peer net.Addr
}

// HandleAccept calls the default, as asyncore.dispatcher.handle_accept(self).
func (l *acceptedListener) HandleAccept() { l.Dispatcher.HandleAccept() }

func (l *acceptedListener) HandleAccepted(fd int, addr net.Addr) {
	_ = unix.Close(fd)
	l.peer = addr
	l.flag = true
}

// TestHandleAccepted is test_handle_accepted: the default HandleAccept
// accepts and passes the new descriptor and the peer's address to
// HandleAccepted.
func TestHandleAccepted(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		srv := &acceptedListener{}
		srv.listen(e, srv)
		c := &baseClient{}
		c.dial(e, c, srv.Socket().LocalAddr().String())
		e.runUntil(func() bool { return srv.flag })
		require.NotNil(t, srv.peer)
		if e.fam.af == dispatcher.AFUnix {
			assert.IsType(t, &net.UnixAddr{}, srv.peer)
			return
		}
		e.runUntil(func() bool { return c.Connected() })
		tcp, ok := srv.peer.(*net.TCPAddr)
		require.True(t, ok, "peer address %T", srv.peer)
		assert.True(t, tcp.IP.IsLoopback(), "peer %v", tcp)
		assert.Equal(t, c.Socket().LocalAddr().String(), tcp.String(), "the peer is the client")
	})
}

// --- test_handle_read ---

type readClient struct{ baseClient }

func (c *readClient) HandleRead() { c.flag = true }

// TestHandleRead is test_handle_read: data sent by the accepted side makes
// the client's HandleRead fire.
func TestHandleRead(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		s := newServer(e, func(fd int) {
			h := &baseHandler{}
			h.adopt(e, h, fd)
			n, err := h.Send(bytes.Repeat([]byte("x"), 1024))
			assert.NoError(t, err)
			assert.Equal(t, 1024, n)
		})
		c := &readClient{}
		c.dial(e, c, s.address())
		e.runUntil(func() bool { return c.flag })
		assert.Equal(t, 1, s.accepted)
	})
}

// --- test_handle_write ---

type writeClient struct{ baseClient }

// Writable is asyncore's default, always true; ours is true only while
// connecting (a deliberate difference), so the test asks for it.
func (c *writeClient) Writable() bool { return true }
func (c *writeClient) HandleWrite()   { c.flag = true }

// TestHandleWrite is test_handle_write: a writable client gets HandleWrite.
func TestHandleWrite(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		s := newServer(e, nil)
		c := &writeClient{}
		c.dial(e, c, s.address())
		e.runUntil(func() bool { return c.flag })
	})
}

// --- test_handle_close ---

type closeClient struct {
	baseClient
	closes  int
	readErr error
}

// HandleRead makes the recv call that sees EOF and so calls HandleClose.
func (c *closeClient) HandleRead() {
	var buf [1024]byte
	_, err := c.Recv(buf[:])
	if err != nil {
		c.readErr = err
	}
}

func (c *closeClient) HandleClose() {
	c.closes++
	c.flag = true
	_ = c.Close()
}

// TestHandleClose is test_handle_close: the accepted side closes at once;
// the client sees EOF through Recv (which returns io.EOF) or through the
// hang-up, and HandleClose runs exactly once.
func TestHandleClose(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		s := newServer(e, func(fd int) {
			h := &baseHandler{}
			h.adopt(e, h, fd)
			assert.NoError(t, h.Close())
		})
		c := &closeClient{}
		c.dial(e, c, s.address())
		e.runUntil(func() bool { return c.flag })
		e.runFor(3)
		assert.Equal(t, 1, c.closes, "HandleClose calls")
		assert.Equal(t, -1, c.Fd())
		if c.readErr != nil {
			assert.ErrorIs(t, c.readErr, io.EOF)
		}
	})
}

// --- test_handle_close_after_conn_broken ---

var brokenData = make([]byte, 128)

type brokenClient struct {
	baseClient
	closes int
}

func (c *brokenClient) Writable() bool { return true }
func (c *brokenClient) HandleWrite()   { _, _ = c.Send(brokenData) }
func (c *brokenClient) HandleClose() {
	c.closes++
	c.flag = true
	_ = c.Close()
}
func (c *brokenClient) HandleExpt() {
	c.flag = true
	_ = c.Close()
}

type brokenHandler struct{ baseHandler }

func (h *brokenHandler) HandleRead() {
	var buf [128]byte
	_, _ = h.Recv(buf[:])
	_ = h.Close()
}

func (h *brokenHandler) Writable() bool { return false }

// TestHandleCloseAfterConnBroken is test_handle_close_after_conn_broken
// (bpo-5661, bpo-11265): the peer closes while the client keeps sending;
// the EPIPE or ECONNRESET leads to HandleClose, never to HandleError
// (baseHandler fails the test on any error).
func TestHandleCloseAfterConnBroken(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		s := newServer(e, func(fd int) {
			h := &brokenHandler{}
			h.adopt(e, h, fd)
		})
		c := &brokenClient{}
		c.dial(e, c, s.address())
		e.runUntil(func() bool { return c.flag })
		e.runFor(3)
		assert.LessOrEqual(t, c.closes, 1, "HandleClose calls")
		assert.Equal(t, -1, c.Fd())
	})
}

// --- test_handle_expt ---

type exptClient struct {
	baseClient
	oob []byte
}

func (c *exptClient) HandleExpt() {
	var buf [1024]byte
	n, _, err := unix.Recvfrom(c.Fd(), buf[:], unix.MSG_OOB)
	if assert.NoError(c.t, err) {
		c.oob = append(c.oob, buf[:n]...)
	}
	c.flag = true
}

// TestHandleExpt is test_handle_expt: out-of-band data makes HandleExpt
// fire (Priority from every backend). Not applicable to AF_UNIX.
func TestHandleExpt(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		e.skipUnix("Not applicable to AF_UNIX sockets.")
		s := newServer(e, func(fd int) {
			h := &baseHandler{}
			h.adopt(e, h, fd)
			assert.NoError(t, unix.Sendto(h.Fd(), []byte{244}, unix.MSG_OOB, nil))
		})
		c := &exptClient{}
		c.dial(e, c, s.address())
		e.runUntil(func() bool { return c.flag })
		assert.Equal(t, []byte{244}, c.oob)
	})
}

// --- test_handle_error ---

type errorClient struct {
	baseClient
	zero int
	err  error
}

func (c *errorClient) Writable() bool { return true }
func (c *errorClient) HandleWrite()   { _ = 1 / c.zero } // 1.0 / 0 in Python

func (c *errorClient) HandleError(err error) {
	c.flag = true
	c.err = err
}

// TestHandleError is test_handle_error: a panicking handler reaches
// HandleError, and the error still carries what was raised — as a bare
// raise inside handle_error re-raises ZeroDivisionError.
func TestHandleError(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		s := newServer(e, nil)
		c := &errorClient{}
		c.dial(e, c, s.address())
		e.runUntil(func() bool { return c.flag })
		var pe *loop.PanicError
		require.ErrorAs(t, c.err, &pe)
		var re runtime.Error
		require.ErrorAs(t, c.err, &re, "the panic value is reachable through the error")
		assert.Contains(t, re.Error(), "integer divide by zero")
		assert.Contains(t, string(pe.Stack), "(*errorClient).HandleWrite")
	})
}

// --- test_connection_attributes ---

// TestConnectionAttributes is test_connection_attributes: Connected and
// Accepting through a connection's life.
func TestConnectionAttributes(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		s := newServer(e, nil)
		c := &baseClient{}
		c.dial(e, c, s.address())

		// we start disconnected
		assert.False(t, s.Connected())
		assert.True(t, s.Accepting())
		assert.False(t, c.Accepting())

		// run until the client is connected and the server accepted it
		e.runUntil(func() bool { return c.Connected() && s.accepted == 1 })
		assert.False(t, s.Connected())
		assert.True(t, s.Accepting())
		assert.True(t, c.Connected())
		assert.False(t, c.Accepting())
		assert.False(t, c.Connecting())

		// disconnect the client
		require.NoError(t, c.Close())
		assert.False(t, s.Connected())
		assert.True(t, s.Accepting())
		assert.False(t, c.Connected())
		assert.False(t, c.Accepting())

		// stop serving
		require.NoError(t, s.Close())
		assert.False(t, s.Connected())
		assert.False(t, s.Accepting())
	})
}

// --- test_create_socket ---

// TestCreateSocket is test_create_socket: the socket is a stream socket of
// the family asked for, non-blocking (gettimeout() == 0) and close-on-exec
// (not inheritable), and the dispatcher is in its map.
func TestCreateSocket(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		d := dispatcher.New(e.m)
		require.NoError(t, d.CreateSocket(e.fam.af, dispatcher.SockStream))
		fd := d.Fd()
		require.GreaterOrEqual(t, fd, 0)
		assert.Equal(t, d, e.m.Get(fd), "registered in the map")

		sotype, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		require.NoError(t, err)
		assert.Equal(t, unix.SOCK_STREAM, sotype)
		assert.Equal(t, dispatcher.SockStream, d.Socket().Type())

		sa, err := unix.Getsockname(fd)
		require.NoError(t, err)
		want := map[int]any{
			unix.AF_INET:  &unix.SockaddrInet4{},
			unix.AF_INET6: &unix.SockaddrInet6{},
			unix.AF_UNIX:  &unix.SockaddrUnix{},
		}[e.fam.af]
		assert.IsType(t, want, sa, "family")
		assert.Equal(t, e.fam.af, d.Socket().Family())

		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		require.NoError(t, err)
		assert.NotZero(t, fl&unix.O_NONBLOCK, "O_NONBLOCK")
		fdfl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		require.NoError(t, err)
		assert.NotZero(t, fdfl&unix.FD_CLOEXEC, "FD_CLOEXEC")

		assert.False(t, d.Connected())
		assert.False(t, d.Accepting())
		assert.False(t, d.Connecting())
		assert.ErrorIs(t, d.CreateSocket(e.fam.af, dispatcher.SockStream), dispatcher.ErrHasSocket)
	})
}

// --- test_bind ---

// TestBind is test_bind: a second bind to a listener's port fails with
// EADDRINUSE. Unlike asyncore, Addr reports the real port after binding to
// port 0, and a failed bind leaves Addr unset
// (docs/asyncore-compat.md#small-differences).
func TestBind(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		e.skipUnix("Not applicable to AF_UNIX sockets.")
		s1 := dispatcher.New(e.m)
		require.NoError(t, s1.CreateSocket(e.fam.af, dispatcher.SockStream))
		assert.Nil(t, s1.Addr(), "Addr before Bind")
		require.NoError(t, s1.Bind(e.fam.addr(t)))
		require.NoError(t, s1.Listen(5))
		bound, ok := s1.Addr().(*net.TCPAddr)
		require.True(t, ok, "Addr is %T", s1.Addr())
		assert.NotZero(t, bound.Port, "Addr has the real port")
		assert.Equal(t, s1.Socket().LocalAddr().String(), bound.String())

		s2 := dispatcher.New(e.m)
		require.NoError(t, s2.CreateSocket(e.fam.af, dispatcher.SockStream))
		err := s2.Bind(bound.String())
		require.Error(t, err)
		assert.ErrorIs(t, err, syscall.EADDRINUSE)
		assert.Nil(t, s2.Addr(), "a failed Bind sets no address")
	})
}

// --- test_set_reuse_addr ---

// TestSetReuseAddr is test_set_reuse_addr: an adopted fresh socket has
// SO_REUSEADDR off; after Close, CreateSocket and SetReuseAddr it is on.
func TestSetReuseAddr(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		e.skipUnix("Not applicable to AF_UNIX sockets.")
		fd, err := testutil.NewSocket(e.fam.af, unix.SOCK_STREAM)
		require.NoError(t, err)
		s := dispatcher.New(e.m)
		if err := s.Adopt(fd); err != nil {
			_ = unix.Close(fd)
			require.NoError(t, err)
		}
		assert.False(t, s.Connected(), "an unconnected socket is adopted unconnected")
		v, err := unix.GetsockoptInt(s.Fd(), unix.SOL_SOCKET, unix.SO_REUSEADDR)
		require.NoError(t, err)
		assert.Zero(t, v)

		require.NoError(t, s.Close())
		require.NoError(t, s.CreateSocket(e.fam.af, dispatcher.SockStream))
		require.NoError(t, s.SetReuseAddr())
		v, err = unix.GetsockoptInt(s.Fd(), unix.SOL_SOCKET, unix.SO_REUSEADDR)
		require.NoError(t, err)
		assert.NotZero(t, v)
	})
}

// --- test_quick_connect ---

type quickHandler struct {
	baseHandler
	closes int
}

// HandleRead reads, so that the reset is seen on every backend: select
// reports a reset socket only as readable, and only a read tells why.
func (h *quickHandler) HandleRead() {
	var buf [64]byte
	_, _ = h.Recv(buf[:])
}

// HandleClose is expected here: the peer resets the connection.
func (h *quickHandler) HandleClose() {
	h.closes++
	_ = h.Close()
}

// TestQuickConnect is test_quick_connect (bpo-10340): a client that
// connects and resets at once (SO_LINGER 0) must not upset the server.
// Adopt tolerates the ENOTCONN/EINVAL getpeername gives for such a socket,
// and the reset reaches the accepted handler as HandleClose, never
// HandleError. Not applicable to AF_UNIX.
func TestQuickConnect(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		e.skipUnix("test specific to AF_INET and AF_INET6")
		var handlers []*quickHandler
		s := newServer(e, func(fd int) {
			h := &quickHandler{}
			h.adopt(e, h, fd)
			handlers = append(handlers, h)
		})
		done := make(chan error, 1)
		go func() {
			d := net.Dialer{Timeout: 200 * time.Millisecond}
			c, err := d.Dial(e.fam.network(), s.address())
			if err != nil {
				done <- err
				return
			}
			_ = c.(*net.TCPConn).SetLinger(0)
			done <- c.Close()
		}()
		var dialErr error
		finished := false
		e.runUntil(func() bool {
			if !finished {
				select {
				case dialErr = <-done:
					finished = true
				default:
				}
			}
			return finished && (dialErr != nil || (len(handlers) == 1 && handlers[0].closes > 0))
		})
		require.NoError(t, dialErr, "the loopback connect")
		e.runFor(3)
		assert.Equal(t, 1, s.accepted)
		assert.Equal(t, 1, handlers[0].closes, "HandleClose calls")
		assert.True(t, s.Accepting(), "the listener is unharmed")
	})
}
