package dispatcher

import (
	"errors"
	"fmt"
	"os"

	"github.com/asyncore-go/asyncore/internal/sock"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"golang.org/x/sys/unix"
)

// Interest reports what the loop should watch the socket for, from the
// Readable and Writable predicates and the dispatcher's state (loop.Channel).
// A listener is never watched for writing (asyncore keeps accepting sockets
// out of the write set) and not at all while accepting is paused; a socket
// that has read EOF is not watched for reading; a socket that is connecting
// is always watched for writing, so the connect is seen to finish.
func (d *Dispatcher) Interest() poller.Events {
	if d.self == nil || d.fd < 0 {
		return 0
	}
	var ev poller.Events
	if d.accepting {
		if !d.acceptPaused() && d.self.Readable() {
			ev |= poller.Read
		}
		return ev
	}
	if d.tls != nil {
		return d.tlsInterest()
	}
	if !d.eof && (d.dropInput || d.self.Readable()) {
		ev |= poller.Read
	}
	if d.connecting || d.self.Writable() {
		ev |= poller.Write
	}
	return ev
}

// HandleEvents routes one readiness report to the handlers, in asyncore's
// readwrite() order: read, write, priority, then errors and hang-ups
// (loop.Channel). It stops as soon as a handler closes or replaces the
// socket, so nothing reaches a dispatcher after it was closed.
func (d *Dispatcher) HandleEvents(ev poller.Events) {
	if d.tmo.deferred {
		// Timeouts set before a loop served the map start now.
		d.tmo.deferred = false
		d.restartClocks(d.now())
		d.resetTimeouts()
	}
	epoch := d.epoch
	if ev&poller.Read != 0 {
		d.handleReadEvent()
		if d.epoch != epoch {
			return
		}
	}
	if ev&poller.Write != 0 {
		d.handleWriteEvent()
		if d.epoch != epoch {
			return
		}
	}
	if ev&poller.Priority != 0 {
		d.handleExptEvent()
		if d.epoch != epoch {
			return
		}
	}
	switch {
	case ev&(poller.Err|poller.Invalid) != 0:
		d.handleErrorEvent(ev)
	case ev&poller.Hangup != 0:
		d.handleHangup(ev)
	}
}

// handleReadEvent is asyncore's handle_read_event.
func (d *Dispatcher) handleReadEvent() {
	switch {
	case d.accepting:
		d.self.HandleAccept()
		return
	case !d.connected && d.connecting:
		if !d.finishConnect() {
			return
		}
	}
	d.handleRead()
}

// handleRead calls HandleRead — or, for a handler with HandleData, reads
// into the loop's buffer for it — or drops the input after a CloseWhenDone.
func (d *Dispatcher) handleRead() {
	if d.tls != nil && d.tls.phase != tlsOpen {
		d.tlsRead() // the handshake's input, or none before STARTTLS
		return
	}
	if d.dropInput {
		d.ws.dropRead()
		return
	}
	if h, ok := d.self.(DataHandler); ok {
		d.readData(h)
		return
	}
	d.self.HandleRead()
}

// handleWriteEvent is asyncore's handle_write_event. As in asyncore,
// HandleWrite follows a completed connect at once.
func (d *Dispatcher) handleWriteEvent() {
	if d.accepting {
		return
	}
	if !d.connected && d.connecting && !d.finishConnect() {
		return
	}
	if d.tls != nil && !d.tlsWriteEvent() {
		return
	}
	d.self.HandleWrite()
}

// finishConnect completes a connect that a read or write event reports
// finished (handleConnectEvent), passing a failure to HandleError. It
// reports whether the event may go on to HandleRead or HandleWrite: not
// after a failure, nor when HandleConnect closed or replaced the socket.
func (d *Dispatcher) finishConnect() bool {
	epoch := d.epoch
	if err := d.handleConnectEvent(); err != nil {
		d.self.HandleError(err)
		return false
	}
	return d.epoch == epoch
}

// handleConnectEvent is asyncore's handle_connect_event: check SO_ERROR,
// then call HandleConnect — while Connected is still false and Connecting
// still true, as in asyncore — and only then mark the socket connected.
func (d *Dispatcher) handleConnectEvent() error {
	if errno := d.soError(); errno != 0 {
		d.connecting = false
		return os.NewSyscallError("connect", errno)
	}
	if d.tls != nil && d.tls.phase == tlsConnect {
		// HandleConnect waits for the handshake (tlsNotified).
		d.connecting = false
		if err := d.tlsBegin(); err != nil {
			return nil // shed: closed
		}
		return nil
	}
	epoch := d.epoch
	d.self.HandleConnect()
	if d.epoch == epoch {
		d.connected, d.connecting = true, false
		d.m.Update(d.fd)
		d.tmo.lastIO = d.now() // the idle clocks start with the connection
		d.tmo.lastIn = d.tmo.lastIO
	}
	return nil
}

// handleExptEvent is asyncore's handle_expt_event: a pending socket error
// means the connection is gone; otherwise it is out-of-band data.
func (d *Dispatcher) handleExptEvent() {
	if d.soError() != 0 {
		d.self.HandleClose()
		return
	}
	d.self.HandleExpt()
}

