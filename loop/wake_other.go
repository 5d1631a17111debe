//go:build unix && !linux

package loop

import "github.com/asyncore-go/asyncore/internal/sock"

// waker is the descriptor other goroutines write to so that a loop blocked in
// its poller wakes up. Without eventfd it is a non-blocking pipe: the loop
// watches the read end, and signal writes one byte to the write end.
type waker struct{ fd, wr int }

var one = [1]byte{1}

func newWaker() (waker, error) {
	p, err := sock.Pipe()
	if err != nil {
		return waker{fd: -1, wr: -1}, err
	}
	return waker{fd: p[0], wr: p[1]}, nil
}

// signal writes one byte; EAGAIN means the pipe is full of wake-ups already.
func (w waker) signal() { _, _ = sock.Write(w.wr, one[:]) }

// drain empties the pipe so that level-triggered polling stops reporting it.
func (w waker) drain() {
	var buf [64]byte
	for {
		if n, err := sock.Read(w.fd, buf[:]); n <= 0 || err != nil {
			return
		}
	}
}

func (w waker) close() {
	_ = sock.Close(w.fd)
	_ = sock.Close(w.wr)
}
