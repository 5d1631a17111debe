package loop_test

import (
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestNowMonotonic: Now is read once per iteration — the same for every
// handler of a pass, yet moving with the wall clock from pass to pass — and
// again before the timers run, so a timer that fires after a slow handler
// sees a clock past its own deadline.
func TestNowMonotonic(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := looptest.NewLoop(t, kind)
		record := func(into *[]time.Duration) func() {
			return func() { *into = append(*into, l.Now(), l.Now()) }
		}
		var first, second []time.Duration
		require.NoError(t, l.Post(record(&first)))
		testutil.RunUntil(t, l, time.Second, func() bool { return len(first) > 0 })
		assert.Equal(t, first[0], first[1], "one clock reading per pass")
		start := time.Now()
		testutil.RunUntil(t, l, time.Second, func() bool { return time.Since(start) > 30*time.Millisecond })
		require.NoError(t, l.Post(record(&second)))
		testutil.RunUntil(t, l, time.Second, func() bool { return len(second) > 0 })
		assert.GreaterOrEqual(t, second[0]-first[0], 30*time.Millisecond, "the clock follows the wall clock")

		// A handler that takes 30ms, then a timer due 10ms after the pass
		// began: the timer must see at least its deadline.
		a, b := testutil.Socketpair(t)
		slow := addFake(t, l.Map(), a, poller.Read)
		slow.onEvents = func(poller.Events) {
			spin := time.Now()
			for time.Since(spin) < 30*time.Millisecond {
			}
			var buf [8]byte
			_, _ = unix.Read(a, buf[:])
		}
		_, err := unix.Write(b, []byte("x"))
		require.NoError(t, err)
		armed := l.Now()
		var fired []time.Duration
		l.AfterFunc(10*time.Millisecond, record(&fired))
		testutil.RunUntil(t, l, time.Second, func() bool { return len(fired) > 0 })
		assert.GreaterOrEqual(t, fired[0]-armed, 10*time.Millisecond)
		l.Map().Remove(a, slow)
	})
}

// TestTimerResetDoesNotAllocate: re-arming a dispatcher's timeout timer, and
// reading the clock, cost no allocation (the hot path of every timeout).
func TestTimerResetDoesNotAllocate(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := looptest.NewLoop(t, kind)
		for i := range 100 {
			l.AfterFunc(time.Hour+time.Duration(i), func() {})
		}
		tm := l.AfterFunc(time.Hour, func() {})
		d := time.Minute
		allocs := testing.AllocsPerRun(1000, func() {
			d++
			tm.Reset(d)
			_ = l.Now()
		})
		assert.Zero(t, allocs)
	})
}

// TestClockOption: a loop given Options.Clock reads nothing else. Now
// follows it, and a timer fires exactly when the clock reaches its deadline
// — not a nanosecond before, and on the next iteration after — however long
// the iterations take in wall time.
func TestClockOption(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l, clk := looptest.NewFakeClockLoop(t, kind)
		clk.Advance(time.Hour)
		assert.GreaterOrEqual(t, l.Now(), time.Hour)
		assert.Less(t, l.Now(), time.Hour+time.Millisecond, "the loop reads the fake clock")

		fired := 0
		l.AfterFunc(50*time.Millisecond, func() { fired++ })
		clk.Advance(50*time.Millisecond - time.Microsecond)
		for range 5 {
			require.NoError(t, l.RunOnce(0))
		}
		assert.Zero(t, fired, "fired before the clock reached its deadline")
		clk.Advance(time.Microsecond)
		require.NoError(t, l.RunOnce(0))
		assert.Equal(t, 1, fired, "the first iteration at the deadline runs the timer")
	})
}
