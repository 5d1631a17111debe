// Package sock is the system-call layer under the dispatcher, the chat layer
// and the loop: every system call the library makes outside the pollers goes
// through it, so EINTR is handled in one place and a test can inject faults
// into any of them (fault.go). It keeps the differences between Unix systems
// in one place too: creating sockets and accepting connections non-blocking
// and close-on-exec, sending without SIGPIPE, and converting between
// unix.Sockaddr and net.Addr.
package sock

import (
	"fmt"
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// Socket creates a non-blocking, close-on-exec socket.
func Socket(family, sotype int) (int, error) {
	fd, err := socket(family, sotype)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	return fd, nil
}

// Accept accepts a connection on a listening socket. The new descriptor is
// non-blocking and close-on-exec. EINTR is retried; other errors, EAGAIN
// included, are returned unwrapped so the caller can classify them.
func Accept(fd int) (int, unix.Sockaddr, error) {
	for {
		nfd, sa, err := -1, unix.Sockaddr(nil), error(nil)
		if f := Inject(OpAccept, fd); f.Err != 0 {
			err = f.Err
		} else {
			nfd, sa, err = accept(fd)
		}
		if err == unix.EINTR {
			continue
		}
		return nfd, sa, err
	}
}

// Send writes p to a connected socket without raising SIGPIPE: a peer that
// went away yields EPIPE. EINTR is retried; the error is unwrapped.
func Send(fd int, p []byte) (int, error) {
	for {
		n, err := 0, error(nil)
		if f := Inject(OpWrite, fd); f.Err != 0 {
			err = f.Err
		} else {
			n, err = send(fd, f.limit(p))
		}
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}

// Recv reads from fd, a non-blocking socket (or pipe, or eventfd: anything
// that never blocks), retrying EINTR; the error is unwrapped. Unlike Read
// it may be made as a raw system call (nonblock_linux.go).
func Recv(fd int, p []byte) (int, error) {
	for {
		n, err := 0, error(nil)
		if f := Inject(OpRead, fd); f.Err != 0 {
			err = f.Err
		} else {
			n, err = recv(fd, f.limit(p))
		}
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}

// Read reads from fd, retrying EINTR; the error is unwrapped. For a
// descriptor that may block, such as a regular file; Recv is for sockets.
func Read(fd int, p []byte) (int, error) {
	for {
		n, err := 0, error(nil)
		if f := Inject(OpRead, fd); f.Err != 0 {
			err = f.Err
		} else {
			n, err = unix.Read(fd, f.limit(p))
		}
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}

// Write writes to fd (a pipe or file), retrying EINTR; the error is
// unwrapped.
func Write(fd int, p []byte) (int, error) {
	for {
		n, err := 0, error(nil)
		if f := Inject(OpWrite, fd); f.Err != 0 {
			err = f.Err
		} else {
			n, err = unix.Write(fd, f.limit(p))
		}
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}

// Connect starts connect(2) on a non-blocking socket. The error is returned
// unwrapped — EINPROGRESS when the connect goes on in the background — and
// EINTR is not retried: the connect continues in the background then too, and
// a second connect(2) would only report EALREADY (connect(2)).
func Connect(fd int, sa unix.Sockaddr) error {
	if f := Inject(OpConnect, fd); f.Err != 0 {
		return f.Err
	}
	return unix.Connect(fd, sa)
}

// Close closes fd; the error is unwrapped. It is not retried on EINTR: Linux
// releases the descriptor even when close(2) reports an error, and retrying
// could close a number another goroutine has just been given (close(2),
// "Dealing with error returns from close()"). For the same reason an
// injected fault is returned only after the descriptor has really been
// closed, so a test of the error path leaks nothing.
func Close(fd int) error {
	err := unix.Close(fd)
	if f := Inject(OpClose, fd); f.Err != 0 && err == nil {
		return f.Err
	}
	return err
}

// SoError reads and clears the socket's pending error (SO_ERROR).
func SoError(fd int) (unix.Errno, error) {
	if f := Inject(OpSoError, fd); f.Err != 0 {
		return f.Err, nil
	}
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return 0, os.NewSyscallError("getsockopt", err)
	}
	return unix.Errno(v), nil
}

// DupCloexec duplicates fd with close-on-exec set.
func DupCloexec(fd int) (int, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("fcntl", err)
	}
	return nfd, nil
}

// Family reports a socket's address family, from its local address.
func Family(fd int) (int, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0, os.NewSyscallError("getsockname", err)
	}
	switch sa.(type) {
	case *unix.SockaddrInet4:
		return unix.AF_INET, nil
	case *unix.SockaddrInet6:
		return unix.AF_INET6, nil
	case *unix.SockaddrUnix:
		return unix.AF_UNIX, nil
	}
	return unix.AF_UNSPEC, nil
}

// Resolve turns an address string into a unix.Sockaddr for family: "host:port"
// for AF_INET and AF_INET6 (IPv6 hosts in brackets), a path for AF_UNIX. A
// numeric host costs no lookup; a name is resolved with the Go resolver,
// which blocks the calling goroutine.
func Resolve(family int, address string) (unix.Sockaddr, error) {
	switch family {
	case unix.AF_UNIX:
		return &unix.SockaddrUnix{Name: address}, nil
	case unix.AF_INET, unix.AF_INET6:
	default:
		return nil, fmt.Errorf("sock: cannot resolve %q for address family %d", address, family)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		network := "tcp4"
		if family == unix.AF_INET6 {
			network = "tcp6"
		}
		tcp, rerr := net.ResolveTCPAddr(network, address)
		if rerr != nil {
			return nil, rerr
		}
		ap = tcp.AddrPort()
	}
	return FromAddrPort(family, ap)
}

// FromAddrPort converts ap to a Sockaddr of the given family; an IPv4 address
// is mapped into IPv6 for AF_INET6.
func FromAddrPort(family int, ap netip.AddrPort) (unix.Sockaddr, error) {
	addr := ap.Addr()
	switch {
	case family == unix.AF_INET && addr.Unmap().Is4():
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: addr.Unmap().As4()}, nil
	case family == unix.AF_INET6:
		sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: addr.As16()}
		if z := addr.Zone(); z != "" {
			if ifi, err := net.InterfaceByName(z); err == nil {
				sa.ZoneId = uint32(ifi.Index)
			}
		}
		return sa, nil
	}
	return nil, fmt.Errorf("sock: address %v does not fit address family %d", ap, family)
}

