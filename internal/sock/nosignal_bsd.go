//go:build freebsd || netbsd || openbsd || dragonfly

package sock

import "golang.org/x/sys/unix"

// noSignalFlag asks sendmsg(2) for EPIPE instead of SIGPIPE.
const noSignalFlag = unix.MSG_NOSIGNAL
