package poller

import "golang.org/x/sys/unix"

// threadID and signalThread aim SIGUSR1 at one thread: a process-directed
// signal usually lands on another thread and would not interrupt Wait.
func threadID() int { return unix.Gettid() }

func signalThread(tid int) error { return unix.Tgkill(unix.Getpid(), tid, unix.SIGUSR1) }
