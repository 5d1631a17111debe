package dispatcher

import (
	"crypto/tls"
	"time"

	"github.com/asyncore-go/asyncore/internal/config"
	"github.com/asyncore-go/asyncore/internal/sock"
	"github.com/asyncore-go/asyncore/internal/tlsio"
	"github.com/asyncore-go/asyncore/poller"
	"golang.org/x/sys/unix"
)

// The dispatcher's side of TLS: what Send, Recv, the events and Close do
// on a connection whose d.tls is set. A plaintext connection pays one nil
// check for all of it.

// tlsPhase is where a TLS connection stands.
type tlsPhase uint8

const (
	tlsAwaitFlush tlsPhase = iota // STARTTLS: waiting for the reply to be written
	tlsConnect                    // client: waiting for the TCP connect
	tlsQueued                     // waiting for a handshake slot
	tlsHandshake                  // the handshake goroutine runs
	tlsOpen                       // handshake done: the loop drives tls.Conn
	tlsFailed                     // the handshake failed or timed out
)

// tlsState is a TLS connection's state, behind the dispatcher's one
// pointer field.
type tlsState struct {
	c      *tlsio.Conn
	cfg    *tls.Config
	phase  tlsPhase
	server bool
	// callConnect: HandleConnect waits for the handshake (TLSClient
	// after Connect).
	callConnect bool
	// readPosted: a synthetic read event is queued; maybeBuffered: the
	// last Recv filled its buffer, so tls.Conn may hold input the poller
	// cannot see.
	readPosted, maybeBuffered bool
	// shutAfterFlush: ShutdownWrite waits for the ciphertext to leave.
	shutAfterFlush bool
	start          int64 // when the handshake clock started (loop clock)
	readFn         func()
}

// startTLS is TLSServer and TLSClient.
func (d *Dispatcher) startTLS(cfg *tls.Config, server bool) error {
	if d.fd < 0 {
		return ErrClosed
	}
	if cfg == nil {
		return errTLSNoConfig
	}
	if d.tls != nil && d.tls.phase != tlsAwaitFlush {
		return errTLSActive
	}
	t := &tlsState{cfg: cfg, server: server, start: d.now()}
	d.tls = t
	if !server && d.connecting && !d.connected {
		t.phase, t.callConnect = tlsConnect, true
		d.resetTimeouts()
		d.m.Update(d.fd)
		return nil
	}
	return d.tlsBegin()
}

// tlsBegin asks for a handshake slot: the handshake starts now, or waits
// in the queue, or the connection is shed.
func (d *Dispatcher) tlsBegin() error {
	t := d.tls
	t.c = tlsio.New(d.fd, t.cfg, t.server, d.m.Post, func() { d.tlsNotified(t) })
	t.phase = tlsQueued
	d.resetTimeouts()
	d.m.Update(d.fd)
	if !stateOf(d.m).tlsPool(t.server).enter(d) {
		_ = d.self.Close()
		return errTLSShed
	}
	return nil
}

// tlsRun starts the handshake goroutine (the pool gave a slot).
func (d *Dispatcher) tlsRun() {
	d.tls.phase = tlsHandshake
	d.tls.c.Start()
	d.m.Update(d.fd)
}

// tlsInterest is Interest for a TLS connection that is not listening.
func (d *Dispatcher) tlsInterest() poller.Events {
	t := d.tls
	var ev poller.Events
	switch t.phase {
	case tlsConnect:
		return poller.Write
	case tlsQueued, tlsFailed:
		return 0
	case tlsHandshake:
		if !d.eof && t.c.Room() {
			ev |= poller.Read
		}
		if t.c.Pending() > 0 {
			ev |= poller.Write
		}
		return ev
	case tlsAwaitFlush:
		if d.self.Writable() {
			ev |= poller.Write
		}
		return ev
	}
	readable := d.dropInput || d.self.Readable()
	if !d.eof && readable {
		ev |= poller.Read
		if t.maybeBuffered {
			d.tlsPostRead()
		}
	}
	if t.c.Pending() > 0 || d.self.Writable() {
		ev |= poller.Write
	}
	return ev
}

