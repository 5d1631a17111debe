package dispatcher_test

// Dispatcher timeouts: F5 stale-timer (no stale timer after fd reuse),
// F11 slowloris (idle), F12 write-stall, F16 connect-failure (connect timeout),
// docs/failure-modes.md. The loops run on a fake clock (testutil.FakeClock), so
// each timeout is checked to the millisecond on both sides, whatever the
// scheduler does.

import (
	"errors"
	"net"
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

// timeoutConn reads and discards input and records errors; its HandleError
// closes it, as the default does, without logging.
type timeoutConn struct {
	dispatcher.DispatcherWithSend
	errs     []error
	connects int
	reads    int
}

func newTimeoutConn(m *loop.Map) *timeoutConn {
	c := &timeoutConn{}
	c.Init(c, m)
	return c
}

func (c *timeoutConn) HandleRead() {
	var buf [512]byte
	if n, _ := c.Recv(buf[:]); n > 0 {
		c.reads++
	}
}

func (c *timeoutConn) HandleConnect() { c.connects++ }

func (c *timeoutConn) HandleError(err error) {
	c.errs = append(c.errs, err)
	_ = c.Close()
}

func (c *timeoutConn) closed() bool { return c.Fd() < 0 }

// margin separates "just before" from "just after" a deadline on the fake
// clock: the loop's clock gains a nanosecond on each reading that would
// otherwise repeat one, so a deadline is met a few microseconds early at most.
const margin = time.Millisecond

// TestIdleTimeout (F11 slowloris): no progress for IdleTimeout closes the
// dispatcher with ErrIdleTimeout, not before; input keeps it open; a plain
// Dispatcher has no idle timeout unless it asks.
func TestIdleTimeout(t *testing.T) {
	const idle = 250 * time.Millisecond
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l, clk := looptest.NewFakeClockLoop(t, kind)
		c := newTimeoutConn(l.Map())
		c.IdleTimeout = idle
		a, b := testutil.Socketpair(t)
		fd, err := unix.Dup(a)
		require.NoError(t, err)
		require.NoError(t, c.Adopt(fd))

		// A byte every 100ms for three idle periods: never idle.
		for i := 1; i <= 3*int(idle/(100*time.Millisecond)); i++ {
			_, err := unix.Write(b, []byte("x"))
			require.NoError(t, err)
			testutil.RunUntil(t, l, waitFor, func() bool { return c.reads == i || c.closed() })
			require.False(t, c.closed(), "closed although never idle: %v", c.errs)
			clk.Advance(100 * time.Millisecond)
		}
		// The last byte was read 100ms ago.
		clk.Advance(idle - 100*time.Millisecond - margin)
		testutil.Settle(t, l)
		require.False(t, c.closed(), "closed before IdleTimeout: %v", c.errs)
		clk.Advance(2 * margin)
		testutil.Settle(t, l)
		require.True(t, c.closed(), "still open IdleTimeout after the last input")
		require.Len(t, c.errs, 1)
		assert.ErrorIs(t, c.errs[0], dispatcher.ErrIdleTimeout)

		// The asyncore default: a plain dispatcher is never closed for
		// being quiet.
		plain := newTimeoutConn(l.Map())
		fd, err = unix.Dup(a)
		require.NoError(t, err)
		require.NoError(t, plain.Adopt(fd))
		testutil.Settle(t, l)
		clk.Advance(time.Hour)
		testutil.Settle(t, l)
		assert.False(t, plain.closed())
		assert.Empty(t, plain.errs)
	})
}

