package dispatcher

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// ErrClosed is returned by I/O on a dispatcher that has no open socket.
// errors.Is(err, net.ErrClosed) holds for it.
var ErrClosed = fmt.Errorf("dispatcher: no open socket: %w", net.ErrClosed)

// ErrHasSocket is returned when a socket is given to a dispatcher that
// already has one.
var ErrHasSocket = errors.New("dispatcher: the dispatcher already has a socket")

// disconnected is asyncore's _DISCONNECTED: errnos that mean the peer or the
// socket is gone, which lead to HandleClose rather than HandleError.
func disconnected(err error) bool {
	switch err {
	case unix.ECONNRESET, unix.ENOTCONN, unix.ESHUTDOWN, unix.ECONNABORTED, unix.EPIPE, unix.EBADF:
		return true
	}
	return false
}

// wouldBlock reports EAGAIN (EWOULDBLOCK is the same errno on every system
// we build for).
func wouldBlock(err error) bool { return err == unix.EAGAIN }

// outOfDescriptors reports the accept errors that mean "the process or
// system cannot take another connection right now": the listener is fine and
// must be kept (reliability.md F1).
func outOfDescriptors(err error) bool {
	switch err {
	case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
		return true
	}
	return false
}

// acceptAgain reports accept errors that concern only one pending
// connection, or none: try again at the next readiness.
func acceptAgain(err error) bool {
	switch err {
	case unix.EAGAIN, unix.ECONNABORTED, unix.EPROTO, unix.EPERM:
		return true
	}
	return false
}