// tlsRead is handleRead before the handshake is done: feed the handshake
// what the socket has, or nothing while STARTTLS waits for its reply to go.
func (d *Dispatcher) tlsRead() {
	t := d.tls
	if t.phase != tlsHandshake || d.eof {
		return
	}
	l := d.m.Loop()
	buf := l.BorrowReadBuffer()
	n, err := sock.Recv(d.fd, buf[:min(len(buf), tlsio.FeedLimit)])
	if n > 0 {
		t.c.Feed(buf[:n])
	}
	l.ReturnReadBuffer(buf)
	switch {
	case err == nil && n > 0:
		d.tmo.lastIO = d.now()
		d.tmo.lastIn = d.tmo.lastIO
		if !t.c.Room() {
			d.m.Update(d.fd)
		}
	case err == nil:
		d.eof = true // the handshake fails with EOF, and reports it
		t.c.FeedEOF()
		d.m.Update(d.fd)
	case wouldBlock(err):
	case disconnected(err):
		// The handshake reads what came before the reset — an alert,
		// often — and reports the failure.
		d.eof = true
		t.c.FeedEOF()
		d.m.Update(d.fd)
	default:
		_ = d.ioError("read", err)
	}
}

// tlsHangup is handleHangup during a handshake: the handshake gets what
// the socket still holds, then EOF, and reports how it ended; the
// dispatcher is not closed under it.
func (d *Dispatcher) tlsHangup() {
	for !d.eof && d.fd >= 0 && d.tls != nil && d.tls.c.Room() {
		epoch := d.epoch
		d.tlsRead()
		if d.epoch != epoch {
			return
		}
		if sock.Pending(d.fd) == 0 && !d.eof {
			d.eof = true
			d.tls.c.FeedEOF()
			d.m.Update(d.fd)
		}
	}
}

// tlsOpenHangup is handleHangup's part after the handshake: input
// tls.Conn holds, and the end of the stream, are read the TLS way — a
// missing close_notify is ErrTLSTruncated — rather than taken as an EOF.
// It reports whether the read made progress (or ended the connection);
// if not, the hang-up is handled as for plaintext.
func (d *Dispatcher) tlsOpenHangup() bool {
	if d.tls.phase != tlsOpen || d.eof {
		return false
	}
	pending := sock.Pending(d.fd)
	epoch := d.epoch
	d.tls.maybeBuffered = false
	d.handleRead()
	return d.epoch != epoch || d.eof || sock.Pending(d.fd) < pending
}

// tlsNotified runs on the loop when the handshake goroutine has news.
func (d *Dispatcher) tlsNotified(t *tlsState) {
	if d.tls != t || d.fd < 0 || t.phase != tlsHandshake {
		return
	}
	if d.tlsFlush() != nil {
		return
	}
	done, err := t.c.Finished()
	if !done {
		d.m.Update(d.fd)
		return
	}
	st := stateOf(d.m)
	st.tlsPool(t.server).leave(d, t.phase)
	if err != nil {
		st.stats.TLSHandshakeErrors++
		t.phase = tlsFailed
		d.m.Update(d.fd)
		d.self.HandleError(&TLSError{Op: "handshake", Err: err})
		return
	}
	st.stats.TLSHandshakes++
	t.phase = tlsOpen
	t.c.GoDirect()
	d.resetTimeouts()
	d.m.Update(d.fd)
	epoch := d.epoch
	if t.callConnect {
		t.callConnect = false
		d.self.HandleConnect()
		if d.epoch != epoch {
			return
		}
		d.connected = true
		d.tmo.lastIO = d.now()
		d.tmo.lastIn = d.tmo.lastIO
	}
	// Application data may have come with the handshake's last flight;
	// the socket will not report it again.
	t.maybeBuffered = true
	d.tlsPostRead()
}

// tlsPostRead queues a read event for input tls.Conn may hold (once).
func (d *Dispatcher) tlsPostRead() {
	t := d.tls
	if t.readPosted {
		return
	}
	if t.readFn == nil {
		t.readFn = func() { d.tlsSyntheticRead(t) }
	}
	if d.m.Post(t.readFn) == nil {
		t.readPosted = true
	}
}

// tlsSyntheticRead is the posted read event.
func (d *Dispatcher) tlsSyntheticRead(t *tlsState) {
	t.readPosted = false
	if d.tls != t || d.fd < 0 || t.phase != tlsOpen || d.eof || !t.maybeBuffered {
		return
	}
	if !d.dropInput && !d.self.Readable() {
		return // Interest posts again when it becomes readable
	}
	t.maybeBuffered = false
	d.handleRead()
}

