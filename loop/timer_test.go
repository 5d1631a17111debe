package loop_test

import (
	"bytes"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
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
)

// logBuffer collects what the default slog logger writes during a test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// captureLog sends the default logger to a buffer until the test ends.
func captureLog(t *testing.T) *logBuffer {
	b := &logBuffer{}
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(b, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	return b
}

func TestAfterFuncFiresOnceNotEarly(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		const d = 30 * time.Millisecond
		fired := 0
		var at time.Duration
		start := time.Now()
		tm := l.AfterFunc(d, func() { fired++; at = time.Since(start) })
		testutil.RunUntil(t, l, 5*time.Second, func() bool { return fired > 0 })
		assert.GreaterOrEqual(t, at, d, "a timer never fires early")
		for range 5 {
			require.NoError(t, l.RunOnce(5*time.Millisecond))
		}
		assert.Equal(t, 1, fired, "a one-shot timer fires once")
		assert.False(t, tm.Stop(), "a timer that ran is not pending")
	})
}

func TestEveryRepeatsAndStops(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		const period, want = 5 * time.Millisecond, 10
		fired := 0
		start := time.Now()
		tm := l.Every(period, func() { fired++ })
		testutil.RunUntil(t, l, 5*time.Second, func() bool { return fired >= want })
		assert.GreaterOrEqual(t, time.Since(start), want*period, "never faster than its period")

		assert.True(t, tm.Stop(), "a repeating timer stays pending")
		n := fired
		for range 5 {
			require.NoError(t, l.RunOnce(2*period))
		}
		assert.Equal(t, n, fired, "Stop cancels a repeating timer")
		assert.False(t, tm.Stop())
	})
}

func TestEveryStopsItselfInCallback(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		fired := 0
		var tm *loop.Timer
		stopped := false
		tm = l.Every(time.Millisecond, func() {
			fired++
			if fired == 3 {
				stopped = tm.Stop()
			}
		})
		testutil.RunUntil(t, l, 5*time.Second, func() bool { return fired >= 3 })
		for range 5 {
			require.NoError(t, l.RunOnce(2*time.Millisecond))
		}
		assert.Equal(t, 3, fired)
		assert.True(t, stopped, "inside its callback a repeating timer is already rescheduled, so Stop reports true")
	})
}

func TestEveryNonPositivePeriodPanics(t *testing.T) {
	l := newLoop(t, poller.Available()[0], loop.Options{})
	assert.Panics(t, func() { l.Every(0, func() {}) })
	assert.Panics(t, func() { l.Every(-time.Second, func() {}) })
}

func TestTimerStopAndReset(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		fired := 0
		tm := l.AfterFunc(time.Hour, func() { fired++ })
		assert.True(t, tm.Stop(), "pending")
		assert.False(t, tm.Stop(), "already stopped")

		assert.False(t, tm.Reset(time.Hour), "Reset of a stopped timer reports false")
		start := time.Now()
		assert.True(t, tm.Reset(10*time.Millisecond), "Reset of a pending timer reports true")
		testutil.RunUntil(t, l, 5*time.Second, func() bool { return fired == 1 })
		assert.GreaterOrEqual(t, time.Since(start), 10*time.Millisecond, "Reset counts from the call")

		assert.False(t, tm.Reset(time.Millisecond), "Reset of a fired timer reports false, and re-arms it")
		testutil.RunUntil(t, l, 5*time.Second, func() bool { return fired == 2 })

		// A repeating timer reset to a later first run keeps its period.
		ticks := 0
		ev := l.Every(time.Millisecond, func() { ticks++ })
		start = time.Now()
		assert.True(t, ev.Reset(20*time.Millisecond))
		testutil.RunUntil(t, l, 5*time.Second, func() bool { return ticks >= 3 })
		assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)
		ev.Stop()
	})
}

