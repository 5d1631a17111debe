package dispatcher

import (
	"errors"
	"fmt"
	"net"

	"github.com/asyncore-go/asyncore/loop"
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
// must be kept (docs/failure-modes.md#f1-accept-emfile).
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

// IsPeerCaused reports whether err is something the other end of a
// connection can cause at will — it reset or dropped the connection, went
// silent past a timeout, sent more than a limit allows — rather than a
// fault of this program. Servers see such errors all the time, and an
// attacker can make them by the thousand, so the default HandleError logs
// them at debug level, rate-limited, and keeps the error level for the
// rest.
//
// An error is peer-caused when, walking its chain as errors.As does, the
// first error that has a PeerCaused() bool method reports true (chat's
// limit and timeout errors do), or when the chain holds the dispatcher's
// own timeout errors (ErrIdleTimeout, ErrWriteStall, ErrConnectTimeout) or
// one of the errnos of a connection the peer or the network ended:
// ECONNRESET, ECONNABORTED, EPIPE, ESHUTDOWN, ENOTCONN, ETIMEDOUT,
// ECONNREFUSED, EHOSTUNREACH, ENETUNREACH. EBADF is not among them: a
// descriptor closed behind our back is our bug. A recovered panic
// (*loop.PanicError) is never peer-caused, whatever value it carries.
//
// IsPeerCaused does not allocate.
func IsPeerCaused(err error) bool {
	if _, ok := err.(*loop.PanicError); ok {
		return false
	}
	peer, _ := peerCaused(err)
	return peer
}

// peerCaused walks err's chain depth first, as errors.As does, and stops at
// the first error that decides: one with a PeerCaused method, one of the
// timeout errors, or an errno.
func peerCaused(err error) (peer, decided bool) {
	for err != nil {
		if err == ErrIdleTimeout || err == ErrWriteStall || err == ErrConnectTimeout {
			return true, true
		}
		switch e := err.(type) {
		case interface{ PeerCaused() bool }:
			return e.PeerCaused(), true
		case unix.Errno:
			return peerErrno(e), true
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				if peer, decided := peerCaused(inner); decided {
					return peer, true
				}
			}
			return false, false
		default:
			return false, false
		}
	}
	return false, false
}

// peerErrno reports the errnos of a connection that the peer or the network
// ended (see IsPeerCaused).
func peerErrno(errno unix.Errno) bool {
	switch errno {
	case unix.ECONNRESET, unix.ECONNABORTED, unix.EPIPE, unix.ESHUTDOWN, unix.ENOTCONN,
		unix.ETIMEDOUT, unix.ECONNREFUSED, unix.EHOSTUNREACH, unix.ENETUNREACH:
		return true
	}
	return false
}
