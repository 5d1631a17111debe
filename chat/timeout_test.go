package chat_test

// Timeouts on AsyncChat: F11 slowloris (the frame timeout), F12 write-stall and
// F17 lingering-close (a bounded CloseWhenDone), docs/failure-modes.md. The
// loops run on a fake clock (testutil.FakeClock), so each timeout is checked on
// both sides to the millisecond, whatever the scheduler does.

import (
	"bytes"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// forEachFakeClock is forEachBackend with a loop on a testutil.FakeClock:
// what is due depends on the clock alone, so a timeout is checked on both
// sides to the millisecond whatever the scheduler does.
func forEachFakeClock(t *testing.T, f func(t *testing.T, e *env, clk *testutil.FakeClock)) {
	t.Helper()
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l, clk := looptest.NewFakeClockLoop(t, kind)
		f(t, &env{t: t, kind: kind, l: l, m: l.Map()}, clk)
	})
}

// forEachFakeClockParallel is forEachFakeClock with the backends' subtests
// in parallel and one descriptor-leak check around them all, as
// forEachBackendParallel; each subtest has its own loop and clock.
func forEachFakeClockParallel(t *testing.T, f func(t *testing.T, e *env, clk *testutil.FakeClock)) {
	t.Helper()
	testutil.CheckFDLeaks(t)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		t.Parallel()
		l, clk := looptest.NewFakeClockLoop(t, kind)
		f(t, &env{t: t, kind: kind, l: l, m: l.Map()}, clk)
	})
}

// margin separates "just before" from "just after" a deadline on the fake
// clock, which gains a nanosecond on each loop reading that would otherwise
// repeat one.
const margin = time.Millisecond

// settle is testutil.Settle on e's loop.
func (e *env) settle() {
	e.t.Helper()
	testutil.Settle(e.t, e.l)
}

// trickle moves clk by step, writes the next byte of data (cycling) to fd
// and runs the loop until c has taken it in or closed, until c closes or
// the clock reaches until. It returns the clock reading at which c was
// first seen closed, or -1.
func (e *env) trickle(clk *testutil.FakeClock, c *testChat, fd int, data []byte, step, until time.Duration) time.Duration {
	e.t.Helper()
	for i := 0; clk.Now() < until; i++ {
		clk.Advance(step)
		seen := len(c.pieces) + len(c.frames)
		_, err := unix.Write(fd, data[i%len(data):i%len(data)+1])
		require.NoError(e.t, err)
		e.runUntil(func() bool { return c.closed() || len(c.pieces)+len(c.frames) > seen })
		if c.closed() {
			return clk.Now()
		}
	}
	return -1
}

// TestFrameTimeoutStopsSlowloris (F11 slowloris): a peer that sends a byte
// every 20ms and never a terminator is never idle, yet its frame times out; an
// honest peer sending whole lines at the same pace is served throughout,
// because each terminator ends its frame.
func TestFrameTimeoutStopsSlowloris(t *testing.T) {
	const frame, step = 150 * time.Millisecond, 20 * time.Millisecond
	forEachFakeClock(t, func(t *testing.T, e *env, clk *testutil.FakeClock) {
		slow := newTestChat(t, e.m, chat.DelimiterString("\n"))
		slow.FrameTimeout = frame
		slow.IdleTimeout = 10 * time.Second
		slowPeer := e.pair(slow)

		honest := newTestChat(t, e.m, chat.DelimiterString("\n"))
		honest.FrameTimeout = frame
		honestPeer := e.pair(honest)

		// The slow peer's first byte goes at step; from then on both peers
		// send every step, the honest one a complete short line.
		slowData := []byte("GET / HTTP/1.1 ")
		closedAt := time.Duration(-1)
		for i := 0; clk.Now() < 6*frame; i++ {
			clk.Advance(step)
			if !slow.closed() {
				_, err := unix.Write(slowPeer, slowData[i%len(slowData):i%len(slowData)+1])
				require.NoError(t, err)
			}
			e.write(honestPeer, []byte("ok\n"))
			e.runUntil(func() bool {
				return len(honest.frames) == i+1 && (slow.closed() || len(slow.pieces) == i+1)
			})
			if slow.closed() && closedAt < 0 {
				closedAt = clk.Now()
			}
		}
		require.NotEmpty(t, slow.errs)
		assert.ErrorIs(t, slow.errs[0], chat.ErrFrameTimeout)
		assert.Empty(t, slow.frames)
		assert.GreaterOrEqual(t, closedAt, step+frame, "closed before FrameTimeout")
		assert.Less(t, closedAt, step+frame+step, "still open a step after FrameTimeout")
		assert.Empty(t, honest.errs, "an honest peer's frames never time out")
		assert.False(t, honest.closed())
	})
}

