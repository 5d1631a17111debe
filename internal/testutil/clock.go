package testutil

import (
	"sync/atomic"
	"time"
)

// FakeClock is a clock for loop.Options.Clock (looptest.NewFakeClockLoop
// makes a loop with one) that moves only when the test says so. With it a
// timeout test checks both bounds exactly — not fired a nanosecond early,
// fired once its time has come — however slowly the scheduler runs the
// test, instead of measuring wall time.
type FakeClock struct{ now atomic.Int64 }

// Now returns the time elapsed on the clock; it is what the loop reads.
func (c *FakeClock) Now() time.Duration { return time.Duration(c.now.Load()) }

// Advance moves the clock d forward.
func (c *FakeClock) Advance(d time.Duration) { c.now.Add(int64(d)) }