// tlsRecv is Recv on a TLS connection: decrypt until buf is full or the
// socket has nothing more.
func (d *Dispatcher) tlsRecv(buf []byte) (int, error) {
	t := d.tls
	if t.phase != tlsOpen {
		return 0, nil
	}
	t.c.ReadEvent()
	n := 0
	var err error
	for n < len(buf) {
		var k int
		k, err = t.c.Read(buf[n:])
		n += k
		if err != nil {
			break
		}
	}
	if t.c.Pending() > 0 {
		// A post-handshake message (KeyUpdate) made tls.Conn answer.
		epoch := d.epoch
		if ferr := d.tlsFlush(); ferr != nil || d.epoch != epoch {
			return 0, ErrClosed
		}
	}
	if n > 0 {
		d.tmo.lastIO = d.now()
		d.tmo.lastIn = d.tmo.lastIO
		d.read(n)
		if n == len(buf) || err != nil && !tlsio.WouldBlock(err) {
			// More may wait inside tls.Conn, or an error that is
			// sticky there and surfaces at the next read.
			t.maybeBuffered = true
			d.tlsPostRead()
		}
		return n, nil
	}
	if err == nil || tlsio.WouldBlock(err) {
		return 0, nil
	}
	return 0, d.tlsReadError(err)
}

// tlsReadError routes a read that ended the input: the peer's close_notify
// is EOF (HandleClose), a bare EOF is ErrTLSTruncated (HandleError).
func (d *Dispatcher) tlsReadError(err error) error {
	closed, truncated, sockErr := d.tls.c.EndOfStream(err)
	switch {
	case sockErr != nil:
		_ = d.tlsFlush()
		if se, ok := sockErr.(interface{ Unwrap() error }); ok && disconnected(se.Unwrap()) {
			d.self.HandleClose()
			return sockErr
		}
		return d.fail(sockErr)
	case closed:
		d.eof = true
		d.m.Update(d.fd)
		d.self.HandleClose()
		return err
	case truncated:
		d.eof = true
		d.m.Update(d.fd)
		return d.fail(ErrTLSTruncated)
	}
	_ = d.tlsFlush() // the alert tls.Conn sent
	return d.fail(&TLSError{Op: "read", Err: err})
}

// tlsSendLimit is the most plaintext one Send encrypts: the ciphertext a
// connection holds is bounded by one send's worth.
const tlsSendLimit = config.IOChunk

// tlsSend is Send on a TLS connection: nothing while ciphertext from an
// earlier send still waits (as if the socket were full), else encrypt,
// flush with one system call and report the plaintext taken.
func (d *Dispatcher) tlsSend(data []byte) (int, error) {
	t := d.tls
	if t.phase == tlsAwaitFlush {
		return d.plainSend(data)
	}
	if t.phase != tlsOpen || t.c.Pending() > 0 {
		d.wrote(0, len(data))
		return 0, nil
	}
	n, err := t.c.Write(data[:min(len(data), tlsSendLimit)])
	if err != nil {
		return 0, d.fail(&TLSError{Op: "write", Err: err})
	}
	return d.tlsSent(n, len(data))
}

// tlsSendBuffers is SendBuffers on a TLS connection: the buffers are
// gathered into one plaintext chunk (at most tlsSendLimit bytes), which
// becomes records written with one system call.
func (d *Dispatcher) tlsSendBuffers(bufs [][]byte) (int, error) {
	t := d.tls
	if t.phase == tlsAwaitFlush {
		return d.plainSendBuffers(bufs)
	}
	total := buffersLen(bufs)
	if t.phase != tlsOpen || t.c.Pending() > 0 {
		d.wrote(0, total)
		return 0, nil
	}
	if len(bufs) == 1 {
		return d.tlsSend(bufs[0])
	}
	sp := tlsScratch.Get().(*[]byte)
	p := (*sp)[:0]
	for _, b := range bufs {
		p = append(p, b[:min(len(b), tlsSendLimit-len(p))]...)
		if len(p) == tlsSendLimit {
			break
		}
	}
	n, err := t.c.Write(p)
	*sp = p[:0]
	tlsScratch.Put(sp)
	if err != nil {
		return 0, d.fail(&TLSError{Op: "write", Err: err})
	}
	return d.tlsSent(n, total)
}

// tlsSent flushes what a send encrypted and records n plaintext bytes
// taken of want; ciphertext left waiting counts as a blocked write for
// WriteStallTimeout.
func (d *Dispatcher) tlsSent(n, want int) (int, error) {
	if err := d.tlsFlush(); err != nil {
		return 0, err
	}
	if d.tls.c.Pending() > 0 && n == want {
		want++ // the socket did not take it all
	}
	d.wrote(n, want)
	return n, nil
}

