//go:build linux

package loop

import (
	"encoding/binary"

	"github.com/asyncore-go/asyncore/internal/sock"
)

// waker is the descriptor other goroutines write to so that a loop blocked in
// its poller wakes up. On Linux it is an eventfd: one descriptor, and any
// number of writes collapse into one readable counter.
type waker struct{ fd int }

// one is the 8-byte counter increment eventfd(2) expects, in host order.
var one = func() (b [8]byte) { binary.NativeEndian.PutUint64(b[:], 1); return }()

func newWaker() (waker, error) {
	fd, err := sock.Eventfd()
	if err != nil {
		return waker{fd: -1}, err
	}
	return waker{fd: fd}, nil
}

// signal makes the eventfd readable. EAGAIN means the counter is already
// huge, which wakes the loop just as well.
func (w waker) signal() { _, _ = sock.Write(w.fd, one[:]) }

func (w waker) drain() {
	var buf [8]byte
	_, _ = sock.Recv(w.fd, buf[:])
}

func (w waker) close() { _ = sock.Close(w.fd) }
