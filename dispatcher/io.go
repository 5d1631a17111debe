package dispatcher

import (
	"fmt"
	"io"
	"net"
	"os"

	"github.com/asyncore-go/asyncore/internal/sock"
	"golang.org/x/sys/unix"
)

// Send writes data to the socket and returns how many bytes went: asyncore's
// send. A full socket buffer (EAGAIN) returns 0 and no error. A peer that
// went away calls HandleClose; another error calls HandleError; both return
// the error. Send never raises SIGPIPE.
func (d *Dispatcher) Send(data []byte) (int, error) {
	if d.fd < 0 {
		return 0, ErrClosed
	}
	if d.Debug {
		d.LogInfo("sending "+quote(data), "info")
	}
	if len(data) == 0 {
		return 0, nil
	}
	if d.tls != nil {
		return d.tlsSend(data)
	}
	return d.plainSend(data)
}

// plainSend is Send's write of data as it is.
func (d *Dispatcher) plainSend(data []byte) (int, error) {
	var n int
	var err error
	if d.isFile {
		n, err = sock.Write(d.fd, data)
	} else {
		n, err = sock.Send(d.fd, data)
	}
	if err == nil {
		d.wrote(n, len(data))
		return n, nil
	}
	if wouldBlock(err) {
		d.wrote(0, len(data))
		return 0, nil
	}
	return 0, d.ioError("write", err)
}

// sendBuffers is Socket.SendBuffers.
func (d *Dispatcher) sendBuffers(bufs [][]byte) (int, error) {
	if d.fd < 0 {
		return 0, ErrClosed
	}
	if d.tls != nil {
		return d.tlsSendBuffers(bufs)
	}
	return d.plainSendBuffers(bufs)
}

// plainSendBuffers is sendBuffers' write of bufs as they are.
func (d *Dispatcher) plainSendBuffers(bufs [][]byte) (int, error) {
	n, err := sock.Sendv(d.fd, bufs, &d.iov, d.isFile)
	if err == nil {
		d.wrote(n, buffersLen(bufs))
		return n, nil
	}
	if wouldBlock(err) {
		d.wrote(0, buffersLen(bufs))
		return 0, nil
	}
	return 0, d.ioError("sendmsg", err)
}

// Recv reads into buf and returns how many bytes arrived: asyncore's recv.
// No data yet (EAGAIN, a spurious wake-up) returns 0 and no error. EOF calls
// HandleClose and returns io.EOF; a broken connection calls HandleClose and
// another error HandleError, both returning the error. On a datagram socket
// a zero-length datagram is just that, not EOF.
func (d *Dispatcher) Recv(buf []byte) (int, error) {
	if d.fd < 0 {
		return 0, ErrClosed
	}
	if len(buf) == 0 {
		return 0, nil
	}
	if d.tls != nil {
		return d.tlsRecv(buf)
	}
	var n int
	var err error
	if d.isFile {
		n, err = sock.Read(d.fd, buf) // may block on a disk
	} else {
		n, err = sock.Recv(d.fd, buf)
	}
	switch {
	case err == nil && n > 0:
		d.tmo.lastIO = d.now()
		d.tmo.lastIn = d.tmo.lastIO
		d.read(n)
		return n, nil
	case err == nil && d.sotype == unix.SOCK_DGRAM:
		return 0, nil
	case err == nil:
		d.eof = true
		d.m.Update(d.fd)
		d.self.HandleClose()
		return 0, io.EOF
	case wouldBlock(err):
		return 0, nil
	}
	return 0, d.ioError("read", err)
}

// sendTo is Socket.SendTo.
func (d *Dispatcher) sendTo(data []byte, addr net.Addr) (int, error) {
	if d.fd < 0 {
		return 0, ErrClosed
	}
	sa, err := sock.FromNetAddr(int(d.family), addr)
	if err != nil {
		return 0, err
	}
	err = sock.SendTo(d.fd, data, sa)
	switch {
	case err == nil:
		d.tmo.lastIO = d.now()
		d.bytesOut += uint64(len(data))
		d.m.Stats().BytesOut += uint64(len(data))
		return len(data), nil
	case wouldBlock(err):
		return 0, nil
	}
	return 0, d.ioError("sendto", err)
}

// recvFrom is Socket.RecvFrom.
func (d *Dispatcher) recvFrom(buf []byte) (int, net.Addr, error) {
	if d.fd < 0 {
		return 0, nil, ErrClosed
	}
	n, sa, err := sock.RecvFrom(d.fd, buf)
	switch {
	case err == nil:
		d.tmo.lastIO = d.now()
		d.tmo.lastIn = d.tmo.lastIO
		d.read(n)
		return n, sock.ToNetAddr(sa, int(d.sotype)), nil
	case wouldBlock(err):
		return 0, nil, nil
	}
	return 0, nil, d.ioError("recvfrom", err)
}

// ioError routes an I/O error as asyncore does: the disconnect errnos to
// HandleClose, anything else to HandleError.
func (d *Dispatcher) ioError(op string, errno error) error {
	err := os.NewSyscallError(op, errno)
	if disconnected(errno) {
		d.self.HandleClose()
		return err
	}
	return d.fail(err)
}

// fail passes err to HandleError and returns it.
func (d *Dispatcher) fail(err error) error {
	d.self.HandleError(err)
	return err
}

func quote(data []byte) string { return fmt.Sprintf("%q", data) }

func buffersLen(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}
