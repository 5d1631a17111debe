package dispatcher

import (
	"net"
	"os"
	"strings"

	"github.com/asyncore-go/asyncore/internal/sock"
	"golang.org/x/sys/unix"
)

// FamilyOf returns the address family an address string calls for: AFInet6
// when its host is an IPv6 literal ("[::1]:80"), AFInet otherwise.
func FamilyOf(address string) int {
	host, _, err := net.SplitHostPort(address)
	if err == nil && strings.Contains(host, ":") {
		return AFInet6
	}
	return AFInet
}

// ListenTCP makes the dispatcher a TCP listener on address ("host:port", an
// IPv6 host in brackets): CreateSocket of the family FamilyOf picks,
// SetReuseAddr, Bind and Listen with the system's largest backlog — the
// set-up of nearly every asyncore server, in one call. With ReusePort set,
// Bind sets SO_REUSEPORT too, so that several listeners — typically one per
// loop of a loop.Group — share the address. Addr then reports the bound
// address, with the real port when port 0 was asked for. On error the
// socket is closed again.
func (d *Dispatcher) ListenTCP(address string) error {
	if err := d.CreateSocket(FamilyOf(address), SockStream); err != nil {
		return err
	}
	err := d.SetReuseAddr()
	if err == nil {
		err = d.Bind(address)
	}
	if err == nil {
		err = d.Listen(0)
	}
	if err != nil {
		_ = d.Close()
		return err
	}
	return nil
}

// setReusePort sets SO_REUSEPORT, for Bind when ReusePort is set.
func (d *Dispatcher) setReusePort() error {
	if d.fd < 0 {
		return ErrClosed
	}
	if err := sock.SetsockoptInt(d.fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}
