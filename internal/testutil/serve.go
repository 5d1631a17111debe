package testutil

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// serveTimeout bounds each wait on an example server: for it to listen, and
// for it to return once cancelled. A server that misses it is stuck, and the
// test fails rather than hang until go test's own timeout.
const serveTimeout = HangGuard

// ServeFunc is an example's serve function with its other arguments bound:
// it listens, calls ready (unless nil) with the address it bound, and serves
// until ctx is cancelled, when it returns nil. It returns an error if it
// cannot start.
type ServeFunc func(ctx context.Context, ready func(net.Addr)) error

// Serve runs run on its own goroutine and waits up to 5s for it to report
// the address it listens on. If run returns first, or does not report in
// time, Serve fails the test at once: every check after it would only time
// out.
//
// The server is stopped when the test ends; stop does it earlier, for tests
// that check what shutting down does to connected clients. Stopping cancels
// run's context and waits up to 5s for run to return; the test fails if run
// returns an error or does not return in time. stop may be called more than
// once, and only the first call does anything, so a test that stops the
// server itself need not undo the cleanup.
func Serve(t testing.TB, run ServeFunc) (addr net.Addr, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan net.Addr, 1)
	go func() { done <- run(ctx, func(a net.Addr) { ready <- a }) }()
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve returned before listening: %v", err)
	case <-time.After(serveTimeout):
		cancel()
		t.Fatalf("server did not start within %v", serveTimeout)
	}
	var stopped atomic.Bool
	stop = func() {
		t.Helper()
		if !stopped.CompareAndSwap(false, true) {
			return
		}
		cancel()
		awaitNil(t, done, "serve")
	}
	t.Cleanup(stop)
	return addr, stop
}

// ServeCancelled calls run with a context that is cancelled beforehand and
// no ready callback, and fails the test unless run returns nil within 5s. A
// cancellation that comes before the loop starts must still stop it, rather
// than be missed while the loop blocks in its first wait.
func ServeCancelled(t testing.TB, run ServeFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil) }()
	awaitNil(t, done, "serve with a cancelled context")
}

// awaitNil waits up to 5s for a cancelled server's result on done. It fails
// the test if the result is an error, and stops the test if none comes: the
// server is stuck, and whatever the test checks next would hang as well.
func awaitNil(t testing.TB, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	case <-time.After(serveTimeout):
		t.Fatalf("%s did not return within %v of being cancelled", what, serveTimeout)
	}
}

// BusyAddr returns the address of a loopback TCP listener that stays open
// until the test ends, for checking that a server reports an address it
// cannot bind instead of hiding the error.
func BusyAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().String()
}

// WarmUp opens and closes one loopback TCP connection. The Go runtime
// creates its netpoller's descriptors (the epoll or kqueue instance and its
// wake-up descriptor) lazily, on first use of the net package, and keeps them
// for the life of the process; opening them before a test counts descriptors
// keeps them from being mistaken for a leak of the server under test.
func WarmUp(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("warm-up listen: %v", err)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		_ = ln.Close()
		t.Fatalf("warm-up dial: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("warm-up close: %v", err)
	}
	if err := ln.Close(); err != nil {
		t.Fatalf("warm-up close listener: %v", err)
	}
}

// FDCheck calls WarmUp, counts the open descriptors, and returns a function
// that fails the test unless exactly as many are open when it is called.
// Call it once the server has stopped and the test has closed its own
// connections: a server must close every descriptor it opened, and none that
// it did not. Unlike CheckFDLeaks, the count is compared where the test says,
// before any cleanup could close what the server left open. Where /proc is
// missing nothing is counted and the check does nothing.
func FDCheck(t testing.TB) (check func()) {
	t.Helper()
	WarmUp(t)
	before := OpenFDs()
	return func() {
		t.Helper()
		if before < 0 {
			return
		}
		if after := OpenFDs(); after != before {
			t.Errorf("descriptors open before and after the server ran: %d before, %d after", before, after)
		}
	}
}
