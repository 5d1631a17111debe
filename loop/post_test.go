package loop_test

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
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

// TestPostManyGoroutines is F23 (cross-goroutine, docs/failure-modes.md): 50
// goroutines post 200 functions each while the loop runs. Every function runs
// exactly once, on the loop's goroutine, and each goroutine's functions run in
// the order it posted them. Run it with -race.
func TestPostManyGoroutines(t *testing.T) {
	const goroutines, each = 50, 200
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		// Touched only by posted functions, so only by this goroutine.
		runs := make([]int, goroutines*each)
		last := make([]int, goroutines)
		for g := range last {
			last[g] = -1
		}
		total, disorder := 0, 0

		var failed atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range goroutines {
			wg.Go(func() {
				<-start
				for i := range each {
					err := l.Post(func() {
						runs[g*each+i]++
						if i != last[g]+1 {
							disorder++
						}
						last[g] = i
						total++
					})
					if err != nil {
						failed.Add(1)
					}
				}
			})
		}
		close(start)
		testutil.RunUntil(t, l, 20*time.Second, func() bool { return total == goroutines*each })
		wg.Wait()
		require.NoError(t, l.RunOnce(0))

		assert.Zero(t, failed.Load(), "Post failed")
		assert.Equal(t, goroutines*each, total)
		assert.Zero(t, disorder, "functions from one goroutine ran out of order")
		for id, n := range runs {
			if n != 1 {
				t.Errorf("function %d ran %d times", id, n)
			}
		}
	})
}

// TestPostWakesBlockedLoop: a Post from another goroutine ends a wait with
// no timeout.
func TestPostWakesBlockedLoop(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		local, _ := testutil.PeerSocketpair(t)
		addFake(t, l.Map(), local, poller.Read)
		for range 5 {
			ran := false
			poster := time.AfterFunc(10*time.Millisecond, func() {
				assert.NoError(t, l.Post(func() { ran = true }))
			})
			// If the Post did not wake the loop, Stop (which also writes the
			// wake-up descriptor) would be the only way out; the assertions
			// below then fail instead of the test hanging.
			var rescued atomic.Bool
			rescue := time.AfterFunc(testutil.HangGuard, func() { rescued.Store(true); l.Stop() })
			for !ran && !rescued.Load() {
				require.NoError(t, l.RunOnce(-1))
			}
			rescue.Stop()
			poster.Stop()
			assert.True(t, ran)
			assert.False(t, rescued.Load(), "Post must wake RunOnce(-1)")
		}
	})
}

func TestPostAfterClose(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l, err := loop.New(loop.Options{Map: loop.NewMap(), Backend: kind})
		require.NoError(t, err)
		ran := false
		require.NoError(t, l.Post(func() { ran = true }))
		require.NoError(t, l.Close())
		assert.ErrorIs(t, l.Post(func() { ran = true }), loop.ErrClosed)
		assert.False(t, ran, "functions still queued at Close are dropped")
	})
}

func TestPostNil(t *testing.T) {
	l := newLoop(t, poller.Available()[0], loop.Options{})
	assert.Error(t, l.Post(nil))
	require.NoError(t, l.RunOnce(0))
}

func TestPostPanicRecovered(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		logs := captureLog(t)
		l := newLoop(t, kind, loop.Options{})
		after := 0
		require.NoError(t, l.Post(func() { panic("post boom") }))
		require.NoError(t, l.Post(func() { after++ }))
		require.NotPanics(t, func() { require.NoError(t, l.RunOnce(0)) })
		assert.Equal(t, 1, after, "the functions after the one that panicked still run")
		assert.Contains(t, logs.String(), "post boom")

		require.NoError(t, l.Post(func() { after++ }))
		require.NoError(t, l.RunOnce(0))
		assert.Equal(t, 2, after, "the loop goes on")
	})
}

// TestPostFromPostedFunction: a function posted by a posted function runs in
// the next iteration, and that iteration does not wait.
func TestPostFromPostedFunction(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		local, _ := testutil.PeerSocketpair(t)
		addFake(t, l.Map(), local, poller.Read)
		var order []string
		require.NoError(t, l.Post(func() {
			order = append(order, "outer")
			assert.NoError(t, l.Post(func() { order = append(order, "inner") }))
		}))
		require.NoError(t, l.RunOnce(0))
		assert.Equal(t, []string{"outer"}, order)
		var rescued atomic.Bool
		rescue := time.AfterFunc(testutil.HangGuard, func() { rescued.Store(true); l.Stop() })
		require.NoError(t, l.RunOnce(time.Hour))
		rescue.Stop()
		assert.False(t, rescued.Load(), "queued functions mean no waiting")
		assert.Equal(t, []string{"outer", "inner"}, order)
	})
}

// TestIterationPhaseOrder: within one iteration, events are dispatched, then
// due timers run, then posted functions (loop/doc.go phases 3, 4, 5).
func TestIterationPhaseOrder(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		local, peer := testutil.PeerSocketpair(t)
		c := addFake(t, l.Map(), local, poller.Read)
		require.NoError(t, l.RunOnce(0)) // register the channel
		var order []string
		c.onEvents = func(poller.Events) { order = append(order, "event") }
		require.NoError(t, l.Post(func() { order = append(order, "post") }))
		l.AfterFunc(-time.Millisecond, func() { order = append(order, "timer") })
		poke(t, peer)
		require.NoError(t, l.RunOnce(time.Second))
		assert.Equal(t, []string{"event", "timer", "post"}, order)
	})
}

// TestPostCloseRace: goroutines Post and Stop while the loop runs and is
// closed. Every Post returns nil or ErrClosed, and ErrClosed from then on;
// and no wake-up write reaches the descriptor numbers the loop released at
// Close, which the kernel hands out again at once.
func TestPostCloseRace(t *testing.T) {
	const posters = 8
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		for range 20 {
			l, err := loop.New(loop.Options{Map: loop.NewMap(), Backend: kind})
			require.NoError(t, err)
			var stop atomic.Bool
			var bad, refused atomic.Int64
			var wg sync.WaitGroup
			for g := range posters {
				wg.Go(func() {
					closed := false
					for !stop.Load() {
						err := l.Post(func() {})
						switch {
						case err == nil && closed:
							bad.Add(1)
						case errors.Is(err, loop.ErrClosed):
							closed = true
							refused.Add(1)
						case err != nil:
							bad.Add(1)
						}
						if g%2 == 0 {
							l.Stop()
						}
					}
				})
			}
			for range 5 {
				require.NoError(t, l.RunOnce(0))
			}
			require.NoError(t, l.Close())
			// Take the numbers the loop released; nothing may be written
			// to them now.
			a, b := testutil.BareSocketpair(t)
			for refused.Load() < 1000 {
				runtime.Gosched()
			}
			stop.Store(true)
			wg.Wait()
			var buf [16]byte
			for _, fd := range []int{a, b} {
				_, err := unix.Read(fd, buf[:])
				assert.ErrorIs(t, err, unix.EAGAIN, "a wake-up was written to a released descriptor number")
			}
			assert.Zero(t, bad.Load(), "Post returned something other than nil, then ErrClosed")
			_ = unix.Close(a)
			_ = unix.Close(b)
		}
	})
}
