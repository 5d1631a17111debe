package sock

import (
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// AcceptAddr is Accept for a listener of type sotype that returns the
// peer's address as the net.Addr a Go programmer expects (ToNetAddr). Where
// the system allows (acceptAddr), the kernel writes the address into a
// buffer on the stack, so that an accept allocates only that net.Addr: the
// garbage an accept leaves raises the heap target, and with it what a
// server of many idle connections keeps resident. EINTR is retried; the
// error is unwrapped.
func AcceptAddr(fd, sotype int) (int, net.Addr, error) {
	for {
		nfd, addr, err := -1, net.Addr(nil), error(nil)
		if f := Inject(OpAccept, fd); f.Err != 0 {
			err = f.Err
		} else {
			nfd, addr, err = acceptAddr(fd, sotype)
		}
		if err == unix.EINTR {
			continue
		}
		return nfd, addr, err
	}
}

// inet6Addr is ToNetAddr for an IPv6 address with its scope.
func inet6Addr(addr [16]byte, port int, zoneID uint32, sotype int) net.Addr {
	ip := netip.AddrFrom16(addr)
	if zoneID != 0 {
		if ifi, err := net.InterfaceByIndex(int(zoneID)); err == nil {
			ip = ip.WithZone(ifi.Name)
		}
	}
	return ipAddr(ip, port, sotype)
}

// unixAddr is ToNetAddr for a Unix-domain address.
func unixAddr(name string, sotype int) net.Addr {
	if name == "@" {
		// x/sys spells an unnamed socket (a socketpair end, an unbound
		// client) as an abstract name of length zero; asyncore shows ''.
		name = ""
	}
	network := "unix"
	if sotype == unix.SOCK_DGRAM {
		network = "unixgram"
	}
	return &net.UnixAddr{Name: name, Net: network}
}
