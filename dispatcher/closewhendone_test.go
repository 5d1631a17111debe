package dispatcher_test

// DispatcherWithSend's CloseWhenDone, output-drained hook and
// ShutdownWriteWhenDone.

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// hangGuard bounds waits for work that moves megabytes under the race
// detector; it only stops a hung test, it measures nothing.
const hangGuard = 2 * time.Minute

// pattern8M is 8 MiB that show where a piece went missing, made once (the
// race detector makes a byte loop slow).
var pattern8M = sync.OnceValue(func() []byte {
	data := make([]byte, 8<<20)
	// byte(i*7/3) repeats every 768 bytes (768*7/3 = 1792, a multiple of
	// 256): compute one period and copy it, in doubling pieces.
	const period = 768
	for i := range period {
		data[i] = byte(i * 7 / 3)
	}
	for n := period; n < len(data); n *= 2 {
		copy(data[n:], data[:n])
	}
	return data
})

// readResult is what a peer read before its read failed.
type readResult struct {
	data []byte
	err  error // io.EOF for a clean end
}

// slowPeer accepts one connection on a fresh listener. If request is not
// empty it writes it at once (input the dispatcher never reads); it starts
// reading only when start is closed, 64 KiB at a time, until EOF or an
// error, then closes and reports what it got.
func slowPeer(t *testing.T, fam family, request []byte, start <-chan struct{}) (string, <-chan readResult) {
	t.Helper()
	ln, err := net.Listen(fam.network(), fam.addr(t))
	require.NoError(t, err)
	out := make(chan readResult, 1)
	done := make(chan struct{})
	conns := make(chan net.Conn, 1)
	go func() {
		defer close(done)
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			out <- readResult{err: err}
			return
		}
		conns <- c
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(hangGuard))
		if len(request) > 0 {
			if _, err := c.Write(request); err != nil {
				out <- readResult{err: err}
				return
			}
		}
		<-start
		var got bytes.Buffer
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				out <- readResult{got.Bytes(), err}
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		select {
		case c := <-conns:
			_ = c.Close() // a failed test must not wait for the deadline
		default:
		}
		<-done
	})
	return ln.Addr().String(), out
}

// closingSender sends and never reads on its own; it counts drains and
// closes.
type closingSender struct {
	dispatcher.DispatcherWithSend
	drained int
	closes  int
	errs    []error
}

func (s *closingSender) Readable() bool        { return false }
func (s *closingSender) HandleConnect()        {}
func (s *closingSender) HandleDrained()        { s.drained++ }
func (s *closingSender) HandleClose()          { s.closes++; s.DispatcherWithSend.HandleClose() }
func (s *closingSender) HandleError(err error) { s.errs = append(s.errs, err); _ = s.Close() }

// TestCloseWhenDoneDeliversEverything is issue 12.5: 8 MiB sent and then
// CloseWhenDone reaches a slow reader whole, followed by a clean EOF — also
// when the peer had sent input the sender never read, where a plain close
// would make the kernel reset the connection and destroy the tail. The
// 8 MiB go over AF_INET on the first backend; the other variants send 1 MiB
// behind a 64 KiB send buffer, which is as far beyond what the socket takes
// (all variants send 8 MiB in the long runs, testutil.Long).
func TestCloseWhenDoneDeliversEverything(t *testing.T) {
	for _, request := range []string{"", "GET / HTTP/1.0\r\n\r\n"} {
		name := "quiet peer"
		if request != "" {
			name = "unread input"
		}
		t.Run(name, func(t *testing.T) {
			forEachAPIParallel(t, func(t *testing.T, e *env) {
				if raceEnabled && e.fam.af == dispatcher.AFInet6 {
					t.Skip("under -race: AF_INET6 takes AF_INET's path, at the same cost")
				}
				start := make(chan struct{})
				address, out := slowPeer(t, e.fam, []byte(request), start)
				defer func() {
					select {
					case <-start:
					default:
						close(start)
					}
				}()
				d := &closingSender{}
				d.Init(d, e.m)
				// The reader may stall for seconds on a loaded machine;
				// the stall bound has its own test.
				d.LingerTimeout = hangGuard
				require.NoError(t, d.CreateSocket(e.fam.af, dispatcher.SockStream))
				data := pattern8M()
				if !testutil.Long() && (e.kind != looptest.Backends()[0] || e.fam.af != dispatcher.AFInet) {
					data = data[:1<<20]
					require.NoError(t, unix.SetsockoptInt(d.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 64<<10))
				}
				require.NoError(t, d.Connect(address))
				e.runUntil(d.Connected)
				if request != "" {
					e.runUntil(func() bool { return d.Socket().Unread() >= len(request) })
				}

				d.Send(data)
				require.Positive(t, d.Pending(), "more than the socket takes at once")
				d.CloseWhenDone()
				d.Send([]byte("dropped: sent after CloseWhenDone"))
				close(start)

				runLong(t, e, func() bool { return d.Fd() < 0 })
				var got readResult
				select {
				case got = <-out:
				case <-time.After(hangGuard):
					t.Fatal("the peer never finished reading")
				}
				assert.ErrorIs(t, got.err, io.EOF, "a clean end")
				assert.Equal(t, len(data), len(got.data), "bytes delivered")
				assert.True(t, bytes.Equal(data, got.data), "the data arrive whole and in order")
				assert.Empty(t, d.errs)
				assert.Equal(t, 1, d.drained, "HandleDrained once, when the queue emptied")
			})
		})
	}
}

