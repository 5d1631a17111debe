package dispatcher_test

// Dispatcher timeouts: reliability.md F5 (no stale timer after fd reuse),
// F11 (idle), F12 (write stall), F16 (connect timeout). Timing assertions
// are loose bounds, at least 3× away from the configured value.

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
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
}

func newTimeoutConn(m *loop.Map) *timeoutConn {
	c := &timeoutConn{}
	c.Init(c, m)
	return c
}

func (c *timeoutConn) HandleRead() {
	var buf [512]byte
	_, _ = c.Recv(buf[:])
}

func (c *timeoutConn) HandleConnect() { c.connects++ }

func (c *timeoutConn) HandleError(err error) {
	c.errs = append(c.errs, err)
	_ = c.Close()
}

func (c *timeoutConn) closed() bool { return c.Fd() < 0 }

// runFor drives l for about d.
func runFor(t *testing.T, l *loop.Loop, d time.Duration) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		require.NoError(t, l.RunOnce(10*time.Millisecond))
	}
}

// TestIdleTimeout (F11): no progress for IdleTimeout closes the dispatcher
// with ErrIdleTimeout, not before; input keeps it open; a plain
// Dispatcher has no idle timeout unless it asks.
func TestIdleTimeout(t *testing.T) {
	const idle = 250 * time.Millisecond // 12 writes per period: margin for a loaded machine
	testutil.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		checkFDLeaks(t)
		l := testutil.NewLoop(t, kind)
		c := newTimeoutConn(l.Map())
		c.IdleTimeout = idle
		a, b := testutil.Socketpair(t)
		fd, err := unix.Dup(a)
		require.NoError(t, err)
		require.NoError(t, c.Adopt(fd))

		// A byte every 20ms for three idle periods: never idle.
		start, last := time.Now(), time.Time{}
		testutil.RunUntil(t, l, waitFor, func() bool {
			if time.Since(last) >= 20*time.Millisecond {
				_, err := unix.Write(b, []byte("x"))
				require.NoError(t, err)
				last = time.Now()
			}
			return c.closed() || time.Since(start) > 3*idle
		})
		require.False(t, c.closed(), "closed although never idle: %v", c.errs)

		testutil.RunUntil(t, l, waitFor, c.closed)
		elapsed := time.Since(last)
		assert.GreaterOrEqual(t, elapsed, idle)
		assert.Less(t, elapsed, 3*idle)
		require.Len(t, c.errs, 1)
		assert.ErrorIs(t, c.errs[0], dispatcher.ErrIdleTimeout)

		// The asyncore default: a plain dispatcher is never closed for
		// being quiet.
		plain := newTimeoutConn(l.Map())
		fd, err = unix.Dup(a)
		require.NoError(t, err)
		require.NoError(t, plain.Adopt(fd))
		runFor(t, l, 3*idle)
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
	testutil.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		checkFDLeaks(t)
		l := testutil.NewLoop(t, kind)
		c := newTimeoutConn(l.Map())
		c.UseServerTimeouts() // 120s: nothing happens during the test
		a, _ := testutil.Socketpair(t)
		fd, err := unix.Dup(a)
		require.NoError(t, err)
		require.NoError(t, c.Adopt(fd))
		start := time.Now()
		runFor(t, l, idle)
		assert.False(t, c.closed())

		c.IdleTimeout = idle
		c.ResetTimeouts()
		testutil.RunUntil(t, l, waitFor, c.closed)
		elapsed := time.Since(start)
		assert.GreaterOrEqual(t, elapsed, idle)
		assert.Less(t, elapsed, 3*idle, "the idle clock ran from the start")
		require.Len(t, c.errs, 1)
		assert.ErrorIs(t, c.errs[0], dispatcher.ErrIdleTimeout)
	})
}

// TestStaleIdleTimer (F5): A's idle timer must not fire on B, which reuses
// A's descriptor number after A closed.
func TestStaleIdleTimer(t *testing.T) {
	const idle = 200 * time.Millisecond
	testutil.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		checkFDLeaks(t)
		l := testutil.NewLoop(t, kind)
		a, _ := testutil.Socketpair(t)
		x, _ := testutil.Socketpair(t)
		fd, err := unix.Dup(a)
		require.NoError(t, err)
		first := newTimeoutConn(l.Map())
		first.IdleTimeout = idle
		require.NoError(t, first.Adopt(fd))
		start := time.Now()
		runFor(t, l, 3*idle/4)
		require.False(t, first.closed())
		require.NoError(t, first.Close())

		// The same number, another socket, a long timeout.
		require.NoError(t, testutil.DupTo(x, fd))
		second := newTimeoutConn(l.Map())
		second.IdleTimeout = 5 * time.Second
		require.NoError(t, second.Adopt(fd))
		runFor(t, l, 2*idle-time.Since(start))
		assert.False(t, second.closed(), "A's timer fired on B: %v", second.errs)
		assert.Empty(t, second.errs)
		assert.Empty(t, first.errs)
	})
}

// TestWriteStall (F12): output that the peer never reads is dropped and the
// dispatcher closed WriteStallTimeout after the last byte went; without
// output pending a quiet connection is not "stalled".
func TestWriteStall(t *testing.T) {
	const stall = 120 * time.Millisecond
	testutil.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		checkFDLeaks(t)
		l := testutil.NewLoop(t, kind)
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
		start := time.Now()
		c.Send(make([]byte, 8<<20))
		require.Positive(t, c.Pending())
		testutil.RunUntil(t, l, waitFor, c.closed)
		elapsed := time.Since(start)
		assert.GreaterOrEqual(t, elapsed, stall)
		assert.Less(t, elapsed, 3*stall)
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
	testutil.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		checkFDLeaks(t)
		l := testutil.NewLoop(t, kind)
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
		start := time.Now()
		require.NoError(t, c.ConnectAddr(addr))
		if !c.Connecting() {
			t.Skip("the kernel completed the connect although the accept queue is full")
		}
		testutil.RunUntil(t, l, waitFor, func() bool { return c.closed() || c.Connected() })
		elapsed := time.Since(start)
		if c.Connected() {
			t.Skip("the kernel completed the connect although the accept queue is full")
		}
		assert.GreaterOrEqual(t, elapsed, timeout)
		assert.Less(t, elapsed, 3*timeout)
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
	testutil.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		checkFDLeaks(t)
		m := loop.NewMap()
		c := newTimeoutConn(m)
		c.IdleTimeout = idle
		a, b := testutil.Socketpair(t)
		fd, err := unix.Dup(a)
		require.NoError(t, err)
		require.NoError(t, c.Adopt(fd))
		_, err = unix.Write(b, []byte("x")) // the first event
		require.NoError(t, err)

		l, err := loop.New(loop.Options{Map: m, Backend: kind})
		require.NoError(t, err)
		t.Cleanup(func() {
			_ = dispatcher.CloseAll(m, true)
			_ = l.Close()
		})
		start := time.Now()
		testutil.RunUntil(t, l, waitFor, c.closed)
		elapsed := time.Since(start)
		assert.GreaterOrEqual(t, elapsed, idle)
		assert.Less(t, elapsed, 3*idle)
		require.Len(t, c.errs, 1)
		assert.ErrorIs(t, c.errs[0], dispatcher.ErrIdleTimeout)
	})
}
