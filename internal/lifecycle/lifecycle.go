// Package lifecycle is the close lifecycle shared by
// dispatcher.DispatcherWithSend and chat.AsyncChat: close when done, the
// flush after the peer's EOF, and the lingering close with its clocks
// (docs/failure-modes.md#f17-lingering-close,
// docs/failure-modes.md#f15-half-close).
//
// A Machine holds one named State and the clocks that bound it; its
// methods are the transitions, and each one arms the deadline its new state
// needs. It talks to the channel through Conn, a few of the dispatcher's
// socket operations and hooks; since those sit behind Dispatcher.Socket and
// Dispatcher.Hooks rather than in its method set, each owner passes a
// one-pointer adapter (dispatcher's lifeConn, chat's chatConn). What
// the owner does on a transition — dropping its input buffers, queueing a
// close marker, updating its interest — stays with the owner, which knows
// its own buffers.
//
//	from         transition       to
//	Open         Fail             Failed
//	Open         BeginHalfClose   HalfClosing
//	HalfClosing  HalfClosed       HalfClosed
//	any of those BeginClose       Closing
//	Closing      Linger           Draining
//	Closing      Stop             Closed
//	Draining     Stop             Closed
//
// Failed is AsyncChat's alone (a broken limit), and so is Closed: a
// DispatcherWithSend starts afresh at Open after Close (Reset).
//
// Orthogonal to the state is whether the peer has finished sending while
// output was still queued (Flushing): the owner then closes as soon as the
// output is written, whatever it had decided itself.
package lifecycle

import (
	"time"

	"github.com/asyncore-go/asyncore/loop"
	"golang.org/x/sys/unix"
)

// State is where a channel is in its life.
type State uint8

const (
	// Open: input is handled and output queued as usual.
	Open State = iota
	// Failed: the peer broke a limit. No more input is acted on; output
	// still goes out (an error reply, say) until the owner closes or
	// begins a close.
	Failed
	// Closing: CloseWhenDone was called. What is queued is written, then
	// the channel closes; input is read and dropped, output pushed is
	// dropped.
	Closing
	// Draining: a lingering close. The output is written and the sending
	// side shut down; input is read and dropped until the peer's EOF or
	// the linger deadline.
	Draining
	// HalfClosing: ShutdownWriteWhenDone was called. Once what is queued
	// is written, the sending side is shut down.
	HalfClosing
	// HalfClosed: the sending side is shut down; input goes on until the
	// peer's EOF.
	HalfClosed
	// Closed: the socket was closed after a close had begun. Nothing is
	// acted on or queued any more.
	Closed
)

var stateNames = [...]string{"open", "failed", "closing", "draining", "half-closing", "half-closed", "closed"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state(?)"
}

// MaxLingerPeriods bounds a lingering close in LingerTimeouts: 30 s with
// the 5 s default, nginx's lingering_time, however slowly the peer trickles
// input.
const MaxLingerPeriods = 6

// Conn is what a Machine needs of its channel: the dispatcher's loop, its
// EOF flag and socket type, the unread byte count, the write shutdown and
// its timer (Dispatcher.Hooks and Dispatcher.Socket).
type Conn interface {
	// Loop is the loop serving the channel, nil before one does: its
	// clock times the close.
	Loop() *loop.Loop
	// EOF reports whether the peer has finished sending.
	EOF() bool
	// Type is the socket type; only a stream lingers.
	Type() int
	// Unread is how many received bytes wait unread in the kernel.
	Unread() int
	// ShutdownWrite shuts down the sending side.
	ShutdownWrite() error
	// ArmTimeout makes the channel's timer fire no later than at.
	ArmTimeout(at time.Duration)
}

