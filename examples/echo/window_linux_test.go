package main

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerWindowClosed reports whether the peer of c advertises a zero receive
// window: its receive buffer is full, because it has stopped reading.
func peerWindowClosed(c *net.TCPConn) (closed, ok bool, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return false, true, err
	}
	var info *unix.TCPInfo
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return false, true, err
	}
	if gerr != nil {
		return false, true, gerr
	}
	return info.Snd_wnd == 0, true, nil
}