// runLong is e.runUntil with the hang guard for large transfers.
func runLong(t *testing.T, e *env, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached within %v", hangGuard)
		}
		require.NoError(t, e.l.RunOnce(10*time.Millisecond))
	}
}

// TestCloseWhenDoneStalled: a peer that never reads cannot hold a
// CloseWhenDone open: LingerTimeout after the last byte was written, the
// dispatcher closes and drops the rest — not earlier, by the loop's clock.
func TestCloseWhenDoneStalled(t *testing.T) {
	const (
		linger = 100 * time.Millisecond
		size   = 1 << 20 // far beyond the 64 KiB send buffer and the peer's unread window
	)
	forEachAPIParallel(t, func(t *testing.T, e *env) {
		start := make(chan struct{}) // never closed before the end: the peer does not read
		address, out := slowPeer(t, e.fam, nil, start)
		d := &closingSender{}
		d.Init(d, e.m)
		d.LingerTimeout = linger
		require.NoError(t, d.CreateSocket(e.fam.af, dispatcher.SockStream))
		require.NoError(t, unix.SetsockoptInt(d.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 64<<10))
		require.NoError(t, d.Connect(address))
		e.runUntil(d.Connected)

		d.Send(make([]byte, size))
		require.Positive(t, d.Pending(), "more than the socket takes at once")
		calledAt := e.l.Now()
		d.CloseWhenDone()
		var closedAt time.Duration
		runLong(t, e, func() bool {
			closedAt = e.l.Now()
			return d.Fd() < 0
		})
		close(start)
		got := <-out
		// Progress after CloseWhenDone only moves the deadline later.
		assert.GreaterOrEqual(t, closedAt-calledAt, linger, "closed before LingerTimeout passed")
		assert.Less(t, len(got.data), size, "the rest was dropped")
		assert.Equal(t, uint64(1), dispatcher.Stats(e.m).Timeouts)
		assert.Zero(t, d.drained)
	})
}

// TestCloseWhenDoneEmpty: with nothing queued CloseWhenDone closes at once,
// through HandleClose, and HandleDrained is not called (nothing drained).
func TestCloseWhenDoneEmpty(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		start := make(chan struct{})
		close(start)
		address, out := slowPeer(t, e.fam, nil, start)
		d := &closingSender{}
		d.Init(d, e.m)
		require.NoError(t, d.CreateSocket(e.fam.af, dispatcher.SockStream))
		require.NoError(t, d.Connect(address))
		e.runUntil(d.Connected)
		d.CloseWhenDone()
		assert.Equal(t, -1, d.Fd())
		assert.Equal(t, 1, d.closes)
		got := <-out
		assert.ErrorIs(t, got.err, io.EOF)
		assert.Empty(t, got.data)
		assert.Zero(t, d.drained)
	})
}