// FromNetAddr converts a *net.TCPAddr, *net.UDPAddr or *net.UnixAddr.
func FromNetAddr(family int, a net.Addr) (unix.Sockaddr, error) {
	switch a := a.(type) {
	case *net.TCPAddr:
		return FromAddrPort(family, a.AddrPort())
	case *net.UDPAddr:
		return FromAddrPort(family, a.AddrPort())
	case *net.UnixAddr:
		return &unix.SockaddrUnix{Name: a.Name}, nil
	case nil:
		return nil, fmt.Errorf("sock: nil address")
	}
	return Resolve(family, a.String())
}

// ToNetAddr converts a Sockaddr to the net.Addr a Go programmer expects for
// the socket type: *net.TCPAddr or *net.UDPAddr, or *net.UnixAddr.
func ToNetAddr(sa unix.Sockaddr, sotype int) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return ipAddr(netip.AddrFrom4(sa.Addr), sa.Port, sotype)
	case *unix.SockaddrInet6:
		return inet6Addr(sa.Addr, sa.Port, sa.ZoneId, sotype)
	case *unix.SockaddrUnix:
		return unixAddr(sa.Name, sotype)
	}
	return nil
}

func ipAddr(ip netip.Addr, port, sotype int) net.Addr {
	ap := netip.AddrPortFrom(ip, uint16(port))
	if sotype == unix.SOCK_DGRAM {
		return net.UDPAddrFromAddrPort(ap)
	}
	return net.TCPAddrFromAddrPort(ap)
}

// Pending reports how many bytes can be read from fd without blocking
// (FIONREAD); 0 if that cannot be told.
func Pending(fd int) int {
	n, err := unix.IoctlGetInt(fd, fionread)
	if err != nil {
		return 0
	}
	return n
}
