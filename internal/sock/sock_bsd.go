//go:build darwin || netbsd || openbsd

package sock

import (
	"golang.org/x/sys/unix"
)

// These systems lack accept4(2) or SOCK_NONBLOCK in socket(2) (darwin) in the
// x/sys API, so the flags are set with fcntl right after. The window in which
// a concurrent fork+exec could inherit the descriptor is the same one the Go
// runtime accepts on these systems (it holds syscall.ForkLock for it; we
// cannot, since we do not use package syscall's fork).

func socket(family, sotype int) (int, error) {
	fd, err := unix.Socket(family, sotype, 0)
	if err != nil {
		return -1, err
	}
	return fd, prepare(fd)
}

func accept(fd int) (int, unix.Sockaddr, error) {
	nfd, sa, err := unix.Accept(fd)
	if err != nil {
		return -1, nil, err
	}
	return nfd, sa, prepare(nfd)
}

// prepare makes fd close-on-exec and non-blocking and, where the system has
// it, asks for EPIPE instead of SIGPIPE on a write to a closed peer.
func prepare(fd int) error {
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return err
	}
	noSigpipe(fd)
	return nil
}

// send is write(2): with SO_NOSIGPIPE set (darwin) or the Go runtime ignoring
// SIGPIPE on descriptors other than 1 and 2, a closed peer yields EPIPE.
func send(fd int, p []byte) (int, error) {
	return unix.Write(fd, p)
}