// TestFrameTimeoutBounds: the frame is closed FrameTimeout after its first
// byte, not before; with the frame timeout off, the same peer stays open.
func TestFrameTimeoutBounds(t *testing.T) {
	const frame, step = 200 * time.Millisecond, 20 * time.Millisecond
	forEachFakeClock(t, func(t *testing.T, e *env, clk *testutil.FakeClock) {
		e.run("on", func(t *testing.T, e *env) {
			c := newTestChat(t, e.m, chat.DelimiterString("\r\n"))
			c.FrameTimeout = frame
			peer := e.pair(c)
			first := clk.Now() + step
			closedAt := e.trickle(clk, c, peer, []byte("abc"), step, first+3*frame)
			assert.GreaterOrEqual(t, closedAt, first+frame, "closed before FrameTimeout")
			assert.Less(t, closedAt, first+frame+step, "still open a step after FrameTimeout")
			require.Len(t, c.errs, 1)
			assert.ErrorIs(t, c.errs[0], chat.ErrFrameTimeout)
		})
		e.run("off", func(t *testing.T, e *env) {
			c := newTestChat(t, e.m, chat.DelimiterString("\r\n"))
			c.FrameTimeout = -1
			peer := e.pair(c)
			closedAt := e.trickle(clk, c, peer, []byte("abc"), step, clk.Now()+3*frame)
			assert.Equal(t, time.Duration(-1), closedAt)
			assert.Empty(t, c.errs)
		})
		e.run("none terminator", func(t *testing.T, e *env) {
			// Collecting everything has no frame to finish.
			c := newTestChat(t, e.m, chat.None)
			c.FrameTimeout = frame / 4
			peer := e.pair(c)
			closedAt := e.trickle(clk, c, peer, []byte("abc"), step/2, clk.Now()+3*frame)
			assert.Equal(t, time.Duration(-1), closedAt)
			assert.NotEmpty(t, c.pieces)
		})
		e.run("switch to none mid-frame", func(t *testing.T, e *env) {
			c := newTestChat(t, e.m, chat.DelimiterString("\n"))
			c.FrameTimeout = frame / 4
			peer := e.pair(c)
			e.write(peer, []byte("abc"))
			e.runUntil(func() bool { return len(c.pieces) > 0 })
			c.SetTerminator(chat.None)
			clk.Advance(3 * frame / 4)
			e.settle()
			assert.False(t, c.closed())
			assert.Empty(t, c.errs)
		})
	})
}

// TestFrameTimeoutAfterCompleteFrame: a read that completes one frame and
// begins the next starts that frame's clock at once, though no read ends in
// the middle of the frame that came before; a peer that then trickles the
// rest of the frame over many reads is closed FrameTimeout after the read
// that began it, not before.
func TestFrameTimeoutAfterCompleteFrame(t *testing.T) {
	const frame, step = 200 * time.Millisecond, 20 * time.Millisecond
	forEachFakeClock(t, func(t *testing.T, e *env, clk *testutil.FakeClock) {
		c := newTestChat(t, e.m, chat.DelimiterString("\n"))
		c.FrameTimeout = frame
		peer := e.pair(c)
		clk.Advance(step)
		first := clk.Now()
		e.write(peer, []byte("done\nGET"))
		e.runUntil(func() bool { return len(c.frames) == 1 && len(c.pieces) > 1 })
		closedAt := e.trickle(clk, c, peer, []byte("abc"), step, first+3*frame)
		assert.GreaterOrEqual(t, closedAt, first+frame, "closed before FrameTimeout")
		assert.Less(t, closedAt, first+frame+step, "still open a step after FrameTimeout")
		require.Len(t, c.errs, 1)
		assert.ErrorIs(t, c.errs[0], chat.ErrFrameTimeout)
	})
}

