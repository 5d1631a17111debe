package testutil

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// The socket pairs below differ only in which ends the test closes when it
// ends. A descriptor a channel owns must not be closed again by a clean-up:
// by then the test may have reused its number.

// NewSocketpair is unix.Socketpair(AF_UNIX, SOCK_STREAM) with both ends
// non-blocking and close-on-exec, portably (darwin has no SOCK_NONBLOCK or
// SOCK_CLOEXEC). The caller closes the descriptors. It takes no test, for
// the fuzz harnesses and the goroutines that must not call t.Fatal.
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

// BareSocketpair is NewSocketpair failing the test on error. The caller
// closes both ends.
func BareSocketpair(t testing.TB) (int, int) {
	t.Helper()
	fds, err := NewSocketpair()
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	return fds[0], fds[1]
}

// Socketpair is NewSocketpair with both ends closed when the test ends.
func Socketpair(t testing.TB) (int, int) {
	t.Helper()
	a, b := BareSocketpair(t)
	t.Cleanup(func() {
		_ = unix.Close(a)
		_ = unix.Close(b)
	})
	return a, b
}

// PeerSocketpair is NewSocketpair for a channel and its peer: the first
// end, local, is the channel's to close; the second, the peer the test
// drives, is closed when the test ends.
func PeerSocketpair(t testing.TB) (local, peer int) {
	t.Helper()
	local, peer = BareSocketpair(t)
	t.Cleanup(func() { _ = unix.Close(peer) })
	return local, peer
}

// AdoptPair hands the local end of a PeerSocketpair to adopt (a
// dispatcher's or chat's Adopt) and returns the peer, which the test drives
// with raw reads and writes. If adopt fails, both ends are closed and the
// test fails.
func AdoptPair(t testing.TB, adopt func(fd int) error) (peer int) {
	t.Helper()
	local, peer := PeerSocketpair(t)
	if err := adopt(local); err != nil {
		_ = unix.Close(local)
		t.Fatalf("Adopt: %v", err)
	}
	return peer
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

// Write writes s to fd in one write(2), failing the test unless all of it
// was written.
func Write(t testing.TB, fd int, s string) {
	t.Helper()
	n, err := unix.Write(fd, []byte(s))
	if err != nil {
		t.Fatalf("write to fd %d: %v", fd, err)
	}
	if n != len(s) {
		t.Fatalf("write to fd %d: %d of %d bytes", fd, n, len(s))
	}
}

// ReadReady reads what fd has now, without blocking (fd is non-blocking),
// into successive fills of buf, and returns it all; eof is set by EOF or by
// a reset (a socket closed with unread input resets its peer).
func ReadReady(fd int, buf []byte) (got []byte, eof bool, err error) {
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return got, false, nil
		case errors.Is(err, unix.ECONNRESET):
			return got, true, nil
		case err != nil:
			return got, false, err
		case n == 0:
			return got, true, nil
		}
		got = append(got, buf[:n]...)
	}
}
