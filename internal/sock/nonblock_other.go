//go:build !linux

package sock

import "golang.org/x/sys/unix"

// nbSyscall6 is a system call that cannot block; elsewhere than Linux it
// is made as any other (nonblock_linux.go says why Linux differs).
func nbSyscall6(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, unix.Errno) {
	return unix.Syscall6(trap, a1, a2, a3, a4, a5, a6)
}

// recv is read(2) on a non-blocking socket.
func recv(fd int, p []byte) (int, error) { return unix.Read(fd, p) }
