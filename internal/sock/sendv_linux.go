package sock

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sendv writes bufs with one system call: sendmsg(2) with MSG_NOSIGNAL for a
// socket, writev(2) for anything else (file is true). Up to stackIovecs
// buffers are described on the stack; iov is the caller's scratch space for
// more, kept between calls, so that a steady stream of writes allocates
// nothing and a connection that never writes many buffers at once holds
// none. EINTR is retried; the error is unwrapped.
func Sendv(fd int, bufs [][]byte, iov *IovecScratch, file bool) (int, error) {
	if len(bufs) <= stackIovecs {
		var stack [stackIovecs]unix.Iovec
		return sendIovecs(fd, bufs, stack[:0], file)
	}
	if iov.v == nil {
		iov.v = new([]unix.Iovec)
	}
	if cap(*iov.v) < len(bufs) {
		*iov.v = make([]unix.Iovec, 0, len(bufs))
	}
	v := (*iov.v)[:0]
	n, err := sendIovecs(fd, bufs, v, file)
	clear(v[:cap(v)]) // keep no references to the caller's buffers
	return n, err
}

// fillIovecs appends an iovec for each non-empty buffer to v.
func fillIovecs(v []unix.Iovec, bufs [][]byte) []unix.Iovec {
	for _, b := range bufs {
		if len(b) > 0 {
			v = append(v, unix.Iovec{Base: &b[0]})
			v[len(v)-1].SetLen(len(b))
		}
	}
	return v
}

// sendIovecs is Sendv's system call, retried on EINTR, with the iovecs
// built in v, which has room for one per buffer.
func sendIovecs(fd int, bufs [][]byte, v []unix.Iovec, file bool) (int, error) {
	for {
		w := fillIovecs(v[:0], bufs)
		if len(w) == 0 {
			return 0, nil
		}
		var n uintptr
		var errno unix.Errno
		f := Inject(OpWrite, fd)
		w = trimIovecs(w, f.Max)
		switch {
		case f.Err != 0:
			errno = f.Err
		case file:
			n, _, errno = unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&w[0])), uintptr(len(w)))
		default:
			var msg unix.Msghdr
			msg.Iov = &w[0]
			msg.SetIovlen(len(w))
			n, _, errno = nbSyscall6(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_NOSIGNAL, 0, 0, 0)
		}
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
