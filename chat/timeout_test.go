package chat_test

// Timeouts on AsyncChat: reliability.md F11 (slowloris: the frame timeout),
// F12 (write stall) and F17 (a bounded CloseWhenDone). Timing assertions are
// loose bounds, at least 3× away from the configured value.

import (
	"bytes"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// trickle drives the loop until cond holds, writing one byte of data to fd
// every interval (cycling through data), and fails after limit. It returns
// the times of the first and the last write.
func (e *env) trickle(fd int, data []byte, interval, limit time.Duration, cond func() bool) (first, last time.Time) {
	e.t.Helper()
	start := time.Now()
	i := 0
	for !cond() {
		now := time.Now()
		require.Less(e.t, now.Sub(start), limit, "condition not reached")
		if now.Sub(last) >= interval {
			_, err := unix.Write(fd, data[i%len(data):i%len(data)+1])
			if err != nil && err != unix.EAGAIN {
				// The chat closed its end: the condition decides.
				require.ErrorIs(e.t, err, unix.EPIPE)
			}
			if i == 0 {
				first = now
			}
			i++
			last = now
		}
		require.NoError(e.t, e.l.RunOnce(5*time.Millisecond))
	}
	return first, last
}

// TestFrameTimeoutStopsSlowloris (F11): a peer that sends a byte every 20ms
// and never a terminator is never idle, yet its frame times out; an honest
// peer sending whole lines at the same pace is served throughout, because
// each terminator ends its frame.
func TestFrameTimeoutStopsSlowloris(t *testing.T) {
	const frame = 150 * time.Millisecond
	forEachBackend(t, func(t *testing.T, e *env) {
		slow := newTestChat(t, e.m, chat.DelimiterString("\n"))
		slow.FrameTimeout = frame
		slow.IdleTimeout = 10 * time.Second
		slowPeer := e.pair(slow)

		honest := newTestChat(t, e.m, chat.DelimiterString("\n"))
		honest.FrameTimeout = frame
		honestPeer := e.pair(honest)

		start := time.Now()
		var honestSent int
		e.trickle(slowPeer, []byte("GET / HTTP/1.1 "), 20*time.Millisecond, waitFor, func() bool {
			// The honest peer sends a complete short line every pass it
			// can: its frames last microseconds.
			if !honest.closed() && time.Since(start) < 6*frame {
				if _, err := unix.Write(honestPeer, []byte("ok\n")); err == nil {
					honestSent++
				}
			}
			return slow.closed() && time.Since(start) >= 6*frame
		})
		elapsed := time.Since(start)
		require.NotEmpty(t, slow.errs)
		assert.ErrorIs(t, slow.errs[0], chat.ErrFrameTimeout)
		assert.Empty(t, slow.frames)
		assert.Empty(t, honest.errs, "an honest peer's frames never time out")
		assert.False(t, honest.closed())
		e.runUntil(func() bool { return len(honest.frames) == honestSent })
		assert.Positive(t, honestSent)
		assert.GreaterOrEqual(t, elapsed, frame)
	})
}

// TestFrameTimeoutBounds: the frame is closed no earlier than FrameTimeout
// after its first byte and well before three times that; with the frame
// timeout off, the same peer stays open.
func TestFrameTimeoutBounds(t *testing.T) {
	const frame = 200 * time.Millisecond
	forEachBackend(t, func(t *testing.T, e *env) {
		e.run("on", func(t *testing.T, e *env) {
			c := newTestChat(t, e.m, chat.DelimiterString("\r\n"))
			c.FrameTimeout = frame
			peer := e.pair(c)
			first, _ := e.trickle(peer, []byte("abc"), 20*time.Millisecond, waitFor, c.closed)
			elapsed := time.Since(first)
			assert.GreaterOrEqual(t, elapsed, frame)
			assert.Less(t, elapsed, 3*frame)
			require.Len(t, c.errs, 1)
			assert.ErrorIs(t, c.errs[0], chat.ErrFrameTimeout)
		})
		e.run("off", func(t *testing.T, e *env) {
			c := newTestChat(t, e.m, chat.DelimiterString("\r\n"))
			c.FrameTimeout = -1
			peer := e.pair(c)
			start := time.Now()
			e.trickle(peer, []byte("abc"), 20*time.Millisecond, waitFor, func() bool {
				return c.closed() || time.Since(start) > 3*frame
			})
			assert.False(t, c.closed())
			assert.Empty(t, c.errs)
		})
		e.run("none terminator", func(t *testing.T, e *env) {
			// Collecting everything has no frame to finish.
			c := newTestChat(t, e.m, chat.None)
			c.FrameTimeout = frame / 4
			peer := e.pair(c)
			start := time.Now()
			e.trickle(peer, []byte("abc"), 10*time.Millisecond, waitFor, func() bool {
				return c.closed() || time.Since(start) > 3*frame
			})
			assert.False(t, c.closed())
			assert.NotEmpty(t, c.pieces)
		})
		e.run("switch to none mid-frame", func(t *testing.T, e *env) {
			c := newTestChat(t, e.m, chat.DelimiterString("\n"))
			c.FrameTimeout = frame / 4
			peer := e.pair(c)
			e.write(peer, []byte("abc"))
			e.runUntil(func() bool { return len(c.pieces) > 0 })
			c.SetTerminator(chat.None)
			testRunFor(t, e, 3*frame/4)
			assert.False(t, c.closed())
			assert.Empty(t, c.errs)
		})
	})
}

// TestFrameTimeoutReply: a HandleError that pushes a reply for the frame
// timeout gets it written before the close, as for the input limits.
func TestFrameTimeoutReply(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := newTestChat(t, e.m, chat.DelimiterString("\n"))
		c.FrameTimeout = 50 * time.Millisecond
		c.onError = func(c *testChat, err error) { c.Push([]byte("408 timeout\r\n")) }
		peer := e.pair(c)
		e.write(peer, []byte("partial"))
		got := e.readAll(peer)
		assert.Equal(t, "408 timeout\r\n", string(got))
		require.Len(t, c.errs, 1)
		assert.ErrorIs(t, c.errs[0], chat.ErrFrameTimeout)
		e.runUntil(c.closed)
	})
}