// TestIdleTimeoutChangedWhileRunning: under UseServerTimeouts (120s) nothing
// happens within the test; lowering IdleTimeout and calling ResetTimeouts on
// the running dispatcher takes effect at once, and the clocks are not
// restarted by it.
func TestIdleTimeoutChangedWhileRunning(t *testing.T) {
	const idle = 100 * time.Millisecond
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l, clk := looptest.NewFakeClockLoop(t, kind)
		c := newTimeoutConn(l.Map())
		c.Hooks().UseServerTimeouts() // 120s: nothing happens during the test
		a, _ := testutil.Socketpair(t)
		fd, err := unix.Dup(a)
		require.NoError(t, err)
		require.NoError(t, c.Adopt(fd))
		testutil.Settle(t, l)
		clk.Advance(idle / 2)
		testutil.Settle(t, l)
		assert.False(t, c.closed())

		c.IdleTimeout = idle
		c.Hooks().ResetTimeouts()
		clk.Advance(idle/2 - margin)
		testutil.Settle(t, l)
		assert.False(t, c.closed(), "closed before IdleTimeout: %v", c.errs)
		clk.Advance(2 * margin)
		testutil.Settle(t, l)
		require.True(t, c.closed(), "the idle clock did not run from the start")
		require.Len(t, c.errs, 1)
		assert.ErrorIs(t, c.errs[0], dispatcher.ErrIdleTimeout)
	})
}

// TestStaleIdleTimer (F5 stale-timer): A's idle timer must not fire on B, which
// reuses A's descriptor number after A closed.
func TestStaleIdleTimer(t *testing.T) {
	const idle = 200 * time.Millisecond
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l, clk := looptest.NewFakeClockLoop(t, kind)
		a, _ := testutil.Socketpair(t)
		x, _ := testutil.Socketpair(t)
		fd, err := unix.Dup(a)
		require.NoError(t, err)
		first := newTimeoutConn(l.Map())
		first.IdleTimeout = idle
		require.NoError(t, first.Adopt(fd))
		testutil.Settle(t, l)
		clk.Advance(3 * idle / 4)
		testutil.Settle(t, l)
		require.False(t, first.closed())
		require.NoError(t, first.Close())

		// The same number, another socket, a long timeout.
		require.NoError(t, testutil.DupTo(x, fd))
		second := newTimeoutConn(l.Map())
		second.IdleTimeout = 5 * time.Second
		require.NoError(t, second.Adopt(fd))
		testutil.Settle(t, l)
		clk.Advance(2*idle - 3*idle/4) // past A's deadline
		testutil.Settle(t, l)
		assert.False(t, second.closed(), "A's timer fired on B: %v", second.errs)
		assert.Empty(t, second.errs)
		assert.Empty(t, first.errs)
	})
}

// TestWriteStall (F12 write-stall): output that the peer never reads is dropped
// and the dispatcher closed WriteStallTimeout after the last byte went; without
// output pending a quiet connection is not "stalled".
func TestWriteStall(t *testing.T) {
	const stall = 120 * time.Millisecond
	forEachBackendParallel(t, func(t *testing.T, kind poller.Kind) {
		l, clk := looptest.NewFakeClockLoop(t, kind)
		a, _ := testutil.Socketpair(t)

		quiet := newTimeoutConn(l.Map())
		quiet.WriteStallTimeout = stall
		fd, err := unix.Dup(a)
		require.NoError(t, err)
		require.NoError(t, quiet.Adopt(fd))

		c := newTimeoutConn(l.Map())
		c.WriteStallTimeout = stall
		b, _ := testutil.Socketpair(t)
		fd, err = unix.Dup(b)
		require.NoError(t, err)
		require.NoError(t, c.Adopt(fd))
		// A fixed 16 KiB send buffer: 1 MiB cannot all fit in the socket.
		require.NoError(t, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 16<<10))
		c.Send(make([]byte, 1<<20))
		require.Positive(t, c.Pending())
		testutil.Settle(t, l) // the socket buffer fills; the last byte goes at 0
		require.Positive(t, c.Pending())
		clk.Advance(stall - margin)
		testutil.Settle(t, l)
		require.False(t, c.closed(), "closed before WriteStallTimeout: %v", c.errs)
		clk.Advance(2 * margin)
		testutil.Settle(t, l)
		require.True(t, c.closed(), "still open WriteStallTimeout after the last byte went")
		require.Len(t, c.errs, 1)
		assert.ErrorIs(t, c.errs[0], dispatcher.ErrWriteStall)
		assert.False(t, quiet.closed())
		assert.Empty(t, quiet.errs)
	})
}