func TestTimerOrdering(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		var order []int
		for _, d := range []int{30, 10, 20, 5, 25} {
			l.AfterFunc(time.Duration(d)*time.Millisecond, func() { order = append(order, d) })
		}
		testutil.RunUntil(t, l, 5*time.Second, func() bool { return len(order) == 5 })
		assert.Equal(t, []int{5, 10, 20, 25, 30}, order)
	})
}

// TestTimerHeapModel checks the heap against a model: 300 timers whose
// deadlines are all in the past (a negative delay), some stopped and some
// reset, must all run in one iteration, earliest first, and only the pending
// ones. Deadlines are 10 ms apart on a fake clock that stands still while
// they are scheduled, so however long that takes it cannot reorder them.
func TestTimerHeapModel(t *testing.T) {
	const n = 300
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		rng := rand.New(rand.NewPCG(1, uint64(kind)))
		l := newLoop(t, kind, loop.Options{Clock: (&testutil.FakeClock{}).Now})
		rank := rng.Perm(2 * n) // a deadline rank for each schedule, never reused
		next := 0
		delay := func() time.Duration {
			r := rank[next]
			next++
			return -time.Duration(2*n-r) * 10 * time.Millisecond
		}
		var fired []int
		timers := make([]*loop.Timer, n)
		deadline := make([]int, n) // rank of timer i's deadline, -1 if stopped
		for i := range timers {
			deadline[i] = rank[next]
			timers[i] = l.AfterFunc(delay(), func() { fired = append(fired, i) })
		}
		for i := range timers {
			switch rng.IntN(4) {
			case 0:
				require.True(t, timers[i].Stop())
				require.False(t, timers[i].Stop())
				deadline[i] = -1
			case 1:
				deadline[i] = rank[next]
				require.True(t, timers[i].Reset(delay()))
			case 2:
				require.True(t, timers[i].Stop())
				deadline[i] = rank[next]
				require.False(t, timers[i].Reset(delay()))
			}
		}
		var want []int
		for i, r := range deadline {
			if r >= 0 {
				want = append(want, i)
			}
		}
		slices.SortFunc(want, func(a, b int) int { return deadline[a] - deadline[b] })

		require.NoError(t, l.RunOnce(0))
		assert.Equal(t, want, fired, "every due timer runs in one iteration, earliest first")
		for i, tm := range timers {
			assert.False(t, tm.Stop(), "timer %d", i)
		}
	})
}

// TestTimerZeroDelayWaitsForNextIteration: a timer that re-arms itself for
// "now" runs again in the next iteration, not in the same phase, so it
// cannot starve the loop.
func TestTimerZeroDelayWaitsForNextIteration(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		fired := 0
		var tm *loop.Timer
		tm = l.AfterFunc(0, func() {
			fired++
			tm.Reset(0)
		})
		for i := 1; i <= 5; i++ {
			require.NoError(t, l.RunOnce(time.Second))
			require.Equal(t, i, fired)
		}
		tm.Stop()
	})
}

// TestTimerNoSpin is F19(b) (busy-loop, docs/failure-modes.md): a timer 1.5 ms
// away must not make the loop spin on zero-millisecond waits while it is not
// yet due. The deadline is rounded up, so it fires after at most a few
// wake-ups.
func TestTimerNoSpin(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		for range 20 {
			fired := false
			before := l.Map().Stats().Iterations
			l.AfterFunc(1500*time.Microsecond, func() { fired = true })
			for !fired {
				require.NoError(t, l.RunOnce(-1))
				require.LessOrEqual(t, l.Map().Stats().Iterations-before, uint64(3), "the loop spins before a sub-2ms timer")
			}
		}
	})
}

