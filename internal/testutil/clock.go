package testutil

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
)

// FakeClock is a clock for loop.Options.Clock that moves only when the test
// says so. With it a timeout test checks both bounds exactly — not fired a
// nanosecond early, fired once its time has come — however slowly the
// scheduler runs the test, instead of measuring wall time.
type FakeClock struct{ now atomic.Int64 }

// Now returns the time elapsed on the clock; it is what the loop reads.
func (c *FakeClock) Now() time.Duration { return time.Duration(c.now.Load()) }

// Advance moves the clock d forward.
func (c *FakeClock) Advance(d time.Duration) { c.now.Add(int64(d)) }

// NewFakeClockLoop is NewLoop with a FakeClock, standing at zero, as the
// loop's clock.
func NewFakeClockLoop(t testing.TB, kind poller.Kind) (*loop.Loop, *FakeClock) {
	t.Helper()
	clk := &FakeClock{}
	l, err := loop.New(loop.Options{Map: loop.NewMap(), Backend: kind, Clock: clk.Now})
	if err != nil {
		t.Fatalf("loop.New(%v): %v", kind, err)
	}
	t.Cleanup(func() { closeLoop(l) })
	return l, clk
}