// TestConnectTimeout (F16b): a connect to a listener whose accept queue is
// full (the kernel drops the SYN) fails with ErrConnectTimeout, which
// errors.Is also reports as ETIMEDOUT, after ConnectTimeout and not before.
// HandleConnect never runs.
func TestConnectTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l, clk := looptest.NewFakeClockLoop(t, kind)
		ln, err := testutil.NewSocket(unix.AF_INET, unix.SOCK_STREAM)
		require.NoError(t, err)
		t.Cleanup(func() { _ = unix.Close(ln) })
		require.NoError(t, unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
		require.NoError(t, unix.Listen(ln, 1))
		sa, err := unix.Getsockname(ln)
		require.NoError(t, err)
		port := sa.(*unix.SockaddrInet4).Port
		addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}

		// Fill the accept queue, which is never drained.
		for range 4 {
			s, err := testutil.NewSocket(unix.AF_INET, unix.SOCK_STREAM)
			require.NoError(t, err)
			t.Cleanup(func() { _ = unix.Close(s) })
			err = unix.Connect(s, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port})
			if err != nil && !errors.Is(err, unix.EINPROGRESS) {
				require.NoError(t, err)
			}
		}

		c := newTimeoutConn(l.Map())
		c.ConnectTimeout = timeout
		require.NoError(t, c.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
		require.NoError(t, c.Connect(addr.String()))
		skip := func() {
			if c.Connected() || (!c.Connecting() && !c.closed()) {
				t.Skip("the kernel completed the connect although the accept queue is full")
			}
		}
		skip()
		testutil.Settle(t, l)
		clk.Advance(timeout - margin)
		testutil.Settle(t, l)
		skip()
		require.False(t, c.closed(), "closed before ConnectTimeout: %v", c.errs)
		clk.Advance(2 * margin)
		testutil.Settle(t, l)
		skip()
		require.True(t, c.closed(), "still connecting ConnectTimeout after the connect")
		require.Len(t, c.errs, 1)
		assert.ErrorIs(t, c.errs[0], dispatcher.ErrConnectTimeout)
		assert.ErrorIs(t, c.errs[0], unix.ETIMEDOUT)
		assert.Zero(t, c.connects)
	})
}

// TestTimeoutsSetBeforeTheLoop: a dispatcher adopted into a map that no
// loop serves yet starts its clocks at its first event, and its idle
// timeout then works as usual.
func TestTimeoutsSetBeforeTheLoop(t *testing.T) {
	const idle = 100 * time.Millisecond
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		m := loop.NewMap()
		c := newTimeoutConn(m)
		c.IdleTimeout = idle
		a, b := testutil.Socketpair(t)
		fd, err := unix.Dup(a)
		require.NoError(t, err)
		require.NoError(t, c.Adopt(fd))
		_, err = unix.Write(b, []byte("x")) // the first event
		require.NoError(t, err)

		clk := &testutil.FakeClock{}
		clk.Advance(time.Hour) // the clocks must not start at zero
		l, err := loop.New(loop.Options{Map: m, Backend: kind, Clock: clk.Now})
		require.NoError(t, err)
		t.Cleanup(func() {
			_ = dispatcher.CloseAll(m, true)
			_ = l.Close()
		})
		testutil.RunUntil(t, l, waitFor, func() bool { return c.reads > 0 })
		clk.Advance(idle - margin)
		testutil.Settle(t, l)
		require.False(t, c.closed(), "closed before IdleTimeout: %v", c.errs)
		clk.Advance(2 * margin)
		testutil.Settle(t, l)
		require.True(t, c.closed(), "still open IdleTimeout after the first event")
		require.Len(t, c.errs, 1)
		assert.ErrorIs(t, c.errs[0], dispatcher.ErrIdleTimeout)
	})
}
