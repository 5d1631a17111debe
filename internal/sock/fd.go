package sock

import (
	"os"

	"golang.org/x/sys/unix"
)

// Descriptors that are not sockets but that the library opens all the same:
// a listener's spare descriptor and the loop's wake-up pipe or eventfd. They
// go through the fault-injection seam as OpOpen, on descriptor -1, and their
// errors are wrapped with the name of the call that failed, as Socket's are.

// OpenDevNull opens /dev/null read-only and close-on-exec: a descriptor that
// holds a slot in the process's table and nothing else, which a listener
// keeps to give up when accept runs out of descriptors.
func OpenDevNull() (int, error) {
	if f := Inject(OpOpen, -1); f.Err != 0 {
		return -1, os.NewSyscallError("open", f.Err)
	}
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("open", err)
	}
	return fd, nil
}

// Pipe creates a pipe whose two ends are non-blocking and close-on-exec:
// p[0] is the read end, p[1] the write end. pipe2(2) is not used because
// darwin lacks it; the flags are set right after, in the same window Socket
// accepts there. On error nothing is left open.
func Pipe() (p [2]int, err error) {
	if f := Inject(OpOpen, -1); f.Err != 0 {
		return [2]int{-1, -1}, os.NewSyscallError("pipe", f.Err)
	}
	if err := unix.Pipe(p[:]); err != nil {
		return [2]int{-1, -1}, os.NewSyscallError("pipe", err)
	}
	for _, fd := range p {
		unix.CloseOnExec(fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			_ = unix.Close(p[0])
			_ = unix.Close(p[1])
			return [2]int{-1, -1}, os.NewSyscallError("fcntl", err)
		}
	}
	return p, nil
}

// FileLimit returns the process's limit on open descriptors
// (RLIMIT_NOFILE).
func FileLimit() (unix.Rlimit, error) {
	var rl unix.Rlimit
	err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	return rl, err
}
