//go:build !(linux && (amd64 || arm64 || riscv64 || loong64 || ppc64 || ppc64le))

package sock

import "net"

// acceptAddr is accept followed by ToNetAddr where no raw accept4 is
// available (accept_raw_linux.go).
func acceptAddr(fd, sotype int) (int, net.Addr, error) {
	nfd, sa, err := accept(fd)
	if err != nil {
		return -1, nil, err
	}
	return nfd, ToNetAddr(sa, sotype), nil
}
