//go:build unix && !linux

package poller

import "golang.org/x/sys/unix"

// threadID and signalThread fall back to a process-directed signal where
// there is no portable way to signal one thread.
func threadID() int { return 0 }

func signalThread(int) error { return unix.Kill(unix.Getpid(), unix.SIGUSR1) }
