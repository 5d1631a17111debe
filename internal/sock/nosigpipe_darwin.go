package sock

import "golang.org/x/sys/unix"

// noSigpipe sets SO_NOSIGPIPE: darwin has no MSG_NOSIGNAL for send(2).
func noSigpipe(fd int) { _ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_NOSIGPIPE, 1) }
