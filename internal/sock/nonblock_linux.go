//go:build linux

package sock

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The system calls on non-blocking sockets are made as raw system calls on
// Linux: they never block, so the Go runtime's preparation for a call that
// might is pure cost. That preparation (entersyscall, exitsyscall) marks the
// goroutine's P as in a system call and takes it back afterwards, and wakes
// the runtime's monitor thread if it sleeps — a futex call and a thread
// switch — which it does whenever the loop has just waited in epoll_wait
// with nothing else to run. Three such calls per request (read, send,
// epoll_ctl now and then) are a measurable share of a small request's cost:
// in the bench harness's echo cells with one request per event, server CPU
// per request fell by 5 to 15% without them. Regular files keep prepared
// calls (Read, Write): a read from disk may block. The poller's
// non-blocking epoll_wait and epoll_ctl are raw for the same reason.

// nbSyscall6 is a system call that cannot block.
func nbSyscall6(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, unix.Errno) {
	return unix.RawSyscall6(trap, a1, a2, a3, a4, a5, a6)
}

// recv is read(2) on a non-blocking socket.
func recv(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
