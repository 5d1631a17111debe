package dispatcher_test

// Fault tests for the system calls that go through internal/sock besides
// accept and connect (docs/failure-modes.md#f18-eintr,
// docs/failure-modes.md#f3-fd-leak): sendto and recvfrom on a datagram
// socket, shutdown, and the closes of descriptors a listener accepts and
// does not keep (refused, shed, or unhandled). Each test also checks that the
// fault-injection seam saw the call, so a call site that bypasses
// internal/sock fails it.

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/sock"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// scriptFaults installs an injector that answers the calls of op on fd with
// faults, in order, and the zero Fault once they run out; it is removed when
// the test ends. It returns the number of calls seen.
func scriptFaults(t *testing.T, op sock.Op, fd int, faults ...sock.Fault) *int {
	t.Helper()
	calls := 0
	restore := sock.SetInjector(func(o sock.Op, f int) sock.Fault {
		if o != op || f != fd {
			return sock.Fault{}
		}
		calls++
		if calls <= len(faults) {
			return faults[calls-1]
		}
		return sock.Fault{}
	})
	t.Cleanup(restore)
	return &calls
}

// newUDP binds a datagram dispatcher to a free port on 127.0.0.1.
func newUDP(t *testing.T, m *loop.Map) *dgram {
	t.Helper()
	d := &dgram{}
	d.Init(d, m)
	d.Logger = faultQuiet
	require.NoError(t, d.CreateSocket(dispatcher.AFInet, dispatcher.SockDgram))
	t.Cleanup(func() { _ = d.Close() })
	require.NoError(t, d.Bind("127.0.0.1:0"))
	return d
}

// TestFaultSendTo: SendTo retries EINTR, reports EAGAIN as 0 and no error,
// and passes any other error to HandleError.
func TestFaultSendTo(t *testing.T) {
	testutil.CheckFDLeaks(t)
	l := looptest.NewLoop(t, 0)
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = peer.Close() })
	d := newUDP(t, l.Map())

	calls := scriptFaults(t, sock.OpWrite, d.Fd(),
		sock.Fault{Err: unix.EINTR}, sock.Fault{Err: unix.EINTR}, sock.Fault{},
		sock.Fault{Err: unix.EAGAIN},
		sock.Fault{Err: unix.EACCES})
	n, err := d.Socket().SendTo([]byte("hello"), peer.LocalAddr())
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	assert.Equal(t, 3, *calls, "two EINTRs retried through the seam")
	buf := make([]byte, 16)
	require.NoError(t, peer.SetReadDeadline(time.Now().Add(waitFor)))
	n, _, err = peer.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(buf[:n]))

	n, err = d.Socket().SendTo([]byte("again"), peer.LocalAddr())
	assert.NoError(t, err, "EAGAIN is not an error")
	assert.Zero(t, n)
	assert.Empty(t, d.errs)

	n, err = d.Socket().SendTo([]byte("denied"), peer.LocalAddr())
	assert.ErrorIs(t, err, unix.EACCES)
	assert.Zero(t, n)
	require.Len(t, d.errs, 1, "a hard error reaches HandleError")
	assert.ErrorIs(t, d.errs[0], unix.EACCES)
	assert.Equal(t, 5, *calls)
	assert.Zero(t, d.closes)
}

// TestFaultRecvFrom: RecvFrom retries EINTR without losing the datagram,
// reports EAGAIN as nothing pending, and passes any other error to
// HandleError.
func TestFaultRecvFrom(t *testing.T) {
	testutil.CheckFDLeaks(t)
	l := looptest.NewLoop(t, 0)
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = peer.Close() })
	d := newUDP(t, l.Map())

	calls := scriptFaults(t, sock.OpRead, d.Fd(), sock.Fault{Err: unix.EINTR}, sock.Fault{Err: unix.EINTR})
	_, err = peer.WriteTo([]byte("hello"), d.Socket().LocalAddr())
	require.NoError(t, err)
	testutil.RunUntil(t, l, waitFor, func() bool { return len(d.got) > 0 })
	assert.Equal(t, []string{"hello"}, d.got)
	assert.Equal(t, peer.LocalAddr().String(), d.from[0].String())
	assert.Equal(t, 3, *calls, "two EINTRs retried through the seam, then the datagram")

	calls = scriptFaults(t, sock.OpRead, d.Fd(), sock.Fault{Err: unix.EAGAIN}, sock.Fault{Err: unix.ENOMEM})
	buf := make([]byte, 16)
	n, from, err := d.Socket().RecvFrom(buf)
	assert.NoError(t, err, "EAGAIN is nothing pending")
	assert.Zero(t, n)
	assert.Nil(t, from)
	assert.Empty(t, d.errs)

	n, from, err = d.Socket().RecvFrom(buf)
	assert.ErrorIs(t, err, unix.ENOMEM)
	assert.Zero(t, n)
	assert.Nil(t, from)
	require.Len(t, d.errs, 1, "a hard error reaches HandleError")
	assert.ErrorIs(t, d.errs[0], unix.ENOMEM)
	assert.Equal(t, 2, *calls)
	assert.Zero(t, d.closes)
}

