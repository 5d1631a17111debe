//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package sock

import "golang.org/x/sys/unix"

// Sendv writes bufs: with one sendmsg(2) for a socket (with MSG_NOSIGNAL
// where the system has it; darwin relies on SO_NOSIGPIPE, set when the socket
// was made), buffer by buffer for anything else, as x/sys offers no writev
// here. x/sys builds the iovec array per call, so the scratch is unused. EINTR is
// retried; the error is unwrapped, and returned only if nothing was written.
func Sendv(fd int, bufs [][]byte, _ *IovecScratch, file bool) (int, error) {
	if !file {
		for {
			n, err := 0, error(nil)
			if f := Inject(OpWrite, fd); f.Err != 0 {
				err = f.Err
			} else {
				n, err = sendmsg(fd, bufs, f.Max)
			}
			if err != unix.EINTR {
				return n, err
			}
		}
	}
	total := 0
	for _, b := range bufs {
		n, err := Write(fd, b)
		total += n
		if err != nil {
			if total > 0 {
				return total, nil
			}
			return 0, err
		}
		if n < len(b) {
			break
		}
	}
	return total, nil
}

// sendmsg sends bufs, or at most max bytes of them when max is positive (an
// injected short write). The cut shortens the last buffer sent for the
// length of the call and puts it back after, so it allocates nothing.
func sendmsg(fd int, bufs [][]byte, max int) (int, error) {
	if max > 0 {
		for i, b := range bufs {
			if len(b) < max {
				max -= len(b)
				continue
			}
			bufs[i] = b[:max]
			n, err := unix.SendmsgBuffers(fd, bufs[:i+1], nil, nil, noSignalFlag)
			bufs[i] = b
			return n, err
		}
	}
	return unix.SendmsgBuffers(fd, bufs, nil, nil, noSignalFlag)
}
