package dispatcher_test

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

// relConn is a connected dispatcher that records what happens to it.
type relConn struct {
	dispatcher.Dispatcher
	reads, closes int
	errs          []error
}

func (c *relConn) HandleRead() {
	var buf [64]byte
	c.reads++
	_, _ = c.Recv(buf[:])
}

func (c *relConn) HandleClose() {
	c.closes++
	_ = c.Close()
}

func (c *relConn) HandleError(err error) {
	c.errs = append(c.errs, err)
	_ = c.Close()
}

// TestStaleTimerAfterFDReuse is F5 (stale-timer, docs/failure-modes.md): a
// timer armed for one dispatcher must not act on a newer dispatcher that reused
// its descriptor number. Timers belong to the dispatcher value, not to the fd,
// and Close on an already-closed dispatcher touches nothing.
func TestStaleTimerAfterFDReuse(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := looptest.NewLoop(t, kind)
		_, peerA := testutil.Socketpair(t)
		a := &relConn{}
		a.Init(a, l.Map())
		fdA, _ := testutil.Socketpair(t)
		dupA, err := unix.Dup(fdA)
		require.NoError(t, err)
		require.NoError(t, a.Adopt(dupA))
		_ = peerA

		fired := false
		// A's "idle timeout": closes A when it fires.
		l.AfterFunc(30*time.Millisecond, func() { fired = true; _ = a.Close() })

		// A goes away early and B takes its descriptor number.
		oldFd := a.Fd()
		require.NoError(t, a.Close())
		pair, err := testutil.NewSocketpair()
		require.NoError(t, err)
		peerB := pair[1]
		t.Cleanup(func() { _ = unix.Close(peerB) })
		if pair[0] != oldFd { // usually the kernel hands out the freed number itself
			require.NoError(t, testutil.DupTo(pair[0], oldFd))
			require.NoError(t, unix.Close(pair[0]))
		}
		b := &relConn{}
		b.Init(b, l.Map())
		require.NoError(t, b.Adopt(oldFd))

		testutil.RunUntil(t, l, 5*time.Second, func() bool { return fired })
		assert.Equal(t, oldFd, b.Fd(), "B must still own the reused descriptor")
		assert.Equal(t, b, l.Map().Get(oldFd), "B must still be registered")
		assert.Zero(t, b.closes)

		// And B is still served.
		_, err = unix.Write(peerB, []byte("x"))
		require.NoError(t, err)
		testutil.RunUntil(t, l, 5*time.Second, func() bool { return b.reads > 0 })
	})
}

// relListener counts what its default HandleAccept hands over.
type relListener struct {
	dispatcher.Dispatcher
	accepted []int
	events   int
}

func (s *relListener) HandleAccept() {
	s.events++
	s.Dispatcher.HandleAccept()
}

func (s *relListener) HandleAccepted(fd int, _ net.Addr) {
	s.accepted = append(s.accepted, fd)
	_ = unix.Close(fd)
}

// TestAcceptPerEventCap is F20(c) (fairness, docs/failure-modes.md): one
// readiness event accepts at most ten connections, however many are waiting, so
// a connect storm cannot starve established connections; the rest are taken on
// the following iterations.
func TestAcceptPerEventCap(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := looptest.NewLoop(t, kind)
		s := &relListener{}
		s.Init(s, l.Map())
		require.NoError(t, s.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
		require.NoError(t, s.Bind("127.0.0.1:0"))
		require.NoError(t, s.Listen(128))

		const clients = 35
		conns := make([]net.Conn, 0, clients)
		t.Cleanup(func() {
			for _, c := range conns {
				_ = c.Close()
			}
		})
		for range clients {
			c, err := net.Dial("tcp", s.Addr().String())
			require.NoError(t, err)
			conns = append(conns, c)
		}
		// The kernel completes handshakes into the backlog; Dial returns
		// only after that, so all 35 are pending now.
		require.NoError(t, l.RunOnce(time.Second))
		assert.Equal(t, 1, s.events)
		assert.Len(t, s.accepted, 10, "one event must accept exactly ten")

		testutil.RunUntil(t, l, 5*time.Second, func() bool { return len(s.accepted) == clients })
		assert.Equal(t, 4, s.events, "35 connections take four events of at most ten")
	})
}

// TestSelectRefusesHighFDThroughHandleError is F24 (select-fd-setsize,
// docs/failure-modes.md) seen from a dispatcher: on the select backend a
// descriptor at or above FD_SETSIZE is refused — no panic. Adopt into a map a
// select loop serves returns poller.ErrFDTooLarge at once; one adopted before
// the loop existed reaches HandleError with it. The other backends serve it
// normally.
func TestSelectRefusesHighFDThroughHandleError(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		fd, peer := testutil.Socketpair(t)
		high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 1500)
		require.NoError(t, err)
		require.GreaterOrEqual(t, high, 1500)

		if kind == poller.Select {
			early := &relConn{}
			early.Init(early, looptest.NewLoop(t, kind).Map())
			require.ErrorIs(t, early.Adopt(high), poller.ErrFDTooLarge)
		}

		m := loop.NewMap()
		c := &relConn{}
		c.Init(c, m)
		require.NoError(t, c.Adopt(high)) // no loop yet: nothing to check against
		l, err := loop.New(loop.Options{Map: m, Backend: kind})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close(); _ = l.Close() })
		_, err = unix.Write(peer, []byte("x"))
		require.NoError(t, err)

		if kind == poller.Select {
			testutil.RunUntil(t, l, 5*time.Second, func() bool { return len(c.errs) > 0 })
			assert.True(t, errors.Is(c.errs[0], poller.ErrFDTooLarge), "got %v", c.errs[0])
			assert.Equal(t, -1, c.Fd(), "the default reaction closes the channel")
			return
		}
		testutil.RunUntil(t, l, 5*time.Second, func() bool { return c.reads > 0 })
		assert.Empty(t, c.errs)
		require.NoError(t, c.Close())
	})
}
