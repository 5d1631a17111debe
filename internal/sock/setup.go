package sock

import "golang.org/x/sys/unix"

// The calls that set a socket up, query it and shut it down. They are not
// retried on EINTR — none of them blocks, so none is interrupted — and their
// errors are unwrapped, so the caller names the call when it wraps one and
// can compare the errno (ENOTCONN from PeerAddr). Only shutdown(2) passes
// through the fault-injection seam (OpShutdown): the others fail, if ever,
// at set-up, where the caller's error return is the whole story.

// Shutdown shuts down part of a full-duplex connection (how: unix.SHUT_RD,
// SHUT_WR or SHUT_RDWR). EINTR is retried — shutting down twice is
// harmless; the error is unwrapped.
func Shutdown(fd, how int) error {
	for {
		var err error
		if f := Inject(OpShutdown, fd); f.Err != 0 {
			err = f.Err
		} else {
			err = unix.Shutdown(fd, how)
		}
		if err != unix.EINTR {
			return err
		}
	}
}

// SetNonblock makes fd non-blocking (fcntl O_NONBLOCK).
func SetNonblock(fd int) error { return unix.SetNonblock(fd, true) }

// GetsockoptInt reads an integer socket option (getsockopt(2)).
func GetsockoptInt(fd, level, opt int) (int, error) { return unix.GetsockoptInt(fd, level, opt) }

// SetsockoptInt sets an integer socket option (setsockopt(2)).
func SetsockoptInt(fd, level, opt, value int) error {
	return unix.SetsockoptInt(fd, level, opt, value)
}

// Bind binds fd to sa (bind(2)).
func Bind(fd int, sa unix.Sockaddr) error { return unix.Bind(fd, sa) }

// Listen makes fd a listener with the given backlog (listen(2)).
func Listen(fd, backlog int) error { return unix.Listen(fd, backlog) }

// LocalAddr returns the socket's own address (getsockname(2)).
func LocalAddr(fd int) (unix.Sockaddr, error) { return unix.Getsockname(fd) }

// PeerAddr returns the address of the socket's peer (getpeername(2));
// ENOTCONN when it has none.
func PeerAddr(fd int) (unix.Sockaddr, error) { return unix.Getpeername(fd) }
