package loop

import (
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"
)

// TestMain prepares the process for tests that count and reuse descriptor
// numbers.
//
// The Go runtime opens its own netpoller descriptors (an epoll fd and an
// eventfd) the first time an *os.File or net.Conn is made. If that happened in
// the middle of a test, the runtime could be handed a number a test had just
// closed and still refers to, and a late close of that number would break
// the runtime's poller. Opening a pipe here makes the runtime take its
// descriptors before any test runs.
//
// The loop logs recovered panics through log/slog; tests that check those
// messages install their own handler, the rest stay quiet.
func TestMain(m *testing.M) {
	if r, w, err := os.Pipe(); err == nil {
		_ = r.Close()
		_ = w.Close()
	}
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

// PollerWatches reports whether l's poller is watching fd. It exists for the
// external tests, which cannot see the poller: it tells "this loop no longer
// watches the map" apart from "this loop took the map back when it ran".
// Modify with the interest and tag already applied changes nothing for a
// watched fd and fails with ENOENT for one that is not watched.
func PollerWatches(l *Loop, fd int) bool {
	var e entry
	if fd >= 0 && fd < len(l.m.entries) {
		e = l.m.entries[fd]
	}
	return l.p.Modify(fd, e.applied, e.gen) == nil
}

// ObserveWaits records the timeout every wait of phase 2 is given, on any
// loop, until the test ends. Tests that need to know whether a loop polls,
// waits with a bound or blocks without one read it here instead of timing
// the wait.
func ObserveWaits(t interface {
	Helper()
	Cleanup(func())
}) *[]time.Duration {
	t.Helper()
	var seen []time.Duration
	var mu sync.Mutex
	waitObserver = func(timeout time.Duration) {
		mu.Lock()
		seen = append(seen, timeout)
		mu.Unlock()
	}
	t.Cleanup(func() { waitObserver = nil })
	return &seen
}

// WaitsChan sends the timeout of every wait of phase 2, on any loop, to the
// returned channel until the test ends, so that a test can wait for a loop
// to reach a wait of a given kind (a block, say) instead of sleeping. Waits
// beyond the channel's buffer are dropped, never waited for.
func WaitsChan(t interface {
	Helper()
	Cleanup(func())
}) <-chan time.Duration {
	t.Helper()
	ch := make(chan time.Duration, 64)
	waitObserver = func(timeout time.Duration) {
		select {
		case ch <- timeout:
		default:
		}
	}
	t.Cleanup(func() { waitObserver = nil })
	return ch
}

// ReloadDebugEnv reads ASYNCORE_DEBUG again (it is read once per process
// otherwise), and again when the test ends, after t.Setenv has restored it.
func ReloadDebugEnv(t interface{ Cleanup(func()) }) {
	debugEnv = sync.OnceValue(readDebugEnv)
	t.Cleanup(func() { debugEnv = sync.OnceValue(readDebugEnv) })
}

// Attached returns the loop attached to m, or nil, without making one as
// Map.Loop does.
func Attached(m *Map) *Loop { return m.loop.Load() }
