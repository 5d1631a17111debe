//go:build linux && (amd64 || arm64 || riscv64 || loong64 || ppc64 || ppc64le)

package sock

import (
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// acceptAddr calls accept4(2) with the peer's address going to a buffer on
// the stack (unix.Accept4 allocates one per call, and a Sockaddr besides),
// and converts it straight to a net.Addr. On these architectures accept4 is
// a system call of its own, not one of socketcall(2)'s.
func acceptAddr(fd, sotype int) (int, net.Addr, error) {
	var rsa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	nfd, _, errno := nbSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)),
		uintptr(unsafe.Pointer(&n)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if errno != 0 {
		return -1, nil, errno
	}
	return int(nfd), rawToNetAddr(&rsa, int(n), sotype), nil
}

// rawToNetAddr converts the n bytes of address in rsa, as ToNetAddr does a
// Sockaddr.
func rawToNetAddr(rsa *unix.RawSockaddrAny, n, sotype int) net.Addr {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return ipAddr(netip.AddrFrom4(p.Addr), netPort(&p.Port), sotype)
	case unix.AF_INET6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return inet6Addr(p.Addr, netPort(&p.Port), p.Scope_id, sotype)
	case unix.AF_UNIX:
		p := (*unix.RawSockaddrUnix)(unsafe.Pointer(rsa))
		path := unsafe.Slice((*byte)(unsafe.Pointer(&p.Path[0])), len(p.Path))
		path = path[:min(max(n-2, 0), len(path))] // 2: sun_family
		name := ""
		if len(path) > 0 {
			abstract := path[0] == 0
			if abstract {
				path = path[1:]
			}
			end := 0
			for end < len(path) && path[end] != 0 {
				end++
			}
			name = string(path[:end])
			if abstract {
				name = "@" + name
			}
		}
		return unixAddr(name, sotype)
	}
	return nil
}

// netPort reads a port in network byte order.
func netPort(p *uint16) int {
	b := (*[2]byte)(unsafe.Pointer(p))
	return int(b[0])<<8 | int(b[1])
}
