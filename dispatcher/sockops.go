package dispatcher

import "net"

// Socket is asyncore's dispatcher.socket: the operations of the dispatcher's
// socket that asyncore's dispatcher does not wrap, which Python code reaches
// as self.socket.sendto, .getsockname, .shutdown and so on. Get it with
// Dispatcher.Socket. Its I/O calls route errors as Send and Recv do, to
// HandleClose and HandleError. A Socket value is a handle on its dispatcher,
// not a copy: it follows the dispatcher's current descriptor, costs nothing
// to make, and belongs, like the dispatcher, to its loop's goroutine.
type Socket struct{ d *Dispatcher }

// Socket returns the dispatcher's socket operations (see Socket).
func (d *Dispatcher) Socket() Socket { return Socket{d} }

// Family reports the socket's address family (AFInet, AFInet6, AFUnix), as
// given to CreateSocket or found by Adopt.
func (s Socket) Family() int { return int(s.d.family) }

// Type reports the socket type (SockStream or SockDgram); 0 for a file
// (FileDispatcher).
func (s Socket) Type() int { return int(s.d.sotype) }

// LocalAddr returns the socket's own address (getsockname), or nil.
func (s Socket) LocalAddr() net.Addr { return s.d.localAddr() }

// RemoteAddr returns the connected peer's address (getpeername), or nil.
// Addr, asyncore's addr, is the same for a connected socket, kept from when
// the connection was made.
func (s Socket) RemoteAddr() net.Addr { return s.d.remoteAddr() }

// SendTo sends one datagram to addr (*net.UDPAddr or *net.UnixAddr) and
// returns its length. EAGAIN returns 0 and no error; other errors are
// handled as in Send.
func (s Socket) SendTo(data []byte, addr net.Addr) (int, error) { return s.d.sendTo(data, addr) }

// RecvFrom receives one datagram into buf and returns its length and
// sender. Nothing pending returns 0, nil, nil; errors are handled as in
// Recv.
func (s Socket) RecvFrom(buf []byte) (int, net.Addr, error) { return s.d.recvFrom(buf) }

// SendBuffers writes bufs, in order, with one system call (sendmsg or
// writev) and returns how many bytes went, which may end in the middle of a
// buffer. Errors are handled as in Send. AsyncChat uses it to gather queued
// replies into one write.
func (s Socket) SendBuffers(bufs [][]byte) (int, error) { return s.d.sendBuffers(bufs) }

// ShutdownWrite shuts down the sending side of the connection
// (shutdown(SHUT_WR)): the peer reads EOF after the bytes already written,
// and may go on sending. A proxy uses it to pass a half-close on; a server
// uses it to close gracefully while it still reads what the peer sends
// (see chat.AsyncChat's lingering close).
func (s Socket) ShutdownWrite() error { return s.d.shutdownWrite() }

// Unread reports how many received bytes wait in the socket's buffer, not
// yet read (FIONREAD); 0 when closed or when that cannot be told.
func (s Socket) Unread() int { return s.d.unread() }
