package dispatcher

import (
	"os"

	"github.com/asyncore-go/asyncore/internal/sock"
	"golang.org/x/sys/unix"
)

// ShutdownWrite shuts down the sending side of the connection
// (shutdown(SHUT_WR)): the peer reads EOF after the bytes already written,
// and may go on sending. A proxy uses it to pass a half-close on; a server
// uses it to close gracefully while it still reads what the peer sends
// (see chat.AsyncChat's lingering close).
func (d *Dispatcher) ShutdownWrite() error {
	if d.fd < 0 {
		return ErrClosed
	}
	if err := unix.Shutdown(d.fd, unix.SHUT_WR); err != nil {
		return os.NewSyscallError("shutdown", err)
	}
	return nil
}

// Unread reports how many received bytes wait in the socket's buffer, not
// yet read (FIONREAD); 0 when closed or when that cannot be told.
func (d *Dispatcher) Unread() int {
	if d.fd < 0 {
		return 0
	}
	return sock.Pending(d.fd)
}
