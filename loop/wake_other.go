//go:build unix && !linux

package loop

import (
	"os"

	"golang.org/x/sys/unix"
)

// waker is the descriptor other goroutines write to so that a loop blocked in
// its poller wakes up. Without eventfd it is a non-blocking pipe: the loop
// watches the read end, and signal writes one byte to the write end.
type waker struct{ fd, wr int }

var one = [1]byte{1}

func newWaker() (waker, error) {
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		return waker{fd: -1, wr: -1}, os.NewSyscallError("pipe", err)
	}
	for _, fd := range p {
		unix.CloseOnExec(fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			_ = unix.Close(p[0])
			_ = unix.Close(p[1])
			return waker{fd: -1, wr: -1}, os.NewSyscallError("fcntl", err)
		}
	}
	return waker{fd: p[0], wr: p[1]}, nil
}

// signal writes one byte; EAGAIN means the pipe is full of wake-ups already.
func (w waker) signal() { _, _ = unix.Write(w.wr, one[:]) }

// drain empties the pipe so that level-triggered polling stops reporting it.
func (w waker) drain() {
	var buf [64]byte
	for {
		if n, err := unix.Read(w.fd, buf[:]); n <= 0 || err != nil {
			return
		}
	}
}

func (w waker) close() {
	_ = unix.Close(w.fd)
	_ = unix.Close(w.wr)
}
