package dispatcher

import (
	"os"

	"github.com/asyncore-go/asyncore/internal/sock"
	"golang.org/x/sys/unix"
)

// shutdownWrite is Socket.ShutdownWrite.
func (d *Dispatcher) shutdownWrite() error {
	if d.fd < 0 {
		return ErrClosed
	}
	if d.tls != nil {
		return d.tlsShutdownWrite()
	}
	return d.plainShutdownWrite()
}

// plainShutdownWrite is shutdown(SHUT_WR).
func (d *Dispatcher) plainShutdownWrite() error {
	if err := sock.Shutdown(d.fd, unix.SHUT_WR); err != nil {
		return os.NewSyscallError("shutdown", err)
	}
	return nil
}

// unread is Socket.Unread.
func (d *Dispatcher) unread() int {
	if d.fd < 0 {
		return 0
	}
	if d.tls != nil && d.tls.c != nil {
		return sock.Pending(d.fd) + d.tlsUnread()
	}
	return sock.Pending(d.fd)
}

// ShutdownHandler is implemented by a connection's handler that has
// something to say when the server shuts down gracefully: an SMTP server's
// "421 closing", an HTTP server's "Connection: close" on its next reply, a
// chat room's "server shutting down". BeginShutdown calls HandleShutdown
// once, before the connection is closed when done; what it sends or pushes
// still goes out.
type ShutdownHandler interface{ HandleShutdown() }

// BeginShutdown is the dispatcher's part of a graceful shutdown (the loop
// calls it once on every channel that has it): a listener closes, so no new
// connection is accepted; a connection calls its handler's HandleShutdown,
// if it has one (ShutdownHandler), and then its CloseWhenDone — which
// DispatcherWithSend and chat.AsyncChat have — so what is queued, the
// goodbye included, is written before the close; a handler without
// CloseWhenDone is closed at once. Calling it again does nothing more.
// Override it to shut a channel down another way.
func (d *Dispatcher) BeginShutdown() {
	if d.self == nil || d.fd < 0 || d.shuttingDown {
		return
	}
	d.shuttingDown = true
	if d.accepting {
		_ = d.self.Close()
		return
	}
	epoch := d.epoch
	if h, ok := d.self.(ShutdownHandler); ok {
		h.HandleShutdown()
		if d.epoch != epoch {
			return // the handler closed it
		}
	}
	if c, ok := d.self.(interface{ CloseWhenDone() }); ok {
		c.CloseWhenDone()
		return
	}
	_ = d.self.Close()
}
