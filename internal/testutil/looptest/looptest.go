// Package looptest holds the test helpers that need the library itself: the
// poller backends a run tests, a loop per test, a loop driven against a
// fake clock, the example servers' fuzz conversation, and the fault
// property tests' per-backend share of scripts.
//
// Every other shared helper lives in package testutil below this one, which
// imports nothing from this module (the standard library, golang.org/x/sys
// and testify only), so that the tests of poller and loop — including their
// internal tests, which a package importing poller or loop cannot serve
// without an import cycle — use the same socket pairs, descriptor counts
// and waits as everyone else. Helpers that only drive a loop, such as
// testutil.RunUntil and testutil.RunFor, take the one method they call
// (RunOnce) as an interface and so stay in testutil; what needs a
// poller.Kind, a *loop.Loop or a *loop.Map lives here.
package looptest

import (
	"os"
	"strings"
	"testing"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
)

// Backends lists the backends to test: every backend this system has, or
// only those named in REACTOR_BACKEND (comma-separated, e.g. "epoll,poll").
func Backends() []poller.Kind {
	kinds := poller.Available()
	want := os.Getenv("REACTOR_BACKEND")
	if want == "" {
		return kinds
	}
	var out []poller.Kind
	for _, k := range kinds {
		for _, name := range strings.Split(want, ",") {
			if strings.TrimSpace(name) == k.String() {
				out = append(out, k)
			}
		}
	}
	return out
}

// ForEachBackend runs f as a subtest named after each backend.
func ForEachBackend(t *testing.T, f func(t *testing.T, kind poller.Kind)) {
	t.Helper()
	for _, k := range Backends() {
		t.Run(k.String(), func(t *testing.T) { f(t, k) })
	}
}

// NewLoop creates a loop of the given kind over a fresh map and closes both
// (every channel, then the loop) when the test ends.
func NewLoop(t testing.TB, kind poller.Kind) *loop.Loop {
	t.Helper()
	l, err := loop.New(loop.Options{Map: loop.NewMap(), Backend: kind})
	if err != nil {
		t.Fatalf("loop.New(%v): %v", kind, err)
	}
	t.Cleanup(func() { closeLoop(l) })
	return l
}

// NewFakeClockLoop is NewLoop with a testutil.FakeClock, standing at zero,
// as the loop's clock.
func NewFakeClockLoop(t testing.TB, kind poller.Kind) (*loop.Loop, *testutil.FakeClock) {
	t.Helper()
	clk := &testutil.FakeClock{}
	l, err := loop.New(loop.Options{Map: loop.NewMap(), Backend: kind, Clock: clk.Now})
	if err != nil {
		t.Fatalf("loop.New(%v): %v", kind, err)
	}
	t.Cleanup(func() { closeLoop(l) })
	return l, clk
}

// closeLoop closes every channel of l's map, then l.
func closeLoop(l *loop.Loop) {
	l.Map().Range(func(fd int, ch loop.Channel) bool {
		_ = ch.Close()
		l.Map().Remove(fd, ch)
		return true
	})
	_ = l.Close()
}

// FaultScripts is how many scripts a property test runs on each backend:
// short in all, shared among the backends, in an ordinary run; total in the
// long runs (testutil.Long); or -fault.scripts if it is set.
func FaultScripts(total, short int) int {
	return max(1, testutil.FaultTotal(total, short)/len(Backends()))
}