// plainConn is a connection that records its errors.
type plainConn struct {
	dispatcher.Dispatcher
	errs []error
}

func (c *plainConn) HandleError(err error) { c.errs = append(c.errs, err) }

// TestFaultShutdownWrite: ShutdownWrite retries EINTR — the peer then reads
// EOF — and returns any other error, wrapped with the call's name.
func TestFaultShutdownWrite(t *testing.T) {
	testutil.CheckFDLeaks(t)
	fds, err := testutil.NewSocketpair()
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Close(fds[1]) })
	c := &plainConn{}
	c.Init(c, loop.NewMap())
	c.Logger = faultQuiet
	require.NoError(t, c.Adopt(fds[0]))
	t.Cleanup(func() { _ = c.Close() })

	calls := scriptFaults(t, sock.OpShutdown, fds[0], sock.Fault{Err: unix.EINTR}, sock.Fault{}, sock.Fault{Err: unix.ENOBUFS})
	require.NoError(t, c.Socket().ShutdownWrite())
	assert.Equal(t, 2, *calls, "the EINTR was retried through the seam")
	n, err := unix.Read(fds[1], make([]byte, 1))
	require.NoError(t, err)
	assert.Zero(t, n, "the peer reads EOF")

	err = c.Socket().ShutdownWrite()
	assert.ErrorIs(t, err, unix.ENOBUFS)
	var se *os.SyscallError
	if assert.ErrorAs(t, err, &se) {
		assert.Equal(t, "shutdown", se.Syscall)
	}
	assert.Equal(t, 3, *calls)
	assert.Empty(t, c.errs, "ShutdownWrite returns its error; it does not call HandleError")
}

// closeFaults installs an injector that fails every close(2) except those
// of the descriptors in keep with errno — the descriptor is closed all the
// same (sock.Close) — and counts them. It is removed by the returned
// function or when the test ends.
func closeFaults(t *testing.T, errno unix.Errno, keep ...int) (closes *int, restore func()) {
	t.Helper()
	n := 0
	restore = sock.SetInjector(func(op sock.Op, fd int) sock.Fault {
		if op != sock.OpClose {
			return sock.Fault{}
		}
		for _, k := range keep {
			if fd == k {
				return sock.Fault{}
			}
		}
		n++
		return sock.Fault{Err: errno}
	})
	t.Cleanup(restore)
	return &n, restore
}

// closeErrnos are the close(2) failures the reject and shed tests inject:
// an interrupted close and an I/O error. Both leave the descriptor closed
// on Linux, and sock.Close never retries them.
var closeErrnos = []unix.Errno{unix.EINTR, unix.EIO}

// readAll reads what c receives until EOF or a reset, with a hang guard. It
// may run on any goroutine.
func readAll(c net.Conn) (string, error) {
	if err := c.SetReadDeadline(time.Now().Add(waitFor)); err != nil {
		return "", err
	}
	got, err := io.ReadAll(c)
	if errors.Is(err, unix.ECONNRESET) {
		err = nil
	}
	return string(got), err
}

// TestFaultRejectClose: when the close of a refused connection fails or is
// interrupted, the descriptor is released all the same — the client reads
// the refusal and EOF, no descriptor leaks — and the listener goes on.
func TestFaultRejectClose(t *testing.T) {
	const reject = "-ERR max number of clients reached\r\n"
	for _, errno := range closeErrnos {
		t.Run(errno.Error(), func(t *testing.T) {
			looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
				testutil.CheckFDLeaks(t)
				l, err := loop.New(loop.Options{Map: loop.NewMap(), Backend: kind})
				require.NoError(t, err)
				dispatcher.SetMaxConns(l.Map(), 1)
				t.Cleanup(func() {
					_ = dispatcher.CloseAll(l.Map(), true)
					_ = l.Close()
				})
				s := &capServer{}
				s.Init(s, l.Map())
				s.Logger = faultQuiet
				s.RejectMessage = []byte(reject)
				require.NoError(t, s.ListenTCP("127.0.0.1:0"))
				addr := s.Socket().LocalAddr().String()

				served, err := net.Dial("tcp4", addr)
				require.NoError(t, err)
				t.Cleanup(func() { _ = served.Close() })
				testutil.RunUntil(t, l, waitFor, func() bool { return dispatcher.Stats(l.Map()).Conns == 1 })
				fds := testutil.OpenFDs()

				closes, restore := closeFaults(t, errno, s.Fd())
				refused, err := net.Dial("tcp4", addr)
				require.NoError(t, err)
				t.Cleanup(func() { _ = refused.Close() })
				testutil.RunUntil(t, l, waitFor, func() bool { return s.AcceptStats().Rejected == 1 })
				restore()
				assert.Equal(t, 1, *closes, "the refused descriptor was closed through the seam")
				if fds > 0 {
					assert.Equal(t, fds+1, testutil.OpenFDs(), "only the refused client's own descriptor is new")
				}
				got, err := readAll(refused)
				require.NoError(t, err)
				assert.Equal(t, reject, got, "the refusal, then EOF")
				assert.True(t, s.Accepting(), "the listener goes on")
				assert.Len(t, s.conns, 1)
			})
		})
	}
}

