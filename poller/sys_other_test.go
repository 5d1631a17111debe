//go:build unix && !linux

package poller

import "golang.org/x/sys/unix"

// socketpair returns a connected, non-blocking AF_UNIX stream pair. macOS
// has no SOCK_NONBLOCK or SOCK_CLOEXEC, so the flags are set afterwards.
func socketpair() ([2]int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return fds, err
	}
	for _, fd := range fds {
		unix.CloseOnExec(fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fds[0])
			unix.Close(fds[1])
			return fds, err
		}
	}
	return fds, nil
}

// dupTo duplicates oldfd onto the number newfd.
func dupTo(oldfd, newfd int) error {
	if err := unix.Dup2(oldfd, newfd); err != nil {
		return err
	}
	unix.CloseOnExec(newfd)
	return nil
}

// threadID and signalThread fall back to a process-directed signal where
// there is no portable way to signal one thread.
func threadID() int { return 0 }

func signalThread(int) error { return unix.Kill(unix.Getpid(), unix.SIGUSR1) }
