//go:build linux

package loop

import (
	"encoding/binary"
	"os"

	"golang.org/x/sys/unix"
)

// waker is the descriptor other goroutines write to so that a loop blocked in
// its poller wakes up. On Linux it is an eventfd: one descriptor, and any
// number of writes collapse into one readable counter.
type waker struct{ fd int }

// one is the 8-byte counter increment eventfd(2) expects, in host order.
var one = func() (b [8]byte) { binary.NativeEndian.PutUint64(b[:], 1); return }()

func newWaker() (waker, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return waker{fd: -1}, os.NewSyscallError("eventfd", err)
	}
	return waker{fd: fd}, nil
}

// signal makes the eventfd readable. EAGAIN means the counter is already
// huge, which wakes the loop just as well.
func (w waker) signal() { _, _ = unix.Write(w.fd, one[:]) }

func (w waker) drain() {
	var buf [8]byte
	_, _ = unix.Read(w.fd, buf[:])
}

func (w waker) close() { _ = unix.Close(w.fd) }