// handleErrorEvent handles POLLERR and POLLNVAL. asyncore's poll2 calls
// handle_close for both; we read the pending error first so that a failed
// connect reaches HandleError with its errno (as it does through the write
// path), and an error that is not a disconnect is reported, not swallowed.
func (d *Dispatcher) handleErrorEvent(ev poller.Events) {
	if ev&poller.Invalid != 0 {
		d.self.HandleClose()
		return
	}
	if d.tls != nil && d.tls.phase == tlsHandshake {
		d.tlsHangup() // the handshake reports the reset, with any alert before it
		return
	}
	errno := d.soError()
	switch {
	case d.connecting && !d.connected:
		if errno == 0 {
			errno = unix.ECONNREFUSED
		}
		d.connecting = false
		d.self.HandleError(os.NewSyscallError("connect", errno))
	case errno == 0 || disconnected(errno):
		d.self.HandleClose()
	default:
		d.fail(os.NewSyscallError("socket", errno))
	}
}

// handleHangup handles POLLHUP: both directions of the connection are shut
// down (the peer closed, or we shut down writing and the peer's FIN came). Input
// may still be buffered, and it is finite: it is delivered before the close,
// even to a dispatcher that is not reading just now (back-pressure), because
// closing would drop it. If the read handler ran in this event, the next
// events deliver the rest and the EOF after it calls HandleClose. Otherwise
// HandleRead is called here; if it makes no progress — it does not read —
// the hang-up is final, so a dispatcher that never reads cannot spin the loop.
func (d *Dispatcher) handleHangup(ev poller.Events) {
	if d.tls != nil && d.tls.phase == tlsHandshake {
		d.tlsHangup()
		return
	}
	if d.tls != nil && d.tlsOpenHangup() {
		return
	}
	if !d.eof && !d.accepting {
		pending := sock.Pending(d.fd)
		if pending > 0 && ev&poller.Read != 0 {
			return
		}
		if pending > 0 {
			epoch := d.epoch
			d.handleRead()
			if d.epoch != epoch || d.eof || sock.Pending(d.fd) < pending {
				return
			}
		}
		if pending == 0 {
			// Nothing left to read and the receiving side shut: this is
			// the peer's EOF, even though no read returned it.
			d.eof = true
		}
	}
	d.self.HandleClose()
}

// soError reads SO_ERROR; a file (FileDispatcher) has none, as asyncore's
// file_wrapper.getsockopt reports 0.
func (d *Dispatcher) soError() unix.Errno {
	if d.isFile || d.fd < 0 {
		return 0
	}
	errno, err := sock.SoError(d.fd)
	if err != nil {
		var sysErr *os.SyscallError
		if errors.As(err, &sysErr) {
			if e, ok := sysErr.Err.(unix.Errno); ok {
				return e
			}
		}
		return unix.EBADF
	}
	return errno
}

// Readable is asyncore's readable(); the default is true.
func (d *Dispatcher) Readable() bool { return true }

// Writable is asyncore's writable(). The default is true only while a
// connect is in progress; asyncore's always-true default makes level-
// triggered polling spin on every idle connection (see the package
// documentation). Override it to return true while output is waiting.
func (d *Dispatcher) Writable() bool { return d.connecting }

// HandleRead is asyncore's handle_read; the default logs "unhandled read
// event" as a warning (silent unless IgnoreLogTypes is changed).
func (d *Dispatcher) HandleRead() { d.LogInfo("unhandled read event", "warning") }

// HandleWrite is asyncore's handle_write; the default logs "unhandled write
// event" as a warning.
func (d *Dispatcher) HandleWrite() { d.LogInfo("unhandled write event", "warning") }

// HandleExpt is asyncore's handle_expt; the default logs "unhandled incoming
// priority event" as a warning.
func (d *Dispatcher) HandleExpt() { d.LogInfo("unhandled incoming priority event", "warning") }

// HandleConnect is asyncore's handle_connect; the default logs "unhandled
// connect event" as a warning.
func (d *Dispatcher) HandleConnect() { d.LogInfo("unhandled connect event", "warning") }

// HandleClose is asyncore's handle_close: the default logs "unhandled close
// event" as a warning and closes the dispatcher.
func (d *Dispatcher) HandleClose() {
	d.LogInfo("unhandled close event", "warning")
	_ = d.self.Close()
}

// HandleError is asyncore's handle_error: it receives an error the library
// met on the dispatcher's behalf — a failed connect, an unexpected I/O error,
// a timeout, a limit, or a recovered panic (*loop.PanicError, with its
// stack). The default calls HandleClose after logging the error. What the
// peer caused (IsPeerCaused: a reset, a timeout, a limit it went over) is
// logged at debug level, through the loop's LogGate, so that an attack
// cannot flood the log with it: servers meet these all the time, and the
// map's Stats count them. Anything else is asyncore's "uncaptured error,
// closing channel …" at error level: it means a bug, here or in a handler.
func (d *Dispatcher) HandleError(err error) {
	if IsPeerCaused(err) {
		d.logPeer("closing channel after a peer-caused error", err)
		d.self.HandleClose()
		return
	}
	var attrs []any
	var pe *loop.PanicError
	if errors.As(err, &pe) {
		attrs = append(attrs, "stack", string(pe.Stack))
	}
	d.logInfo(fmt.Sprintf("uncaptured error, closing channel %v (%v)", d.self, err), "error", attrs...)
	d.self.HandleClose()
}
