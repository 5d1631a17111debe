package tlsio

import (
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/asyncore-go/asyncore/internal/config"
	"github.com/asyncore-go/asyncore/internal/sock"
	"golang.org/x/sys/unix"
)

// FeedLimit is the most ciphertext the loop hands the handshake before the
// goroutine takes it: the loop stops reading the socket above it. A
// handshake message is at most 64 KiB in crypto/tls.
const FeedLimit = config.IOChunk

// maxKeptOut is the capacity above which a drained output buffer is not
// returned to the pool.
const maxKeptOut = config.IOChunk + 4096

// outBuffers holds the ciphertext buffers of connections that have output
// waiting; a connection with nothing waiting holds none.
var outBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// errWouldBlock is what the transport's Read returns when the socket has
// nothing to read: a net.Error crypto/tls does not make sticky.
var errWouldBlock error = &wouldBlockError{}

type wouldBlockError struct{}

func (*wouldBlockError) Error() string   { return "tlsio: no data yet (EAGAIN)" }
func (*wouldBlockError) Timeout() bool   { return true }
func (*wouldBlockError) Temporary() bool { return true }

// WouldBlock reports whether err means "no data yet", not a failure.
// crypto/tls returns a temporary error as it is, unwrapped, so a
// comparison finds it, without the allocation errors.As would cost on
// every read.
func WouldBlock(err error) bool { return err == errWouldBlock }

// transport is the net.Conn under the tls.Conn.
type transport struct {
	mu   sync.Mutex
	cond sync.Cond
	fd   int

	direct bool // the handshake is over: Read reads the socket
	closed bool
	eof    bool // the socket reached EOF (a bare TCP EOF, as crypto/tls may hide it)
	full   bool // the loop stopped feeding at FeedLimit; tell it when there is room
	// drained: after the handshake, a socket read of this read event
	// came back shorter than asked, so the socket is empty; Read then
	// reports would-block without asking it again (see ReadEvent).
	drained bool
	// in is ciphertext fed by the loop, not yet read by tls.Conn; after
	// the handshake, what is left of it is read before the socket.
	in    []byte
	inOff int
	// sockErr is the last error of the socket itself (a read that failed).
	sockErr error

	out    *[]byte // ciphertext waiting to be written; nil when none
	outOff int

	notify func() // on the handshake goroutine: the loop has work

	// owned: the handshake succeeded and the loop took the transport over
	// (goDirect); from then on only the loop's goroutine touches it, and
	// no method takes mu. Why that is safe: the handshake goroutine's last
	// access is under mu, where it records that Handshake returned
	// (Conn.handshake); the loop reads that record under mu (Finished) in
	// the function the goroutine posted afterwards, and only then sets
	// owned, under mu too (goDirect). Every access of the goroutine thus
	// happens before every lock-free access of the loop, and the goroutine
	// has returned: nothing else reads or writes these fields.
	owned bool

	// frames follows the record framing of what Read handed tls.Conn, so
	// that the loop can tell when tls.Conn holds no ciphertext (Idle).
	frames framing
}

func newTransport(fd int, notify func()) *transport {
	t := &transport{fd: fd, notify: notify}
	t.cond.L = &t.mu
	return t
}

// Read is tls.Conn's read: fed ciphertext first; then, during the
// handshake, it waits for more; after it, it reads the socket.
func (t *transport) Read(p []byte) (int, error) {
	if t.owned {
		return t.readOwned(p)
	}
	n, err := t.readLocked(p)
	t.frames.advance(p[:n])
	return n, err
}

// readOwned is Read after the handshake, on the loop, without the lock.
func (t *transport) readOwned(p []byte) (int, error) {
	var n int
	var err error
	switch {
	case t.inOff < len(t.in):
		n = copy(p, t.in[t.inOff:])
		t.inOff += n
		if t.inOff == len(t.in) {
			t.in, t.inOff = nil, 0
		}
	case t.closed:
		return 0, net.ErrClosed
	case t.eof:
		return 0, io.EOF
	default:
		n, err = t.readSocket(p)
	}
	t.frames.advance(p[:n])
	return n, err
}

// readLocked is Read while the handshake goroutine may run.
func (t *transport) readLocked(p []byte) (int, error) {
	t.mu.Lock()
	for {
		if t.inOff < len(t.in) {
			n := copy(p, t.in[t.inOff:])
			t.inOff += n
			wake := false
			if t.inOff == len(t.in) {
				t.in, t.inOff = t.in[:0], 0
				if t.direct {
					t.in = nil
				}
				wake, t.full = t.full && !t.direct, false
			}
			t.mu.Unlock()
			if wake {
				t.notify()
			}
			return n, nil
		}
		switch {
		case t.closed:
			t.mu.Unlock()
			return 0, net.ErrClosed
		case t.eof:
			t.mu.Unlock()
			return 0, io.EOF
		case t.direct:
			t.mu.Unlock()
			return t.readSocket(p)
		}
		t.cond.Wait()
	}
}