// TestFrameTimeoutReply: a HandleError that pushes a reply for the frame
// timeout gets it written before the close, as for the input limits.
func TestFrameTimeoutReply(t *testing.T) {
	const reply = "408 timeout\r\n"
	forEachFakeClock(t, func(t *testing.T, e *env, clk *testutil.FakeClock) {
		c := newTestChat(t, e.m, chat.DelimiterString("\n"))
		c.FrameTimeout = 50 * time.Millisecond
		c.onError = func(c *testChat, err error) { c.Push([]byte(reply)) }
		peer := e.pair(c)
		e.write(peer, []byte("partial"))
		e.runUntil(func() bool { return len(c.pieces) > 0 })
		clk.Advance(c.FrameTimeout)
		got, _ := e.readN(peer, len(reply))
		assert.Equal(t, reply, string(got))
		require.Len(t, c.errs, 1)
		assert.ErrorIs(t, c.errs[0], chat.ErrFrameTimeout)
		// The close lingers for our EOF, which never comes, as long as
		// LingerTimeout allows; then the peer sees EOF.
		clk.Advance(chat.DefaultLingerTimeout)
		assert.Empty(t, e.readAll(peer))
		e.runUntil(c.closed)
	})
}

// TestIdleTimeoutChat: an AsyncChat whose peer goes quiet is closed after
// IdleTimeout with ErrIdleTimeout, not before; traffic keeps it open.
func TestIdleTimeoutChat(t *testing.T) {
	const idle = 150 * time.Millisecond
	forEachFakeClock(t, func(t *testing.T, e *env, clk *testutil.FakeClock) {
		c := newTestChat(t, e.m, chat.DelimiterString("\n"))
		c.IdleTimeout = idle
		c.reply = func(c *testChat, frame string) { c.Push([]byte(frame + "\n")) }
		peer := e.pair(c)

		// Whole lines every 30ms for three idle periods: never idle.
		closedAt := e.trickle(clk, c, peer, []byte("x\n"), 15*time.Millisecond, 3*idle)
		require.Equal(t, time.Duration(-1), closedAt, "closed although never idle: %v", c.errs)

		// The last progress was the echo of the last line, now.
		clk.Advance(idle - margin)
		e.settle()
		require.False(t, c.closed(), "closed before IdleTimeout: %v", c.errs)
		clk.Advance(2 * margin)
		e.settle()
		require.True(t, c.closed(), "still open IdleTimeout after the last progress")
		require.Len(t, c.errs, 1)
		assert.ErrorIs(t, c.errs[0], dispatcher.ErrIdleTimeout)
	})
}

// TestWriteStallChat (F12 write-stall): a peer that never reads fills the
// socket; with WriteStallTimeout the chat is closed and its queue freed once no
// byte has gone for that long, not before.
func TestWriteStallChat(t *testing.T) {
	const stall = 150 * time.Millisecond
	forEachFakeClockParallel(t, func(t *testing.T, e *env, clk *testutil.FakeClock) {
		c := newTestChat(t, e.m, chat.DelimiterString("\n"))
		c.WriteStallTimeout = stall
		c.IdleTimeout = -1
		c.OutHighWater = -1
		_ = e.pair(c)
		// A fixed 16 KiB send buffer: 1 MiB then cannot all fit in the
		// socket, so some stays queued in the chat.
		setSndbuf(t, c.Fd(), 16<<10)
		c.Push(bytes.Repeat([]byte("z"), 1<<20))
		require.Positive(t, c.Pending(), "the socket took it all")
		e.settle() // the socket fills; the last byte goes now
		require.Positive(t, c.Pending(), "the socket took it all")
		clk.Advance(stall - margin)
		e.settle()
		require.False(t, c.closed(), "closed before WriteStallTimeout: %v", c.errs)
		clk.Advance(2 * margin)
		e.settle()
		require.True(t, c.closed(), "still open WriteStallTimeout after the last byte went")
		require.Len(t, c.errs, 1)
		assert.ErrorIs(t, c.errs[0], dispatcher.ErrWriteStall)
		assert.Zero(t, c.Pending(), "the queue is freed")
	})
}

