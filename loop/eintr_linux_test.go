//go:build linux

package loop_test

// Tests named after the failure modes in docs/failure-modes.md: F4 stale-event,
// F6 double-close, F7 map-change-in-batch, F18 eintr, F19 busy-loop,
// F21 handler-panic, F24 select-fd-setsize, F25 dup-ghost-events. Each runs on
// every backend (F26 backend-parity).

import (
	"errors"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestEINTRStorm is F18 eintr: signals arriving every millisecond must not make
// RunOnce fail, break a ping-pong, or stop a timer. The signals go both to
// the process and to the thread running the loop, so that its wait really is
// interrupted (a process-directed signal usually lands on another thread).
func TestEINTRStorm(t *testing.T) {
	const (
		storm     = 1500 * time.Millisecond
		minRounds = 100 // ping-pongs and timer ticks the loop must get
		minTicks  = 50  // through during the storm
	)
	if testing.Short() {
		t.Skip("1.5 s per backend")
	}
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid := unix.Gettid()

		sigs := make(chan os.Signal, 64)
		signal.Notify(sigs, syscall.SIGUSR1)
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			for range sigs {
			}
		}()

		l := newLoop(t, kind, loop.Options{})
		local, peerFd := testutil.BareSocketpair(t)
		echo := newProbe(t, l.Map(), local)
		echo.onRead = func() {
			if n, _ := echo.Recv(echo.buf[:]); n > 0 {
				_, _ = echo.Send(echo.buf[:n])
			}
		}
		var ticks atomic.Int64
		l.Every(10*time.Millisecond, func() { ticks.Add(1) })

		// The peer is an ordinary Go connection on a duplicate of the
		// other end, served by the runtime's netpoller.
		f := os.NewFile(uintptr(peerFd), "peer")
		conn, err := net.FileConn(f)
		require.NoError(t, f.Close())
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })

		var stop atomic.Bool
		var rounds atomic.Int64
		var peerErr error
		var wg sync.WaitGroup
		wg.Go(func() {
			var b [1]byte
			for i := 0; !stop.Load(); i++ {
				if err := conn.SetDeadline(time.Now().Add(testutil.HangGuard)); err != nil {
					peerErr = err
					return
				}
				if _, err := conn.Write([]byte{byte(i)}); err != nil {
					peerErr = err
					return
				}
				if _, err := conn.Read(b[:]); err != nil {
					peerErr = err
					return
				}
				if b[0] != byte(i) {
					peerErr = errors.New("echo mismatch")
					return
				}
				rounds.Add(1)
			}
		})
		var sent atomic.Int64
		signalsDone := make(chan struct{})
		go func() {
			defer close(signalsDone)
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			// The storm lasts storm, and then until the loop has done
			// enough under it, however slowly the machine runs it.
			end, hang := time.Now().Add(storm), time.Now().Add(testutil.HangGuard)
			enough := func() bool { return rounds.Load() > minRounds && ticks.Load() >= minTicks }
			pid := unix.Getpid()
			for i := 0; time.Now().Before(end) || (!enough() && time.Now().Before(hang)); i++ {
				<-tick.C
				if i%2 == 0 {
					_ = unix.Kill(pid, unix.SIGUSR1)
				} else {
					_ = unix.Tgkill(pid, tid, unix.SIGUSR1)
				}
				sent.Add(1)
			}
		}()

		var runErr error
		deadline := time.Now().Add(storm + testutil.HangGuard)
	drive:
		for time.Now().Before(deadline) {
			select {
			case <-signalsDone:
				break drive
			default:
			}
			if runErr = l.RunOnce(50 * time.Millisecond); runErr != nil {
				break
			}
		}
		stop.Store(true)
		// Let the peer finish its last round trip.
		for end := time.Now().Add(testutil.HangGuard); time.Now().Before(end); {
			if err := l.RunOnce(10 * time.Millisecond); err != nil && runErr == nil {
				runErr = err
			}
			if waitTimeout(&wg, 0) {
				break
			}
		}
		<-signalsDone
		signal.Stop(sigs)
		close(sigs)
		<-drained

		assert.NoError(t, runErr, "RunOnce must never fail on EINTR")
		require.True(t, waitTimeout(&wg, testutil.HangGuard), "the peer is stuck")
		assert.NoError(t, peerErr, "the ping-pong broke")
		assert.Greater(t, rounds.Load(), int64(minRounds), "round trips")
		assert.GreaterOrEqual(t, ticks.Load(), int64(minTicks), "timer ticks")
		assert.Empty(t, echo.errs)
		assert.Zero(t, echo.handleCloses)
		t.Logf("%v: %d signals, %d round trips, %d timer ticks", kind, sent.Load(), rounds.Load(), ticks.Load())
	})
}

// pairAt makes a socketpair whose first end has the descriptor number num,
// which must be free, and returns the peer, closed when the test ends. The
// end at num belongs to the caller.

// waitTimeout waits for wg for at most d and reports whether it finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
