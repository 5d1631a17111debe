//go:build linux

package dispatcher_test

// F1 (accept-emfile, docs/failure-modes.md) in-process: EMFILE in accept must
// neither close the listener (docs/asyncore-compat.md#emfile-in-accept) nor
// spin the loop.

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// emfileListener counts accept attempts and accepted connections.
type emfileListener struct {
	dispatcher.Dispatcher
	accepts     int // HandleAccept calls: the listener was reported readable
	accepted    int // HandleAccepted calls
	firstAccept time.Time
	errs        []error
}

func (s *emfileListener) HandleAccept() {
	if s.accepts == 0 {
		s.firstAccept = time.Now()
	}
	s.accepts++
	s.Dispatcher.HandleAccept()
}

func (s *emfileListener) HandleAccepted(fd int, _ net.Addr) {
	s.accepted++
	_ = unix.Close(fd)
}

func (s *emfileListener) HandleError(err error) { s.errs = append(s.errs, err) }

// TestAcceptEMFILEBacksOff: with a connection waiting in the backlog and no
// descriptor left, the listener is not closed and HandleAccepted does not
// run; the listener sheds the waiting connection with its spare descriptor
// (the client sees EOF at once, as in libuv's test-emfile.c) and stops
// being watched for AcceptBackoff, so the loop does not spin on it; once
// descriptors are free new connections are accepted.
func TestAcceptEMFILEBacksOff(t *testing.T) {
	const backoff = 50 * time.Millisecond
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l := looptest.NewLoop(t, kind)
		s := &emfileListener{}
		s.Init(s, l.Map())
		s.AcceptBackoff = backoff
		logs := captureLog(&s.Dispatcher)
		require.NoError(t, s.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
		require.NoError(t, s.Bind("127.0.0.1:0"))
		require.NoError(t, s.Listen(5))

		// The kernel completes the handshake; the connection waits in the
		// backlog until it is accepted.
		c, err := net.Dial("tcp4", s.Socket().LocalAddr().String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })

		// Use up every descriptor: lower the soft limit to a few above
		// what is open, then duplicate /dev/null until EMFILE.
		null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		require.NoError(t, err)
		t.Cleanup(func() { _ = unix.Close(null) })
		var orig unix.Rlimit
		require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &orig))
		t.Cleanup(func() { _ = unix.Setrlimit(unix.RLIMIT_NOFILE, &orig) })
		var spare []int
		free := func() {
			for _, fd := range spare {
				_ = unix.Close(fd)
			}
			spare = nil
		}
		t.Cleanup(free)
		open := testutil.OpenFDs()
		require.Positive(t, open, "needs /proc/self/fd")
		lowered := orig
		lowered.Cur = uint64(open + 8)
		require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &lowered))
		for {
			fd, err := unix.FcntlInt(uintptr(null), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				require.ErrorIs(t, err, unix.EMFILE)
				break
			}
			spare = append(spare, fd)
			require.Less(t, len(spare), 1000, "dup never failed")
		}

		// The first readiness tries to accept, fails, sheds and pauses.
		testutil.RunUntil(t, l, waitFor, func() bool { return s.accepts > 0 })
		assert.Equal(t, 1, s.accepts)
		assert.Zero(t, s.accepted, "nothing could be accepted")
		assert.EqualValues(t, 1, s.AcceptStats().Shed, "the waiting connection was shed")
		assert.True(t, s.Accepting(), "the listener stays open")
		assert.Equal(t, s, l.Map().Get(s.Fd()), "the listener stays in the map")
		assert.Empty(t, s.errs, "EMFILE does not reach HandleError")
		require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
		_, err = c.Read(make([]byte, 1))
		assert.Error(t, err, "the shed client sees EOF or a reset")
		assert.NotErrorIs(t, err, os.ErrDeadlineExceeded, "the shed client was left waiting")

		// No spinning: while paused the listener is not reported at all,
		// and after each backoff it is tried once more.
		start := time.Now()
		iters := l.Map().Stats().Iterations
		for range 20 {
			require.NoError(t, l.RunOnce(10*time.Millisecond))
			if time.Since(s.firstAccept) < backoff {
				assert.Equal(t, 1, s.accepts, "reported during the backoff")
			}
		}
		elapsed := time.Since(start)
		assert.Equal(t, iters+20, l.Map().Stats().Iterations)
		assert.LessOrEqual(t, s.accepts, 2+int(elapsed/backoff),
			"%d accept attempts in %v with a %v backoff", s.accepts, elapsed, backoff)
		assert.Zero(t, s.accepted)
		assert.True(t, s.Accepting())
		assert.Empty(t, s.errs)
		assert.Contains(t, logs.String(), "pausing the listener")
		assert.Contains(t, logs.String(), "too many open files")

		// With descriptors free again a new connection is accepted.
		free()
		c2, err := net.Dial("tcp4", s.Socket().LocalAddr().String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = c2.Close() })
		testutil.RunUntil(t, l, 2*time.Second, func() bool { return s.accepted > 0 })
		assert.Equal(t, 1, s.accepted)
		assert.True(t, s.Accepting())
		assert.Empty(t, s.errs)
	})
}