// TestIdleTimeoutChat: an AsyncChat whose peer goes quiet is closed after
// IdleTimeout with ErrIdleTimeout, not before; traffic keeps it open.
func TestIdleTimeoutChat(t *testing.T) {
	const idle = 150 * time.Millisecond
	forEachBackend(t, func(t *testing.T, e *env) {
		c := newTestChat(t, e.m, chat.DelimiterString("\n"))
		c.IdleTimeout = idle
		c.reply = func(c *testChat, frame string) { c.Push([]byte(frame + "\n")) }
		peer := e.pair(c)

		// Whole lines every 30ms for three idle periods: never idle.
		start := time.Now()
		_, last := e.trickle(peer, []byte("x\n"), 15*time.Millisecond, waitFor, func() bool {
			return c.closed() || time.Since(start) > 3*idle
		})
		require.False(t, c.closed(), "closed although never idle: %v", c.errs)

		e.runUntil(c.closed)
		elapsed := time.Since(last) // the last progress is the echo of the last line, after last
		assert.GreaterOrEqual(t, elapsed, idle)
		assert.Less(t, elapsed, 3*idle)
		require.Len(t, c.errs, 1)
		assert.ErrorIs(t, c.errs[0], dispatcher.ErrIdleTimeout)
	})
}

// TestWriteStallChat (F12): a peer that never reads fills the socket; with
// WriteStallTimeout the chat is closed and its queue freed once no byte has
// gone for that long. A slow reader that keeps draining is not stalled.
func TestWriteStallChat(t *testing.T) {
	const stall = 150 * time.Millisecond
	forEachBackend(t, func(t *testing.T, e *env) {
		c := newTestChat(t, e.m, chat.DelimiterString("\n"))
		c.WriteStallTimeout = stall
		c.IdleTimeout = -1
		c.OutHighWater = -1
		_ = e.pair(c)
		data := bytes.Repeat([]byte("z"), 8<<20)
		start := time.Now()
		c.Push(data)
		require.Positive(t, c.Pending(), "the socket took it all")
		e.runUntil(c.closed)
		elapsed := time.Since(start)
		assert.GreaterOrEqual(t, elapsed, stall)
		assert.Less(t, elapsed, 3*stall)
		require.Len(t, c.errs, 1)
		assert.ErrorIs(t, c.errs[0], dispatcher.ErrWriteStall)
		assert.Zero(t, c.Pending(), "the queue is freed")
	})
}

// TestLingerTimeout (F17): CloseWhenDone with output the peer never reads
// closes anyway after LingerTimeout; with lingering off and the write-stall
// timeout off too, the chat waits.
func TestLingerTimeout(t *testing.T) {
	const linger = 150 * time.Millisecond
	forEachBackend(t, func(t *testing.T, e *env) {
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
				c.Push(bytes.Repeat([]byte("z"), 8<<20))
				start := time.Now()
				c.CloseWhenDone()
				if !on {
					testRunFor(t, e, 3*linger)
					assert.False(t, c.closed(), "no linger bound: the chat waits")
					return
				}
				e.runUntil(c.closed)
				elapsed := time.Since(start)
				assert.GreaterOrEqual(t, elapsed, linger)
				assert.Less(t, elapsed, 3*linger)
				assert.Empty(t, c.errs, "a linger timeout is a close, not an error")
			})
		}
	})
}

// testRunFor drives the loop for about d.
func testRunFor(t *testing.T, e *env, d time.Duration) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		require.NoError(t, e.l.RunOnce(10*time.Millisecond))
	}
}

// TestLingerTimeoutSpansSlowDrain: LingerTimeout bounds a close that has
// stalled, not a large reply that keeps draining. The peer reads 32 KiB per
// iteration, so the writer makes progress every few tens of milliseconds,
// while the whole drain lasts several times the linger bound; every byte
// must arrive, then EOF.
func TestLingerTimeoutSpansSlowDrain(t *testing.T) {
	const linger = 250 * time.Millisecond
	forEachBackend(t, func(t *testing.T, e *env) {
		c := newTestChat(t, e.m, chat.DelimiterString("\n"))
		c.LingerTimeout = linger
		c.WriteStallTimeout, c.IdleTimeout, c.OutHighWater = -1, -1, -1
		peer := e.pair(c)
		const size = 4 << 20
		c.Push(bytes.Repeat([]byte("z"), size))
		start := time.Now()
		c.CloseWhenDone()

		got, eof := 0, false
		buf := make([]byte, 32<<10)
		deadline := time.Now().Add(30 * time.Second)
		for !eof {
			require.True(t, time.Now().Before(deadline), "drain did not finish")
			require.NoError(t, e.l.RunOnce(10*time.Millisecond))
			n, err := unix.Read(peer, buf)
			switch {
			case n > 0:
				got += n
			case n == 0 && err == nil:
				eof = true
			}
		}
		assert.Equal(t, size, got, "every byte arrives before the close")
		assert.Greater(t, time.Since(start), 2*linger, "the drain outlasted the linger bound, so the test means something")
		assert.Empty(t, c.errs)
	})
}
