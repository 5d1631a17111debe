//go:build linux || freebsd || dragonfly

package sock

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// These systems take SOCK_NONBLOCK|SOCK_CLOEXEC in socket(2) and have
// accept4(2), so no descriptor is ever visible without close-on-exec.

func socket(family, sotype int) (int, error) {
	return unix.Socket(family, sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}

func accept(fd int) (int, unix.Sockaddr, error) {
	return unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
}

// send is sendto(2) with MSG_NOSIGNAL, called directly because
// unix.Sendto does not return the byte count.
func send(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, errno := nbSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(ptr), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
