// Package testutil holds the helpers shared by the test suites: socket
// pairs and loopback TCP connections, descriptor counts and leak checks,
// driving a loop until a condition holds (instead of sleeping), percentiles
// of measured times, child processes with a resource limit of their own, the
// long-run and timing switches, and starting and stopping the examples'
// servers.
//
// It imports nothing from this module — only the standard library,
// golang.org/x/sys and testify — so that every package's tests can use it,
// poller's and loop's internal tests included: a helper package importing
// poller or loop could not be imported by their own package's tests. The
// helpers that drive a loop take the one method they call, RunOnce, as an
// interface (Runner). Those that need the library itself (the backends to
// test, a loop per test) are in the package looptest below this one.
package testutil

import (
	"testing"
	"time"
)

// HangGuard is the least time RunUntil waits before it calls a test hung.
// It is a guard against hangs, not a bound on how fast the code is: on a
// machine busy with other work a condition that takes milliseconds when
// idle can take seconds.
const HangGuard = 60 * time.Second

// Runner is what RunUntil and RunFor drive: a *loop.Loop.
type Runner interface {
	// RunOnce runs one iteration of the loop, waiting at most timeout
	// for an event.
	RunOnce(timeout time.Duration) error
}

// RunUntil runs l one iteration at a time (each waiting at most 10ms) until
// cond returns true, failing the test if that has not happened within
// timeout or HangGuard, whichever is longer. It returns the number of
// iterations it ran.
func RunUntil(t testing.TB, l Runner, timeout time.Duration, cond func() bool) int {
	t.Helper()
	timeout = max(timeout, HangGuard)
	deadline := time.Now().Add(timeout)
	n := 0
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached within %v (%d iterations)", timeout, n)
		}
		if err := l.RunOnce(10 * time.Millisecond); err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
		n++
	}
	return n
}

// RunFor runs l for n iterations, each waiting at most wait, failing the
// test if one fails: how a test lets the loop settle, or shows that
// something does not happen.
func RunFor(t testing.TB, l Runner, n int, wait time.Duration) {
	t.Helper()
	for range n {
		if err := l.RunOnce(wait); err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
	}
}

// Settle runs l for a few iterations, each waiting at most a millisecond:
// time enough for whatever is due on l's clock to happen. Tests that run
// their loop on a FakeClock call it after moving the clock, so that what
// happens depends on the clock alone, not on how fast the machine runs the
// test.
func Settle(t testing.TB, l Runner) {
	t.Helper()
	RunFor(t, l, 5, time.Millisecond)
}
