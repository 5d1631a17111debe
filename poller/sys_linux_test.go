package poller

import "golang.org/x/sys/unix"

// socketpair returns a connected, non-blocking AF_UNIX stream pair.
func socketpair() ([2]int, error) {
	return unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}

// dupTo duplicates oldfd onto the number newfd.
func dupTo(oldfd, newfd int) error { return unix.Dup3(oldfd, newfd, unix.O_CLOEXEC) }

// threadID and signalThread aim SIGUSR1 at one thread: a process-directed
// signal usually lands on another thread and would not interrupt Wait.
func threadID() int { return unix.Gettid() }

func signalThread(tid int) error { return unix.Tgkill(unix.Getpid(), tid, unix.SIGUSR1) }