// sheddingListener counts what HandleAccept sees.
type sheddingListener struct {
	dispatcher.Dispatcher
	accepted int
	errs     []error
}

func (s *sheddingListener) HandleAccepted(fd int, _ net.Addr) {
	s.accepted++
	_ = unix.Close(fd)
}

func (s *sheddingListener) HandleError(err error) { s.errs = append(s.errs, err) }

// TestFaultShedClose: when accept runs out of descriptors the listener
// sheds its backlog (docs/failure-modes.md#f1-accept-emfile). If the closes
// on that path — of the spare descriptor and of each shed connection — fail
// or are interrupted, every descriptor is released all the same, the shed
// client sees EOF or a reset, and the spare is taken back.
func TestFaultShedClose(t *testing.T) {
	for _, errno := range closeErrnos {
		t.Run(errno.Error(), func(t *testing.T) {
			looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
				testutil.CheckFDLeaks(t)
				l := looptest.NewLoop(t, kind)
				s := &sheddingListener{}
				s.Init(s, l.Map())
				s.Logger = faultQuiet
				s.AcceptBackoff = time.Millisecond
				require.NoError(t, s.ListenTCP("127.0.0.1:0"))
				lfd := s.Fd()
				fds := testutil.OpenFDs()

				c, err := net.Dial("tcp4", s.Socket().LocalAddr().String())
				require.NoError(t, err)
				t.Cleanup(func() { _ = c.Close() })

				accepts, closes := 0, 0
				restore := sock.SetInjector(func(op sock.Op, fd int) sock.Fault {
					switch {
					case op == sock.OpAccept && fd == lfd:
						accepts++
						if accepts == 1 {
							return sock.Fault{Err: unix.EMFILE}
						}
					case op == sock.OpClose && fd != lfd:
						closes++
						return sock.Fault{Err: errno}
					}
					return sock.Fault{}
				})
				t.Cleanup(restore)
				testutil.RunUntil(t, l, waitFor, func() bool { return s.AcceptStats().Shed == 1 })
				restore()
				assert.Equal(t, 2, closes, "the spare and the shed connection were closed through the seam")
				assert.Zero(t, s.accepted)
				assert.Empty(t, s.errs)
				if fds > 0 {
					assert.Equal(t, fds+1, testutil.OpenFDs(), "only the client's own descriptor is new: the spare is back, the shed one gone")
				}
				_, err = readAll(c)
				require.NoError(t, err, "the shed client sees EOF or a reset")
			})
		})
	}
}

// TestFaultUnhandledAcceptedClose: the default HandleAccepted, and a Server
// whose constructor declines the connection, close the accepted descriptor
// through the seam; a failing close releases it all the same.
func TestFaultUnhandledAcceptedClose(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listen func(t *testing.T, m *loop.Map) (fd int, addr string)
	}{
		{"default", func(t *testing.T, m *loop.Map) (int, string) {
			d := &dispatcher.Dispatcher{}
			d.Init(d, m)
			d.Logger = faultQuiet
			require.NoError(t, d.ListenTCP("127.0.0.1:0"))
			return d.Fd(), d.Socket().LocalAddr().String()
		}},
		{"server", func(t *testing.T, m *loop.Map) (int, string) {
			s, err := dispatcher.Serve(m, "127.0.0.1:0", func() dispatcher.Handler { return nil })
			require.NoError(t, err)
			s.Logger = faultQuiet
			return s.Fd(), s.Socket().LocalAddr().String()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckFDLeaks(t)
			l := looptest.NewLoop(t, 0)
			lfd, addr := tc.listen(t, l.Map())
			fds := testutil.OpenFDs()
			closes, restore := closeFaults(t, unix.EIO, lfd)
			c, err := net.Dial("tcp4", addr)
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			var eof atomic.Bool
			read := make(chan error, 1)
			go func() {
				_, err := readAll(c)
				eof.Store(true)
				read <- err
			}()
			testutil.RunUntil(t, l, waitFor, eof.Load)
			require.NoError(t, <-read, "the client sees EOF")
			restore()
			assert.Equal(t, 1, *closes, "the accepted descriptor was closed through the seam")
			if fds > 0 {
				assert.Equal(t, fds+1, testutil.OpenFDs(), "only the client's own descriptor is new")
			}
		})
	}
}
