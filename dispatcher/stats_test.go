package dispatcher_test

import (
	"errors"
	"io"
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

// TestStats drives a small echo server through connections, traffic, an
// idle timeout, a handler panic, a timer and a posted function, and checks
// every counter of loop.Stats and of the channels' ChannelStats against
// what the test did.
func TestStats(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l := looptest.NewLoop(t, kind)
		s := &capServer{}
		s.Init(s, l.Map())
		require.NoError(t, s.ListenTCP("127.0.0.1:0"))
		addr := s.Socket().LocalAddr().String()

		const clients, msg = 3, "0123456789\n"
		var cs []net.Conn
		for range clients {
			c, err := net.Dial("tcp4", addr)
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			cs = append(cs, c)
		}
		testutil.RunUntil(t, l, waitFor, func() bool { return len(s.conns) == clients })
		for _, c := range cs {
			_, err := c.Write([]byte(msg))
			require.NoError(t, err)
		}
		testutil.RunUntil(t, l, waitFor, func() bool { return s.echoed == clients*len(msg) })
		for _, c := range cs {
			require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
			_, err := io.ReadFull(c, make([]byte, len(msg)))
			require.NoError(t, err)
		}

		st := l.Stats()
		cst := dispatcher.Stats(l.Map())
		assert.EqualValues(t, clients, cst.Accepted)
		assert.Equal(t, clients, cst.Conns)
		assert.Equal(t, clients+1, st.Channels)
		assert.EqualValues(t, clients*len(msg), st.BytesIn)
		assert.EqualValues(t, clients*len(msg), st.BytesOut)
		assert.Zero(t, st.OutBuffered)
		assert.Positive(t, st.Events)
		assert.LessOrEqual(t, st.Wakeups, st.Iterations)
		for _, e := range s.conns {
			cs := e.ChannelStats()
			assert.EqualValues(t, len(msg), cs.BytesIn)
			assert.EqualValues(t, len(msg), cs.BytesOut)
		}

		// Nothing to do: the loop waits without waking up.
		wakeups := l.Stats().Wakeups
		for range 3 {
			require.NoError(t, l.RunOnce(10*time.Millisecond))
		}
		assert.Equal(t, wakeups, l.Stats().Wakeups, "an idle loop does not wake up")

		// A timer and a posted function.
		before, cbefore := l.Stats(), dispatcher.Stats(l.Map())
		fired := false
		l.AfterFunc(time.Millisecond, func() { fired = true })
		require.NoError(t, l.Post(func() {}))
		testutil.RunUntil(t, l, waitFor, func() bool { return fired })
		after := l.Stats()
		assert.Equal(t, before.TimersFired+1, after.TimersFired)
		assert.Equal(t, before.PostsRun+1, after.PostsRun)

		// An idle timeout closes one connection and is counted.
		e := s.conns[0]
		e.IdleTimeout = 20 * time.Millisecond
		e.Hooks().ResetTimeouts()
		testutil.RunUntil(t, l, waitFor, func() bool { return e.Fd() < 0 })
		assert.Equal(t, cbefore.Timeouts+1, dispatcher.Stats(l.Map()).Timeouts)
		assert.Equal(t, clients-1, dispatcher.Stats(l.Map()).Conns)

		// A handler panic is recovered and counted.
		p := &panicky{}
		p.Init(p, l.Map())
		fds, err := testutil.NewSocketpair()
		require.NoError(t, err)
		t.Cleanup(func() { _ = unix.Close(fds[1]) })
		require.NoError(t, p.Adopt(fds[0])) // p owns fds[0] now
		_, err = unix.Write(fds[1], []byte("x"))
		require.NoError(t, err)
		testutil.RunUntil(t, l, waitFor, func() bool { return p.Fd() < 0 })
		assert.Equal(t, before.Panics+1, l.Stats().Panics)
		assert.True(t, errors.As(p.err, new(*loop.PanicError)))
	})
}

// panicky panics in HandleRead; HandleError records the error and closes.
type panicky struct {
	dispatcher.Dispatcher
	err error
}

func (p *panicky) HandleRead() { panic("boom") }

func (p *panicky) HandleError(err error) {
	p.err = err
	_ = p.Close()
}

// eofKeeper stays open after the peer's EOF, as a half-closed server does
// while it still has replies to write.
type eofKeeper struct {
	dispatcher.Dispatcher
	eofs int
}

func (k *eofKeeper) HandleRead()  { _, _ = k.Recv(make([]byte, 64)) }
func (k *eofKeeper) HandleClose() { k.eofs++ }

// TestNoWakeupsAfterEOF is F15(c) (half-close, docs/failure-modes.md): once a
// read has returned EOF the dispatcher stops watching for input, so a
// half-closed connection that stays open does not wake the level-triggered loop
// again and again. Stats.Wakeups must not move over a second of waiting.
func TestNoWakeupsAfterEOF(t *testing.T) {
	forEachBackendParallel(t, func(t *testing.T, kind poller.Kind) {
		l := looptest.NewLoop(t, kind)
		k := &eofKeeper{}
		k.Init(k, l.Map())
		fds, err := testutil.NewSocketpair()
		require.NoError(t, err)
		t.Cleanup(func() { _ = unix.Close(fds[1]) })
		require.NoError(t, k.Adopt(fds[0]))
		require.NoError(t, unix.Shutdown(fds[1], unix.SHUT_WR))
		testutil.RunUntil(t, l, waitFor, func() bool { return k.eofs > 0 })
		require.True(t, k.Hooks().EOF())

		before := l.Stats()
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			require.NoError(t, l.RunOnce(100*time.Millisecond))
		}
		after := l.Stats()
		assert.Equal(t, before.Wakeups, after.Wakeups, "the loop woke up for a connection at EOF")
		assert.Equal(t, 1, k.eofs)
		t.Logf("%d iterations in 1s, %d wake-ups", after.Iterations-before.Iterations, after.Wakeups-before.Wakeups)
	})
}
