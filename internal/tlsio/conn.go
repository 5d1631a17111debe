package tlsio

import (
	"crypto/tls"
	"errors"
	"io"
	"sync/atomic"
)

// Conn is one connection's TLS engine (see the package documentation).
type Conn struct {
	tls *tls.Conn
	tr  *transport

	// post queues a function on the loop; onNotify is what it runs
	// there when the handshake goroutine has news (output, room for more
	// input, completion). notifying coalesces the posts.
	post      func(func()) error
	onNotify  func()
	notifyFn  func()
	notifying atomic.Bool

	// finished and hsErr are set by the handshake goroutine, under tr.mu,
	// before its last notification.
	finished bool
	hsErr    error
	started  bool
}

// New makes the engine for the connected socket fd: a server if server is
// set, else a client. post queues a function on the loop (loop.Map.Post);
// onNotify runs there whenever the handshake has news for the loop: call
// Flush, then Finished.
func New(fd int, cfg *tls.Config, server bool, post func(func()) error, onNotify func()) *Conn {
	c := &Conn{post: post, onNotify: onNotify}
	c.notifyFn = c.notified
	c.tr = newTransport(fd, c.wake)
	if server {
		c.tls = tls.Server(c.tr, cfg)
	} else {
		c.tls = tls.Client(c.tr, cfg)
	}
	return c
}

// wake posts onNotify on the loop unless a post is already queued.
func (c *Conn) wake() {
	if c.notifying.CompareAndSwap(false, true) {
		if c.post(c.notifyFn) != nil {
			c.notifying.Store(false) // the loop is gone; nobody listens
		}
	}
}

func (c *Conn) notified() {
	c.notifying.Store(false)
	c.onNotify()
}

// Start runs the handshake on a goroutine of its own. The goroutine ends
// when the handshake does, or when Close wakes it.
func (c *Conn) Start() {
	if c.started {
		return
	}
	c.started = true
	go c.handshake()
}

func (c *Conn) handshake() {
	err := c.tls.Handshake()
	c.tr.mu.Lock()
	c.finished, c.hsErr = true, err
	c.tr.mu.Unlock()
	c.wake()
}

// Finished reports whether the handshake goroutine is done, and how it
// ended. After a successful handshake, call GoDirect.
func (c *Conn) Finished() (bool, error) {
	c.tr.mu.Lock()
	defer c.tr.mu.Unlock()
	return c.finished, c.hsErr
}

// GoDirect hands the connection to the loop after a successful handshake:
// from now on Read reads the socket.
func (c *Conn) GoDirect() { c.tr.goDirect() }

// Feed hands ciphertext read from the socket to the handshake.
func (c *Conn) Feed(p []byte) { c.tr.feed(p) }

// FeedEOF tells the handshake the peer finished sending.
func (c *Conn) FeedEOF() { c.tr.feedEOF() }

// Room reports whether the handshake may be fed more (FeedLimit).
func (c *Conn) Room() bool { return c.tr.room() }

// Buffered reports ciphertext fed or left over that tls.Conn has not read.
func (c *Conn) Buffered() int { return c.tr.buffered() }

// Pending reports the ciphertext waiting to be written.
func (c *Conn) Pending() int { return c.tr.pending() }

// Flush writes waiting ciphertext with one system call. EAGAIN is no
// error; any other error is the errno of send(2).
func (c *Conn) Flush() (int, error) { return c.tr.flush() }

// Read decrypts at most one record into p (tls.Conn.Read). WouldBlock(err)
// means the socket has nothing more for now; it may come with n > 0, when
// the read shows that neither the socket nor tls.Conn holds more.
//
// That saves, on each read event that brings whole records, the second
// tls.Conn.Read that would only have found the socket empty — a call
// through crypto/tls's record layer and an allocation (its atLeastReader)
// for nothing. It is known when, within this one call, the socket was read
// and came back short (so the socket is empty), the bytes handed tls.Conn
// end at a record's end, exactly one record was completed since tls.Conn
// last held none, and the plaintext fitted in p with room to spare (so
// tls.Conn kept none of it). crypto/tls reads its transport only when it
// lacks a whole record, so at that read it held at most a part of one;
// the call then consumed at least the one record it returned data from,
// which is the only one completed: nothing is left.
func (c *Conn) Read(p []byte) (int, error) {
	tr := c.tr
	wasDrained := tr.drained
	n, err := c.tls.Read(p)
	switch {
	case err == errWouldBlock:
		// tls.Conn asked the transport for more: it holds at most a
		// part of a record, which is not counted.
		tr.frames.complete = 0
	case err == nil && n > 0 && n < len(p) && tr.owned && !wasDrained && tr.drained &&
		tr.inOff == len(tr.in) && tr.frames.atBoundary() && tr.frames.complete == 1:
		tr.frames.complete = 0
		err = errWouldBlock
	}
	return n, err
}

// ReadEvent tells the transport that a read event begins: the socket may
// hold input again. Within one event, a socket read that came back short
// means the socket is empty, and the reads tls.Conn asks for after it
// report would-block without a system call — saving, on every event, the
// read that would only have returned EAGAIN. A level-triggered poller
// reports what arrives later as a new event.
func (c *Conn) ReadEvent() { c.tr.drained = false }

// Write encrypts p into records waiting in the output (Pending).
func (c *Conn) Write(p []byte) (int, error) { return c.tls.Write(p) }

// CloseNotify queues a close_notify alert; call Flush afterwards.
func (c *Conn) CloseNotify() error { return c.tls.CloseWrite() }

// Close ends the engine: a handshake blocked reading returns at once, and
// the buffers are released. The socket stays open.
func (c *Conn) Close() { _ = c.tr.Close() }

// State is tls.Conn.ConnectionState.
func (c *Conn) State() tls.ConnectionState { return c.tls.ConnectionState() }

// EndOfStream classifies an error from Read that ends the input: closed is
// true for the peer's close_notify; truncated is true when the socket
// reached EOF without it (crypto/tls reports both as io.EOF when the cut
// falls between records). A failed read of the socket itself is sockErr.
func (c *Conn) EndOfStream(err error) (closed, truncated bool, sockErr error) {
	if c.tr.sockErr != nil && errors.Is(err, c.tr.sockErr) {
		return false, false, c.tr.sockErr
	}
	if err != io.EOF && err != io.ErrUnexpectedEOF {
		return false, false, nil
	}
	if c.tr.eof {
		return false, true, nil
	}
	return err == io.EOF, false, nil
}