// tlsFlush writes waiting ciphertext; a failure goes where a failed send
// goes, and closes nothing else.
func (d *Dispatcher) tlsFlush() error {
	t := d.tls
	n, err := t.c.Flush()
	if err != nil {
		return d.ioError("write", err)
	}
	if n > 0 {
		d.tmo.lastIO = d.now()
	}
	if t.shutAfterFlush && t.c.Pending() == 0 {
		t.shutAfterFlush = false
		if err := sock.Shutdown(d.fd, unix.SHUT_WR); err != nil && !disconnected(err) {
			return d.ioError("shutdown", err)
		}
	}
	return nil
}

// tlsWriteEvent is handleWriteEvent's part: flush the ciphertext first. It
// reports whether the handler's HandleWrite may run.
func (d *Dispatcher) tlsWriteEvent() bool {
	t := d.tls
	switch t.phase {
	case tlsAwaitFlush:
		return true
	case tlsHandshake:
		_ = d.tlsFlush()
		d.m.Update(d.fd)
		return false
	case tlsOpen:
	default:
		return false
	}
	if t.c.Pending() == 0 {
		return true
	}
	epoch := d.epoch
	if d.tlsFlush() != nil || d.epoch != epoch || t.c.Pending() > 0 {
		return false
	}
	d.m.Update(d.fd)
	return d.self.Writable()
}

// tlsShutdownWrite is ShutdownWrite on a TLS connection: close_notify,
// then shutdown(SHUT_WR) once the ciphertext before it is written.
func (d *Dispatcher) tlsShutdownWrite() error {
	t := d.tls
	if t.phase != tlsOpen {
		return d.plainShutdownWrite()
	}
	_ = t.c.CloseNotify()
	t.shutAfterFlush = true
	if err := d.tlsFlush(); err != nil {
		return err
	}
	d.m.Update(d.fd)
	return nil
}

// tlsClose is Close's part, before the descriptor closes: close_notify,
// best effort with one non-blocking write, and the handshake goroutine,
// if any, woken to end.
func (d *Dispatcher) tlsClose() {
	t := d.tls
	d.tls = nil
	switch t.phase {
	case tlsQueued, tlsHandshake:
		stateOf(d.m).tlsPool(t.server).leave(d, t.phase)
	case tlsOpen:
		if !t.shutAfterFlush {
			_ = t.c.CloseNotify()
		}
		_, _ = t.c.Flush()
	}
	if t.c != nil {
		t.c.Close()
	}
}

// tlsDeadline is the handshake's deadline, if one runs.
func (d *Dispatcher) tlsDeadline() (int64, bool) {
	t := d.tls
	if t.phase == tlsOpen || t.phase == tlsFailed || t.phase == tlsAwaitFlush {
		return 0, false
	}
	return t.start + int64(stateOf(d.m).tlsPool(t.server).timeout()), true
}

// tlsTimedOut fails a handshake past its deadline; it reports whether it
// did.
func (d *Dispatcher) tlsTimedOut(now int64) bool {
	at, ok := d.tlsDeadline()
	if !ok || now < at {
		return false
	}
	t := d.tls
	st := stateOf(d.m)
	st.tlsPool(t.server).leave(d, t.phase)
	st.stats.TLSHandshakeTimeouts++
	t.phase = tlsFailed
	if t.c != nil {
		t.c.Close()
	}
	d.m.Update(d.fd)
	d.countTimeout()
	d.self.HandleError(&TLSError{Op: "handshake", Err: ErrTLSHandshakeTimeout})
	return true
}

// tlsTimeout is the map's handshake timeout.
func (p *tlsPool) timeout() time.Duration {
	return config.Or(p.limits.HandshakeTimeout, DefaultHandshakeTimeout)
}

// tlsUnread adds to Socket.Unread one byte while ciphertext waits to be
// written, so that a closing channel lingers until it is (lifecycle).
func (d *Dispatcher) tlsUnread() int {
	n := d.tls.c.Buffered()
	if d.tls.c.Pending() > 0 {
		n++
	}
	return n
}

// startAfterFlush starts a STARTTLS handshake once the reply is written.
func (d *Dispatcher) startAfterFlush() error {
	if d.tls == nil || d.tls.phase != tlsAwaitFlush {
		return nil
	}
	d.tls.start = d.now()
	return d.tlsBegin()
}
