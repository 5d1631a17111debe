package sock

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sendv writes bufs with one system call: sendmsg(2) with MSG_NOSIGNAL for a
// socket, writev(2) for anything else (file is true). iov is scratch space
// kept by the caller between calls, so that a steady stream of writes
// allocates nothing. EINTR is retried; the error is unwrapped.
func Sendv(fd int, bufs [][]byte, iov *[]unix.Iovec, file bool) (int, error) {
	for {
		v := (*iov)[:0]
		for _, b := range bufs {
			if len(b) > 0 {
				v = append(v, unix.Iovec{Base: &b[0]})
				v[len(v)-1].SetLen(len(b))
			}
		}
		*iov = v
		if len(v) == 0 {
			return 0, nil
		}
		var n uintptr
		var errno unix.Errno
		f := Inject(OpWrite, fd)
		v = trimIovecs(v, f.Max)
		switch {
		case f.Err != 0:
			errno = f.Err
		case file:
			n, _, errno = unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)))
		default:
			var msg unix.Msghdr
			msg.Iov = &v[0]
			msg.SetIovlen(len(v))
			n, _, errno = unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_NOSIGNAL)
		}
		clear(*iov) // keep no references to the caller's buffers
		switch errno {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		}
		return 0, errno
	}
}

// trimIovecs cuts v to at most max bytes in all (max <= 0: no cap), for an
// injected short write. It shortens the scratch iovecs in place, so it
// allocates nothing.
func trimIovecs(v []unix.Iovec, max int) []unix.Iovec {
	if max <= 0 {
		return v
	}
	for i := range v {
		if n := int(v[i].Len); n < max {
			max -= n
			continue
		}
		v[i].SetLen(max)
		return v[:i+1]
	}
	return v
}
