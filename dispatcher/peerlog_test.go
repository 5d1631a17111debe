package dispatcher_test

// What a peer causes — a reset, a timeout, a limit it went over — is not a
// bug of ours: the default HandleError logs it at debug level and at most
// loop.LogGateBurst times a second per loop, so a flood of such errors
// cannot flood the log. Everything else is still an ERROR.

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// peerErr is an error a peer caused, by the shared contract.
type peerErr struct{ peer bool }

func (e peerErr) Error() string    { return fmt.Sprintf("test error (peer %v)", e.peer) }
func (e peerErr) PeerCaused() bool { return e.peer }

func TestIsPeerCaused(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("plain"), false},
		{peerErr{true}, true},
		{peerErr{false}, false},
		{fmt.Errorf("wrapped: %w", peerErr{true}), true},
		{errors.Join(errors.New("other"), peerErr{true}), true},
		{os.NewSyscallError("read", unix.ECONNRESET), true},
		{os.NewSyscallError("write", unix.EPIPE), true},
		{os.NewSyscallError("connect", unix.ECONNREFUSED), true},
		{os.NewSyscallError("read", unix.ETIMEDOUT), true},
		{os.NewSyscallError("read", unix.EBADF), false}, // a descriptor we lost: our bug
		{os.NewSyscallError("read", unix.EINVAL), false},
		{dispatcher.ErrIdleTimeout, true},
		{dispatcher.ErrWriteStall, true},
		{fmt.Errorf("x: %w", dispatcher.ErrConnectTimeout), true},
		// A handler that panicked is our bug, whatever it panicked with.
		{&loop.PanicError{Value: peerErr{true}}, false},
	} {
		assert.Equal(t, tc.want, dispatcher.IsPeerCaused(tc.err), "%v", tc.err)
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		_ = dispatcher.IsPeerCaused(os.NewSyscallError("read", unix.ECONNRESET))
	})-1, "IsPeerCaused allocates nothing (the one allocation is the SyscallError)")
}

// peerLogSetup is a loop with one dispatcher on a socketpair, its log
// captured at debug level.
func peerLogSetup(t *testing.T, kind poller.Kind) (*loop.Loop, *dispatcher.Dispatcher, func() []string) {
	l := looptest.NewLoop(t, kind)
	d := dispatcher.New(l.Map())
	buf := captureLog(d)
	a, _ := testutil.Socketpair(t)
	fd, err := unix.Dup(a)
	require.NoError(t, err)
	require.NoError(t, d.Adopt(fd))
	t.Cleanup(func() { _ = d.Close() })
	return l, d, func() []string { return logLines(buf) }
}

// onLoop runs f in a posted function, where the loop's clock stands still.
func onLoop(t *testing.T, l *loop.Loop, f func()) {
	t.Helper()
	done := false
	require.NoError(t, l.Post(func() { f(); done = true }))
	testutil.RunUntil(t, l, waitFor, func() bool { return done })
}

func TestHandleErrorPeerCausedIsDebug(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l, d, lines := peerLogSetup(t, kind)
		onLoop(t, l, func() { d.HandleError(fmt.Errorf("frame: %w", peerErr{true})) })
		got := lines()
		require.Len(t, got, 1, "%q", got)
		assert.True(t, strings.HasPrefix(got[0], "level=DEBUG "), got[0])
		assert.Contains(t, got[0], "test error (peer true)")
		assert.NotContains(t, got[0], "uncaptured")
		assert.Less(t, d.Fd(), 0, "closed all the same")
	})
}

func TestHandleErrorResetIsDebug(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l, d, lines := peerLogSetup(t, kind)
		onLoop(t, l, func() { d.HandleError(os.NewSyscallError("read", unix.ECONNRESET)) })
		got := lines()
		require.Len(t, got, 1, "%q", got)
		assert.True(t, strings.HasPrefix(got[0], "level=DEBUG "), got[0])
	})
}

func TestHandleErrorOwnErrorIsError(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l, d, lines := peerLogSetup(t, kind)
		onLoop(t, l, func() {
			for range 100 { // ERROR lines are never held back
				d.HandleError(peerErr{false})
			}
		})
		got := lines()
		require.Len(t, got, 100)
		for _, line := range got {
			assert.True(t, strings.HasPrefix(line, "level=ERROR msg=\"uncaptured error, closing channel"), line)
		}
	})
}

// TestHandleErrorPeerFlood: 10,000 peer-caused errors in one loop
// iteration log loop.LogGateBurst lines, and the next line says how many
// were held back.
func TestHandleErrorPeerFlood(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l, d, lines := peerLogSetup(t, kind)
		onLoop(t, l, func() {
			for range 10000 {
				d.HandleError(peerErr{true})
			}
		})
		got := lines()
		assert.Equal(t, loop.LogGateBurst, len(got), "lines logged")
		for _, line := range got {
			assert.True(t, strings.HasPrefix(line, "level=DEBUG "), line)
		}
	})
}

func TestLogGate(t *testing.T) {
	var g loop.LogGate
	const s = loop.LogGatePeriod
	allowed := 0
	for range 10000 {
		if ok, n := g.Allow(5 * s); ok {
			allowed++
			assert.Zero(t, n)
		}
	}
	assert.Equal(t, loop.LogGateBurst, allowed)
	ok, n := g.Allow(6*s - 1)
	assert.False(t, ok, "still the same period")
	assert.Zero(t, n)
	ok, n = g.Allow(6 * s)
	assert.True(t, ok, "a new period")
	assert.EqualValues(t, 10000-loop.LogGateBurst+1, n, "the held-back lines are reported")
	ok, n = g.Allow(6 * s)
	assert.True(t, ok)
	assert.Zero(t, n, "reported once")
	assert.Zero(t, testing.AllocsPerRun(100, func() { g.Allow(7 * s) }))
}
