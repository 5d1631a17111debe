package sock

import "golang.org/x/sys/unix"

// SendTo sends p as one datagram to sa (sendto(2)), without raising SIGPIPE.
// A datagram goes out whole or not at all, so there is no byte count: a nil
// error means all of p was sent. EINTR is retried; the error is unwrapped,
// EAGAIN included, so the caller can classify it. An injected Max is
// ignored: a datagram cannot be cut.
func SendTo(fd int, p []byte, sa unix.Sockaddr) error {
	for {
		var err error
		if f := Inject(OpWrite, fd); f.Err != 0 {
			err = f.Err
		} else {
			err = unix.Sendto(fd, p, unix.MSG_NOSIGNAL, sa)
		}
		if err != unix.EINTR {
			return err
		}
	}
}

// RecvFrom receives one datagram into p (recvfrom(2)) and returns its length
// and sender. EINTR is retried; the error is unwrapped, EAGAIN included. An
// injected Max cuts p, so the datagram is truncated as a short buffer would
// truncate it.
func RecvFrom(fd int, p []byte) (int, unix.Sockaddr, error) {
	for {
		n, sa, err := 0, unix.Sockaddr(nil), error(nil)
		if f := Inject(OpRead, fd); f.Err != 0 {
			err = f.Err
		} else {
			n, sa, err = unix.Recvfrom(fd, f.limit(p), 0)
		}
		if err != unix.EINTR {
			return n, sa, err
		}
	}
}