// Machine is a channel's close lifecycle. The zero value is Open.
type Machine struct {
	state State
	// flushing: the peer sent EOF while output was queued; the channel
	// closes once that output is written.
	flushing bool
	// clocked: the close is bounded by the linger timeout; at is its last
	// progress and, while draining, since is when the drain began (both
	// loop.Loop.Now values).
	clocked bool
	// dropped: input arrived after the close began (or the peer broke a
	// limit mid-frame), so the peer may still be sending. (The flags share
	// one word: every connection has a Machine.)
	dropped   bool
	at, since int64
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Acting reports whether input is still acted on: Open.
func (m *Machine) Acting() bool { return m.state == Open }

// Queueing reports whether output may still be queued: Open or Failed (the
// reply explaining a failure goes out).
func (m *Machine) Queueing() bool { return m.state <= Failed }

// Closing reports whether a close has begun: Closing, Draining or Closed.
func (m *Machine) Closing() bool {
	return m.state == Closing || m.state == Draining || m.state == Closed
}

// Flushing reports whether the peer's EOF came with output queued (see
// StartFlush).
func (m *Machine) Flushing() bool { return m.flushing }

// Fail moves an Open channel to Failed; in any later state a close is
// already under way and the state stays.
func (m *Machine) Fail() {
	if m.state == Open {
		m.state = Failed
	}
}

// BeginClose is CloseWhenDone: the state becomes Closing and, if the linger
// timeout to is on, the close is bounded: the deadline is to after now,
// pushed back by each Wrote.
func (m *Machine) BeginClose(c Conn, to time.Duration) {
	m.state = Closing
	if to <= 0 {
		return
	}
	m.clocked, m.at = true, now(c)
	c.ArmTimeout(time.Duration(m.at) + to)
}

// now is the channel's loop clock. A dispatcher always has a loop
// (loop.Map.Loop makes one on first use); 0, where a loop's clock starts,
// stands in for a Conn without one.
func now(c Conn) int64 {
	if l := c.Loop(); l != nil {
		return int64(l.Now())
	}
	return 0
}

// BeginHalfClose is ShutdownWriteWhenDone: the state becomes HalfClosing.
func (m *Machine) BeginHalfClose() { m.state = HalfClosing }

// HalfClosed records that the sending side has been shut down after a
// BeginHalfClose.
func (m *Machine) HalfClosed() { m.state = HalfClosed }

// StartFlush is HandleClose's decision on a peer's EOF: if the peer has
// only finished sending (eof), output is still queued (pending) on a
// connected socket, and no flush is under way, the channel flushes — it
// closes once the output is written — and StartFlush reports true. A
// second HandleClose while flushing (the peer went away entirely) gets
// false: close at once.
func (m *Machine) StartFlush(eof, pending, connected bool) bool {
	if !eof || m.flushing || !pending || !connected {
		return false
	}
	m.flushing = true
	return true
}

// Wrote records n bytes of queued output written: a close that makes
// progress is not stalled, so its deadline moves. LingerTimeout bounds a
// close that has stalled, not one that is slow.
func (m *Machine) Wrote(c Conn, n int) {
	if n > 0 && m.clocked {
		m.at = now(c)
	}
}

// Dropped records input read and dropped because the channel will not act
// on it: the peer may still be sending, so a close should linger, and
// while draining the input is progress for the linger deadline.
func (m *Machine) Dropped(c Conn) {
	m.dropped = true
	if m.state != Draining {
		return
	}
	if l := c.Loop(); l != nil {
		m.at = int64(l.Now())
	}
}

// Linger starts a lingering close once a close's output is all written, if
// the peer may still be sending — input was dropped, or some waits unread
// — and reports whether it did. Closing a TCP socket with unread input
// makes the kernel send RST instead of FIN (RFC 1122 4.2.2.13), and an RST
// can destroy the reply just written before the peer reads it. So, as
// nginx's lingering_close does, the sending side is shut down (the peer
// reads the reply, then EOF) and the owner reads and drops input until the
// peer's EOF, or until to passes without input (MaxLingerPeriods × to in
// all). A peer that already sent EOF, a socket that is not a stream, a
// linger timeout that is off, no loop, or a ShutdownWrite that fails (the
// peer is gone already) mean no lingering: close at once. The owner
// updates its interest after a true result.
func (m *Machine) Linger(c Conn, to time.Duration) bool {
	if m.state == Draining || c.EOF() || c.Type() != unix.SOCK_STREAM || to <= 0 {
		return false
	}
	l := c.Loop()
	if l == nil || !m.dropped && c.Unread() == 0 {
		return false
	}
	if err := c.ShutdownWrite(); err != nil {
		return false
	}
	now := int64(l.Now())
	m.state = Draining
	m.clocked, m.at, m.since = true, now, now
	if at, ok := m.Deadline(to); ok {
		c.ArmTimeout(at)
	}
	return true
}

// Deadline is when a close gives up, given the linger timeout to: to after
// its last progress — output written or, once draining, input dropped —
// and for a drain no later than MaxLingerPeriods × to after it began
// (nginx's lingering_timeout and lingering_time). ok is false when the
// close is not bounded.
func (m *Machine) Deadline(to time.Duration) (at time.Duration, ok bool) {
	if !m.clocked || to <= 0 {
		return 0, false
	}
	at = time.Duration(m.at) + to
	if m.state == Draining {
		at = min(at, time.Duration(m.since)+MaxLingerPeriods*to)
	}
	return at, true
}

// Expiry is what the owner does about a close whose deadline has passed.
type Expiry uint8

const (
	// NotExpired: nothing yet.
	NotExpired Expiry = iota
	// Stalled: the output did not move within the linger timeout; the
	// owner closes at once, dropping the rest.
	Stalled
	// Drained: everything was written and the peer never finished; the
	// owner ends the close through HandleClose.
	Drained
)

// Expired reports, at now, whether the close's deadline has passed and
// how it ends (the owner counts it as a timeout).
func (m *Machine) Expired(now, to time.Duration) Expiry {
	at, ok := m.Deadline(to)
	switch {
	case !ok || now < at:
		return NotExpired
	case m.state == Draining:
		return Drained
	}
	return Stalled
}

// StopClock unbounds the close: the owner has ended it through a
// HandleClose that may be overridden, and a deadline must not fire on a
// channel the override kept open.
func (m *Machine) StopClock() { m.clocked = false }

// Stop is the socket closing: the clocks stop and the notes are dropped. A
// channel whose close had begun is Closed from now on, so a late Push or
// read is not acted on; an Open or Failed one keeps its state.
func (m *Machine) Stop() {
	if m.Closing() {
		m.state = Closed
	}
	m.flushing, m.clocked, m.dropped = false, false, false
}

// Reset returns the machine to Open with no clocks: for an owner that may
// be given a new socket after Close and starts afresh (DispatcherWithSend).
func (m *Machine) Reset() { *m = Machine{} }