// readSocket reads the socket after the handshake, on the loop.
func (t *transport) readSocket(p []byte) (int, error) {
	if t.drained {
		return 0, errWouldBlock
	}
	n, err := sock.Recv(t.fd, p)
	switch {
	case err == nil && n > 0:
		t.drained = n < len(p)
		return n, nil
	case err == nil:
		t.eof = true
		return 0, io.EOF
	case err == unix.EAGAIN:
		return 0, errWouldBlock
	}
	// An *os.SyscallError is not a net.Error: crypto/tls keeps it.
	t.sockErr = os.NewSyscallError("read", err)
	return 0, t.sockErr
}

// Write appends a record to the output; it never blocks.
func (t *transport) Write(p []byte) (int, error) {
	if t.owned {
		if t.closed {
			return 0, net.ErrClosed
		}
		if t.out == nil {
			t.out = outBuffers.Get().(*[]byte)
		}
		*t.out = append(*t.out, p...)
		return len(p), nil
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return 0, net.ErrClosed
	}
	if t.out == nil {
		t.out = outBuffers.Get().(*[]byte)
	}
	*t.out = append(*t.out, p...)
	direct := t.direct
	t.mu.Unlock()
	if !direct {
		t.notify()
	}
	return len(p), nil
}

// pending is how much ciphertext waits to be written.
func (t *transport) pending() int {
	if !t.owned {
		t.mu.Lock()
		defer t.mu.Unlock()
	}
	if t.out == nil {
		return 0
	}
	return len(*t.out) - t.outOff
}

// flush writes waiting ciphertext with one send; EAGAIN is not an error.
// Any other error is the errno itself.
func (t *transport) flush() (int, error) {
	if !t.owned {
		t.mu.Lock()
		defer t.mu.Unlock()
	}
	if t.out == nil || t.closed {
		return 0, nil
	}
	n, err := sock.Send(t.fd, (*t.out)[t.outOff:])
	if err != nil {
		if err == unix.EAGAIN {
			return 0, nil
		}
		return 0, err
	}
	t.outOff += n
	if t.outOff == len(*t.out) {
		t.releaseOut()
	}
	return n, nil
}

// releaseOut gives the output buffer back; t.mu is held, or the loop owns
// the transport.
func (t *transport) releaseOut() {
	if t.out == nil {
		return
	}
	if cap(*t.out) <= maxKeptOut {
		*t.out = (*t.out)[:0]
		outBuffers.Put(t.out)
	}
	t.out, t.outOff = nil, 0
}

// feed hands ciphertext the loop read to the handshake.
func (t *transport) feed(p []byte) {
	t.mu.Lock()
	t.in = append(t.in, p...)
	t.full = len(t.in)-t.inOff >= FeedLimit
	t.mu.Unlock()
	t.cond.Signal()
}

// feedEOF tells the handshake that the peer finished sending.
func (t *transport) feedEOF() {
	t.mu.Lock()
	t.eof = true
	t.mu.Unlock()
	t.cond.Signal()
}

// room reports whether the loop may feed more.
func (t *transport) room() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.in)-t.inOff < FeedLimit
}

// buffered reports fed ciphertext not yet read.
func (t *transport) buffered() int {
	if !t.owned {
		t.mu.Lock()
		defer t.mu.Unlock()
	}
	return len(t.in) - t.inOff
}

// goDirect switches Read to the socket, after the handshake.
func (t *transport) goDirect() {
	t.mu.Lock()
	t.direct = true
	t.owned = true
	t.full = false
	if t.inOff == len(t.in) {
		t.in, t.inOff = nil, 0
	}
	t.mu.Unlock()
}

// Close wakes a handshake blocked in Read and drops the buffers; the
// descriptor is not the transport's to close.
func (t *transport) Close() error {
	t.mu.Lock()
	t.closed = true
	t.in, t.inOff = nil, 0
	t.releaseOut()
	t.mu.Unlock()
	t.cond.Broadcast()
	return nil
}

func (t *transport) LocalAddr() net.Addr {
	if sa, err := sock.LocalAddr(t.fd); err == nil {
		return sock.ToNetAddr(sa, unix.SOCK_STREAM)
	}
	return nil
}

func (t *transport) RemoteAddr() net.Addr {
	if sa, err := sock.PeerAddr(t.fd); err == nil {
		return sock.ToNetAddr(sa, unix.SOCK_STREAM)
	}
	return nil
}

// Deadlines are the loop's business (the dispatcher's handshake timeout);
// crypto/tls sets one around close_notify, which never blocks here.
func (t *transport) SetDeadline(time.Time) error      { return nil }
func (t *transport) SetReadDeadline(time.Time) error  { return nil }
func (t *transport) SetWriteDeadline(time.Time) error { return nil }
