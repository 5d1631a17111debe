// Package testutil holds helpers shared by the test suites: running a test
// once per poller backend, driving a loop until a condition holds (instead of
// sleeping), socket pairs, descriptor-leak checks, and starting and stopping
// the examples' servers.
package testutil

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"golang.org/x/sys/unix"
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

// closeLoop closes every channel of l's map, then l.
func closeLoop(l *loop.Loop) {
	l.Map().Range(func(fd int, ch loop.Channel) bool {
		_ = ch.Close()
		l.Map().Remove(fd, ch)
		return true
	})
	_ = l.Close()
}

// HangGuard is the least time RunUntil waits before it calls a test hung.
// It is a guard against hangs, not a bound on how fast the code is: on a
// machine busy with other work a condition that takes milliseconds when
// idle can take seconds.
const HangGuard = 60 * time.Second

// RunUntil runs l one iteration at a time (each waiting at most 10ms) until
// cond returns true, failing the test if that has not happened within
// timeout or HangGuard, whichever is longer. It returns the number of
// iterations it ran.
func RunUntil(t testing.TB, l *loop.Loop, timeout time.Duration, cond func() bool) int {
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

// Socketpair returns a connected pair of non-blocking, close-on-exec AF_UNIX
// stream sockets; both are closed when the test ends unless already closed.
func Socketpair(t testing.TB) (int, int) {
	t.Helper()
	// SOCK_NONBLOCK and SOCK_CLOEXEC are not portable (darwin lacks them);
	// the flags are set afterwards instead.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	for _, fd := range fds {
		unix.CloseOnExec(fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			t.Fatalf("set non-blocking: %v", err)
		}
	}
	t.Cleanup(func() {
		_ = unix.Close(fds[0])
		_ = unix.Close(fds[1])
	})
	return fds[0], fds[1]
}

// OpenFDs counts this process's open descriptors (/proc/self/fd); -1 where
// /proc is missing.
func OpenFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries) - 1 // the directory's own descriptor
}

// CheckFDLeaks fails the test if it ends with more descriptors open than it
// started with. Register it first, so that it runs after the other cleanups.
func CheckFDLeaks(t testing.TB) {
	t.Helper()
	before := OpenFDs()
	if before < 0 {
		return
	}
	t.Cleanup(func() {
		if after := OpenFDs(); after > before {
			t.Errorf("descriptor leak: %d open before the test, %d after", before, after)
		}
	})
}

// NewSocketpair is unix.Socketpair(AF_UNIX, SOCK_STREAM) with both ends
// non-blocking and close-on-exec, portably (darwin has no SOCK_NONBLOCK or
// SOCK_CLOEXEC). The caller closes the descriptors.
func NewSocketpair() ([2]int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return fds, err
	}
	for _, fd := range fds {
		if err := prepare(fd); err != nil {
			_ = unix.Close(fds[0])
			_ = unix.Close(fds[1])
			return fds, err
		}
	}
	return fds, nil
}

// NewSocket is unix.Socket(family, sotype, 0) made non-blocking and
// close-on-exec, portably. The caller closes the descriptor.
func NewSocket(family, sotype int) (int, error) {
	fd, err := unix.Socket(family, sotype, 0)
	if err != nil {
		return -1, err
	}
	if err := prepare(fd); err != nil {
		_ = unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func prepare(fd int) error {
	unix.CloseOnExec(fd)
	return unix.SetNonblock(fd, true)
}

// NewPipe is pipe(2) with both ends close-on-exec, portably (darwin has no
// pipe2); like pipe(2) it leaves them blocking. It returns the read end
// first. The caller closes the descriptors.
func NewPipe() ([2]int, error) {
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		return p, err
	}
	unix.CloseOnExec(p[0])
	unix.CloseOnExec(p[1])
	return p, nil
}

// DupTo duplicates oldfd onto the number newfd (closing whatever newfd was)
// and marks the copy close-on-exec: dup3(2) where it exists, dup2 elsewhere.
func DupTo(oldfd, newfd int) error {
	if err := unix.Dup2(oldfd, newfd); err != nil {
		return err
	}
	unix.CloseOnExec(newfd)
	return nil
}