// TestLingerTimeout (F17 lingering-close): CloseWhenDone with output the peer
// never reads closes anyway LingerTimeout after the last byte went, not before;
// with lingering off and the write-stall timeout off too, the chat waits.
func TestLingerTimeout(t *testing.T) {
	const linger = 150 * time.Millisecond
	forEachFakeClockParallel(t, func(t *testing.T, e *env, clk *testutil.FakeClock) {
		for _, on := range []bool{true, false} {
			name := map[bool]string{true: "on", false: "off"}[on]
			e.run(name, func(t *testing.T, e *env) {
				c := newTestChat(t, e.m, chat.DelimiterString("\n"))
				c.LingerTimeout = linger
				if !on {
					c.LingerTimeout = -1
				}
				c.WriteStallTimeout, c.IdleTimeout, c.OutHighWater = -1, -1, -1
				_ = e.pair(c)
				// A fixed 16 KiB send buffer, so that 1 MiB cannot all fit
				// in the socket and the close has output to wait for.
				setSndbuf(t, c.Fd(), 16<<10)
				c.Push(bytes.Repeat([]byte("z"), 1<<20))
				c.CloseWhenDone()
				e.settle() // the socket fills; the last byte goes now
				if !on {
					clk.Advance(time.Hour)
					e.settle()
					assert.False(t, c.closed(), "no linger bound: the chat waits")
					return
				}
				clk.Advance(linger - margin)
				e.settle()
				require.False(t, c.closed(), "closed before LingerTimeout")
				clk.Advance(2 * margin)
				e.settle()
				require.True(t, c.closed(), "still open LingerTimeout after the last byte went")
				assert.Empty(t, c.errs, "a linger timeout is a close, not an error")
			})
		}
	})
}

// TestLingerTimeoutSpansSlowDrain: LingerTimeout bounds a close that has
// stalled, not a large reply that keeps draining. The peer reads 32 KiB per
// iteration; each time the writer makes progress the clock moves half the
// linger bound, so the whole drain lasts many times the bound while no
// stall lasts as long as it. Every byte must arrive, then EOF.
func TestLingerTimeoutSpansSlowDrain(t *testing.T) {
	const linger = 250 * time.Millisecond
	forEachFakeClockParallel(t, func(t *testing.T, e *env, clk *testutil.FakeClock) {
		c := newTestChat(t, e.m, chat.DelimiterString("\n"))
		c.LingerTimeout = linger
		c.WriteStallTimeout, c.IdleTimeout, c.OutHighWater = -1, -1, -1
		peer := e.pair(c)
		// A fixed 16 KiB send buffer keeps 1 MiB draining over dozens of
		// steps, each moving the clock half the linger bound.
		setSndbuf(t, c.Fd(), 16<<10)
		const size = 1 << 20
		c.Push(bytes.Repeat([]byte("z"), size))
		c.CloseWhenDone()

		got, eof := 0, false
		buf := make([]byte, 32<<10)
		deadline := time.Now().Add(testutil.HangGuard)
		pending := c.Pending()
		for !eof {
			require.True(t, time.Now().Before(deadline), "drain did not finish")
			require.NoError(t, e.l.RunOnce(time.Millisecond))
			if p := c.Pending(); p < pending {
				pending = p
				clk.Advance(linger / 2)
			}
			n, err := unix.Read(peer, buf)
			switch {
			case n > 0:
				got += n
			case n == 0 && err == nil:
				eof = true
			}
		}
		assert.Equal(t, size, got, "every byte arrives before the close")
		assert.Greater(t, clk.Now(), 4*linger, "the drain outlasted the linger bound, so the test means something")
		assert.Empty(t, c.errs)
	})
}
