package loop_test

// Fault tests for the loop's wake-up descriptor (an eventfd on Linux, a pipe
// elsewhere), whose system calls go through internal/sock
// (docs/failure-modes.md#f18-eintr, docs/failure-modes.md#f3-fd-leak): an
// interrupted signal or drain is retried, a failing close leaks nothing, and
// a wake-up descriptor that cannot be made fails New cleanly. Each test
// checks that the fault-injection seam saw the calls, so a call that
// bypasses internal/sock fails it.

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/asyncore-go/asyncore/internal/sock"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// wakeFDs is how many descriptors the wake-up takes: one eventfd, or the two
// ends of a pipe.
func wakeFDs() int {
	if runtime.GOOS == "linux" {
		return 1
	}
	return 2
}

// TestFaultWaker: a Post from another goroutine wakes the loop even when
// the wake-up write and the loop's drain are interrupted (EINTR, retried);
// when the wake-up descriptor's close fails, Close releases it all the same.
// The loop has no channel, so every write, read and close the seam sees is
// the wake-up's.
func TestFaultWaker(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l := newLoop(t, kind, loop.Options{})

		var mu sync.Mutex
		writes, reads, closes := 0, 0, 0
		restore := sock.SetInjector(func(op sock.Op, fd int) sock.Fault {
			mu.Lock()
			defer mu.Unlock()
			switch op {
			case sock.OpWrite:
				writes++
				if writes == 1 {
					return sock.Fault{Err: unix.EINTR}
				}
			case sock.OpRead:
				reads++
				if reads == 1 {
					return sock.Fault{Err: unix.EINTR}
				}
			case sock.OpClose:
				closes++
				return sock.Fault{Err: unix.EIO}
			}
			return sock.Fault{}
		})
		t.Cleanup(restore)
		counts := func() (int, int, int) {
			mu.Lock()
			defer mu.Unlock()
			return writes, reads, closes
		}

		var ran atomic.Bool
		posted := make(chan error, 1)
		go func() { posted <- l.Post(func() { ran.Store(true) }) }()
		require.NoError(t, <-posted)
		testutil.RunUntil(t, l, testutil.HangGuard, ran.Load)
		// The wake-up descriptor stays readable until it is drained, so the
		// next wait, if not the one that ran the function, drains it.
		for range 10 {
			if _, r, _ := counts(); r >= 2 {
				break
			}
			require.NoError(t, l.RunOnce(0))
		}
		w, r, c := counts()
		assert.Equal(t, 2, w, "the wake-up write: EINTR, then retried through the seam")
		assert.GreaterOrEqual(t, r, 2, "the drain: EINTR, then retried through the seam")
		assert.Zero(t, c)

		fds := testutil.OpenFDs()
		require.NoError(t, l.Close(), "the loop does not report its wake-up's close")
		_, _, c = counts()
		assert.Equal(t, wakeFDs(), c, "the wake-up closed through the seam")
		if fds > 0 {
			gone := wakeFDs()
			if kind == poller.Epoll || kind == poller.Kqueue {
				gone++ // the poller's own descriptor
			}
			assert.Equal(t, fds-gone, testutil.OpenFDs(), "every descriptor released despite EIO")
		}
	})
}

// TestFaultWakerOpen: when the wake-up descriptor cannot be made, New
// returns the error, named after the call, and leaks nothing — the poller
// it had opened is closed.
func TestFaultWakerOpen(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		opens := 0
		restore := sock.SetInjector(func(op sock.Op, _ int) sock.Fault {
			if op == sock.OpOpen {
				opens++
				return sock.Fault{Err: unix.EMFILE}
			}
			return sock.Fault{}
		})
		fds := testutil.OpenFDs()
		l, err := loop.New(loop.Options{Map: loop.NewMap(), Backend: kind})
		restore()
		if err == nil {
			_ = l.Close()
		}
		require.ErrorIs(t, err, unix.EMFILE)
		want := "eventfd"
		if runtime.GOOS != "linux" {
			want = "pipe"
		}
		assert.Contains(t, err.Error(), want)
		assert.Equal(t, 1, opens)
		if fds > 0 {
			assert.Equal(t, fds, testutil.OpenFDs())
		}

		l = newLoop(t, kind, loop.Options{})
		require.NoError(t, l.Post(func() {}), "without the fault a loop opens")
	})
}
