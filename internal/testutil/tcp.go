package testutil

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// TCPConns returns both ends of a loopback IPv4 TCP connection. The client
// end is closed when the test ends; the server end is the caller's (a chat's
// AdoptConn takes it).
func TCPConns(t testing.TB) (server, client *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	cli, err := net.Dial("tcp4", ln.Addr().String()) // the backlog takes it
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	srv, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	return srv.(*net.TCPConn), cli.(*net.TCPConn)
}

// TCPPair is TCPConns with the server end as a raw descriptor, for code
// that adopts or polls one: a close-on-exec duplicate of the accepted
// socket, non-blocking like it. The caller closes fd; the client end is
// closed when the test ends.
func TCPPair(t testing.TB) (fd int, client *net.TCPConn) {
	t.Helper()
	server, client := TCPConns(t)
	defer server.Close()
	raw, err := server.SyscallConn()
	if err != nil {
		t.Fatalf("server end: %v", err)
	}
	fd = -1
	if cerr := raw.Control(func(s uintptr) { fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); cerr != nil {
		t.Fatalf("server end: %v", cerr)
	}
	if err != nil {
		t.Fatalf("dup the server end: %v", err)
	}
	return fd, client
}