// TestTimerFoldedIntoWait: with an hour's timeout, a 20 ms timer still ends
// the wait: the hang guard that would end it otherwise must not fire.
func TestTimerFoldedIntoWait(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		local, _ := testutil.PeerSocketpair(t)
		addFake(t, l.Map(), local, poller.Read)
		fired := false
		var rescued atomic.Bool
		rescue := time.AfterFunc(testutil.HangGuard, func() { rescued.Store(true); l.Stop() })
		start := time.Now() // before the timer is armed: a lower bound
		l.AfterFunc(20*time.Millisecond, func() { fired = true })
		for !fired && !rescued.Load() {
			require.NoError(t, l.RunOnce(time.Hour))
		}
		elapsed := time.Since(start)
		rescue.Stop()
		assert.True(t, fired)
		assert.GreaterOrEqual(t, elapsed, 20*time.Millisecond)
		assert.False(t, rescued.Load(), "the timer's deadline did not bound the wait")

		// The same through Run and Options.Timeout.
		fired = false
		l2 := newLoop(t, kind, loop.Options{Count: 1, Timeout: time.Hour})
		local2, _ := testutil.PeerSocketpair(t)
		addFake(t, l2.Map(), local2, poller.Read)
		watchdog(t, l2, testutil.HangGuard)
		l2.AfterFunc(20*time.Millisecond, func() { fired = true })
		require.NoError(t, l2.Run())
		assert.True(t, fired)
		assert.Equal(t, 1, l2.Map().Len(), "the watchdog, not the timer, ended the wait")
	})
}

func TestTimerPanicOneShotLogged(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		logs := captureLog(t)
		l := newLoop(t, kind, loop.Options{})
		after := 0
		l.AfterFunc(0, func() { panic("timer boom") })
		l.AfterFunc(time.Millisecond, func() { after++ })
		require.NotPanics(t, func() { require.NoError(t, l.RunOnce(0)) })
		testutil.RunUntil(t, l, 5*time.Second, func() bool { return after == 1 })
		assert.Contains(t, logs.String(), "timer panicked")
		assert.Contains(t, logs.String(), "timer boom")
	})
}

func TestTimerPanicEveryStopped(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		logs := captureLog(t)
		l := newLoop(t, kind, loop.Options{})
		fired, other := 0, 0
		tm := l.Every(time.Millisecond, func() { fired++; panic("every boom") })
		l.Every(time.Millisecond, func() { other++ })
		testutil.RunUntil(t, l, 5*time.Second, func() bool { return other >= 5 })
		assert.Equal(t, 1, fired, "a repeating timer that panics is stopped")
		assert.False(t, tm.Stop())
		assert.Contains(t, logs.String(), "every boom")
	})
}

func TestTimerOnClosedLoop(t *testing.T) {
	l, err := loop.New(loop.Options{Map: loop.NewMap()})
	require.NoError(t, err)
	pending := l.AfterFunc(time.Hour, func() {})
	require.NoError(t, l.Close())
	assert.False(t, pending.Stop(), "Close cancels pending timers")
	tm := l.AfterFunc(0, func() {})
	assert.False(t, tm.Stop(), "a timer made on a closed loop is never scheduled")
	assert.False(t, tm.Reset(0))
	assert.False(t, tm.Stop())
	ev := l.Every(time.Millisecond, func() {})
	assert.False(t, ev.Stop())
}

// TestTimerFarFuture: a delay so long that deadline arithmetic could
// overflow (math.MaxInt64, a common "never") must not wrap into the past
// and fire at once; it must not shorten the wait either.
func TestTimerFarFuture(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		fired := 0
		never := l.AfterFunc(time.Duration(math.MaxInt64), func() { fired++ })
		ev := l.Every(time.Duration(math.MaxInt64), func() { fired++ })
		start := time.Now()
		for range 3 {
			require.NoError(t, l.RunOnce(10*time.Millisecond))
		}
		assert.Zero(t, fired, "a timer an age away fired")
		assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond, "a far timer must not end the wait early")
		assert.True(t, never.Stop())
		assert.True(t, ev.Stop())

		// Reset to an overflowing delay after the loop has been running a
		// while behaves the same.
		tm := l.AfterFunc(time.Hour, func() { fired++ })
		tm.Reset(time.Duration(math.MaxInt64 - 1))
		require.NoError(t, l.RunOnce(0))
		assert.Zero(t, fired)
	})
}