// TestDrainedHook: HandleDrained runs each time the queue goes from
// non-empty to empty, and not for a Send written at once.
func TestDrainedHook(t *testing.T) {
	forEachAPIParallel(t, func(t *testing.T, e *env) {
		start := make(chan struct{})
		close(start)
		address, _ := slowPeer(t, e.fam, nil, start)
		d := &closingSender{}
		d.Init(d, e.m)
		require.NoError(t, d.CreateSocket(e.fam.af, dispatcher.SockStream))
		// Small socket buffers: 4 MiB cannot go at once.
		require.NoError(t, unix.SetsockoptInt(d.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 64<<10))
		require.NoError(t, d.Connect(address))
		e.runUntil(d.Connected)

		d.Send([]byte("small"))
		require.Zero(t, d.Pending(), "written at once")
		e.runFor(2)
		assert.Zero(t, d.drained, "nothing was queued")

		for i := 1; i <= 2; i++ {
			d.Send(make([]byte, 1<<20))
			require.Positive(t, d.Pending())
			runLong(t, e, func() bool { return d.Pending() == 0 })
			assert.Equal(t, i, d.drained)
		}
		assert.Empty(t, d.errs)
		require.NoError(t, d.Close())
	})
}

// halfCloseClient is `printf 'a\n' | client`: it sends its input, half-
// closes once that has gone, and prints what comes back until the server's
// EOF.
type halfCloseClient struct {
	dispatcher.DispatcherWithSend
	got  []byte
	eof  bool
	errs []error
}

func (c *halfCloseClient) HandleConnect() {}
func (c *halfCloseClient) HandleRead() {
	var buf [512]byte
	n, _ := c.Recv(buf[:])
	c.got = append(c.got, buf[:n]...)
}
func (c *halfCloseClient) HandleClose()          { c.eof = c.Hooks().EOF(); _ = c.Close() }
func (c *halfCloseClient) HandleError(err error) { c.errs = append(c.errs, err); _ = c.Close() }

// replyAtEOF is a server that answers only once the client has finished
// sending, as `sort` or an HTTP/1.0 upload does: it reads to EOF, replies
// with what it got, and closes.
func replyAtEOF(t *testing.T, fam family) string {
	t.Helper()
	ln, err := net.Listen(fam.network(), fam.addr(t))
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(hangGuard))
		in, err := io.ReadAll(c)
		if err != nil {
			return
		}
		_, _ = c.Write(append([]byte("got: "), in...))
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().String()
}

// TestShutdownWriteWhenDone: the client half-closes after its queued input
// (here queued during the connect, and a large piece queued behind the
// socket) and still receives the whole reply, then EOF. The large piece is
// 256 KiB, four times the 64 KiB send buffer; the reply comes back through
// the client's 512-byte reads, so each KiB more costs two loop turns.
func TestShutdownWriteWhenDone(t *testing.T) {
	const large = 256 << 10
	for _, size := range []int{2, large} {
		t.Run(map[int]string{2: "small", large: "large"}[size], func(t *testing.T) {
			forEachAPIParallel(t, func(t *testing.T, e *env) {
				address := replyAtEOF(t, e.fam)
				c := &halfCloseClient{}
				c.Init(c, e.m)
				require.NoError(t, c.CreateSocket(e.fam.af, dispatcher.SockStream))
				require.NoError(t, unix.SetsockoptInt(c.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 64<<10))
				require.NoError(t, c.Connect(address))
				input := bytes.Repeat([]byte("a"), size-1)
				input = append(input, '\n')
				c.Send(input)
				c.ShutdownWriteWhenDone()
				c.Send([]byte("dropped: sent after ShutdownWriteWhenDone"))

				runLong(t, e, func() bool { return c.Fd() < 0 })
				assert.Empty(t, c.errs)
				assert.True(t, c.eof, "closed by the server's EOF")
				want := append([]byte("got: "), input...)
				assert.Equal(t, len(want), len(c.got))
				assert.True(t, bytes.Equal(want, c.got), "the whole reply")
			})
		})
	}
}

// TestCloseWhenDoneUnconnected: a socket that is neither connected nor
// connecting (a datagram socket) has nothing to wait for and closes at
// once.
func TestCloseWhenDoneUnconnected(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		d := &closingSender{}
		d.Init(d, e.m)
		require.NoError(t, d.CreateSocket(e.fam.af, dispatcher.SockDgram))
		d.CloseWhenDone()
		assert.Equal(t, -1, d.Fd())
		assert.Equal(t, 1, d.closes)
	})
}
