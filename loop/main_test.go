package loop

import (
	"log/slog"
	"os"
	"testing"
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
