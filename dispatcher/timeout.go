package dispatcher

import (
	"math"
	"time"

	"github.com/asyncore-go/asyncore/internal/config"
	"github.com/asyncore-go/asyncore/loop"
	"golang.org/x/sys/unix"
)

// Defaults for the timeout fields left at zero
// (docs/failure-modes.md#default-limits). Only DefaultConnectTimeout applies to
// every dispatcher; the idle and write-stall defaults apply to dispatchers that
// asked for them with Hooks().UseServerTimeouts, as chat.AsyncChat does (see the
// package documentation).
const (
	// DefaultIdleTimeout is waitress's channel_timeout.
	DefaultIdleTimeout = 120 * time.Second
	// DefaultWriteStallTimeout is nginx's send_timeout.
	DefaultWriteStallTimeout = 60 * time.Second
	// DefaultConnectTimeout is nginx's proxy_connect_timeout.
	DefaultConnectTimeout = 60 * time.Second
)

// Errors HandleError receives when a timeout expires. The default
// HandleError closes the dispatcher. Each is a timeout (os.IsTimeout) and
// caused by the peer: it has a PeerCaused method that returns true, which
// is how the default HandleError and IsPeerCaused tell it from a bug of
// ours. Compare them with == or errors.Is.
var (
	// ErrIdleTimeout: no input or output progress for IdleTimeout.
	ErrIdleTimeout error = &timeoutError{msg: "dispatcher: idle timeout: no progress within IdleTimeout"}
	// ErrReadIdleTimeout: no input for ReadIdleTimeout, whatever the
	// output did.
	ErrReadIdleTimeout error = &timeoutError{msg: "dispatcher: read idle timeout: no input within ReadIdleTimeout"}
	// ErrWriteStall: output was waiting and none of it was written for
	// WriteStallTimeout (the peer stopped reading).
	ErrWriteStall error = &timeoutError{msg: "dispatcher: write stalled: no output progress within WriteStallTimeout"}
	// ErrConnectTimeout: a Connect did not finish within ConnectTimeout.
	// errors.Is(err, unix.ETIMEDOUT) holds for it, as for a connect the
	// kernel gave up on.
	ErrConnectTimeout error = &timeoutError{
		msg:   "dispatcher: connect did not finish within ConnectTimeout: " + unix.ETIMEDOUT.Error(),
		errno: unix.ETIMEDOUT,
	}
)

// timeoutError is the type of the timeout errors: one value each, so they
// compare with ==.
type timeoutError struct {
	msg   string
	errno error // what errors.Is also finds, if any
}

func (e *timeoutError) Error() string { return e.msg }

// Unwrap returns the errno the error stands for, if any.
func (e *timeoutError) Unwrap() error { return e.errno }

// Timeout reports true: os.IsTimeout and net.Error's Timeout see it.
func (e *timeoutError) Timeout() bool { return true }

// PeerCaused reports true: the peer's silence or slowness caused it, not
// a fault of the program.
func (e *timeoutError) PeerCaused() bool { return true }

// Deadliner is implemented by a dispatcher's embedding type that keeps
// deadlines of its own on the dispatcher's timer, as chat.AsyncChat does for
// its frame and linger timeouts: it arms each with Hooks().ArmTimeout when
// it sets it. Times are loop.Loop.Now values.
type Deadliner interface {
	// NextDeadline returns the earliest deadline the type keeps, and ok
	// false if it keeps none just now.
	NextDeadline() (at time.Duration, ok bool)
	// HandleDeadline is called when the dispatcher's timer fires, before
	// the dispatcher's own timeouts are checked; it acts on every one of
	// its deadlines that has passed by now (and clears or restarts it).
	HandleDeadline(now time.Duration)
}

// timeouts is a dispatcher's timeout state: when each clock started, and the
// one loop timer armed for the earliest deadline. Events only stamp times;
// the timer is moved only when a deadline appears that is earlier than the
// one it is armed for, and re-armed for the next deadline when it fires, so
// the heap is not touched per event.
type timeouts struct {
	timer    *loop.Timer
	timerOf  *loop.Loop // the loop timer belongs to
	armedAt  int64      // the deadline timer is armed for
	armed    bool
	deferred bool // no loop yet: arm when the first event arrives
	// (The flags share one word.)
	writeBlocked bool // the last write left output behind
	serverDefs   bool // UseServerTimeouts was called

	lastIO       int64 // last input or output progress
	lastIn       int64 // last input
	connectStart int64
	stallSince   int64 // last write progress while output was blocked
}

// useServerTimeouts is Hooks.UseServerTimeouts.
func (d *Dispatcher) useServerTimeouts() {
	d.tmo.serverDefs = true
	d.resetTimeouts()
}

// resetTimeouts is Hooks.ResetTimeouts.
func (d *Dispatcher) resetTimeouts() {
	d.tmo.armed = false
	d.armTimeouts()
}

// armTimeout is Hooks.ArmTimeout.
func (d *Dispatcher) armTimeout(at time.Duration) {
	t := &d.tmo
	if d.fd < 0 || (t.armed && int64(at) >= t.armedAt && t.timerOf == d.m.Loop()) {
		return
	}
	l := d.m.Loop()
	if l == nil {
		t.deferred = true
		return
	}
	if t.timerOf != l {
		// First timer, or the map moved to another loop, whose clock
		// has another epoch: the clocks start again there.
		if t.timer != nil {
			t.timer.Stop()
		}
		t.timer, t.timerOf = nil, l
		d.restartClocks(int64(l.Now()))
		d.armTimeouts()
		return
	}
	delay := at - l.Now()
	if delay < 0 {
		delay = 0
	}
	if t.timer == nil {
		t.timer = l.AfterFunc(delay, d.timedOut)
	} else {
		t.timer.Reset(delay)
	}
	t.armedAt, t.armed = int64(at), true
}

// now is the loop's clock, or 0 before a loop serves the map.
func (d *Dispatcher) now() int64 {
	if l := d.m.Loop(); l != nil {
		return int64(l.Now())
	}
	return 0
}

func (d *Dispatcher) restartClocks(now int64) {
	t := &d.tmo
	t.lastIO, t.lastIn, t.connectStart, t.stallSince = now, now, now, now
}

func (d *Dispatcher) idleTimeout() time.Duration {
	if d.accepting || d.connecting {
		return 0
	}
	def := time.Duration(0)
	if d.tmo.serverDefs {
		def = DefaultIdleTimeout
	}
	return config.Or(d.IdleTimeout, def)
}

// readIdleTimeout is off for listeners, connecting sockets and sockets
// that have read EOF (no input can come), and never has a default.
func (d *Dispatcher) readIdleTimeout() time.Duration {
	if d.accepting || d.connecting || d.eof {
		return 0
	}
	return config.Or(d.ReadIdleTimeout, 0)
}

func (d *Dispatcher) writeStallTimeout() time.Duration {
	if !d.tmo.writeBlocked {
		return 0
	}
	def := time.Duration(0)
	if d.tmo.serverDefs {
		def = DefaultWriteStallTimeout
	}
	return config.Or(d.WriteStallTimeout, def)
}

func (d *Dispatcher) connectTimeout() time.Duration {
	if !d.connecting || d.connected {
		return 0
	}
	return config.Or(d.ConnectTimeout, DefaultConnectTimeout)
}

// nextDeadline returns the earliest deadline of the dispatcher and its
// Deadliner, or false if there is none.
func (d *Dispatcher) nextDeadline() (int64, bool) {
	t := &d.tmo
	next := int64(math.MaxInt64)
	if to := d.connectTimeout(); to > 0 {
		next = min(next, t.connectStart+int64(to))
	}
	if to := d.writeStallTimeout(); to > 0 {
		next = min(next, t.stallSince+int64(to))
	}
	if to := d.idleTimeout(); to > 0 {
		next = min(next, t.lastIO+int64(to))
	}
	if to := d.readIdleTimeout(); to > 0 {
		next = min(next, t.lastIn+int64(to))
	}
	if d.tls != nil {
		if at, ok := d.tlsDeadline(); ok {
			next = min(next, at)
		}
	}
	if d.ws != nil {
		if at, ok := d.ws.lingerDeadline(); ok {
			next = min(next, int64(at))
		}
	}
	if x, ok := d.self.(Deadliner); ok {
		if at, ok := x.NextDeadline(); ok {
			next = min(next, int64(at))
		}
	}
	return next, next != math.MaxInt64
}

// armTimeouts arms the timer for the earliest deadline, or stops it if
// there is none.
func (d *Dispatcher) armTimeouts() {
	if d.self == nil || d.fd < 0 {
		return
	}
	at, ok := d.nextDeadline()
	if !ok {
		if d.tmo.timer != nil {
			d.tmo.timer.Stop()
		}
		d.tmo.armed = false
		return
	}
	d.armTimeout(time.Duration(at))
}

// stopTimeouts is Close's part: no timer may outlive the socket, or it
// would fire on whatever reuses the descriptor
// (docs/failure-modes.md#f5-stale-timer).
func (d *Dispatcher) stopTimeouts() {
	t := &d.tmo
	if t.timer != nil {
		t.timer.Stop()
	}
	t.armed, t.deferred, t.writeBlocked = false, false, false
}

// timedOut runs when the timer fires: the embedding type's deadlines first,
// then connect, write-stall, idle and read-idle. Each expired timeout reaches
// HandleError once and its clock restarts, so a HandleError that keeps the
// dispatcher open hears of it again only after another full period.
func (d *Dispatcher) timedOut() {
	t := &d.tmo
	t.armed = false
	if d.fd < 0 {
		return
	}
	epoch := d.epoch
	now := d.now()
	if d.tls != nil && d.tlsTimedOut(now) && d.epoch != epoch {
		return
	}
	if d.ws != nil {
		d.ws.handleLinger(now)
		if d.epoch != epoch {
			return
		}
	}
	if x, ok := d.self.(Deadliner); ok {
		x.HandleDeadline(time.Duration(now))
		if d.epoch != epoch {
			return
		}
	}
	if to := d.connectTimeout(); to > 0 && now >= t.connectStart+int64(to) {
		d.connecting = false
		d.countTimeout()
		d.self.HandleError(ErrConnectTimeout)
		if d.epoch != epoch {
			return
		}
	}
	if to := d.writeStallTimeout(); to > 0 && now >= t.stallSince+int64(to) {
		t.stallSince = now
		if d.self.Writable() {
			d.countTimeout()
			d.self.HandleError(ErrWriteStall)
			if d.epoch != epoch {
				return
			}
		} else {
			t.writeBlocked = false // the output was dropped, not stuck
		}
	}
	if to := d.idleTimeout(); to > 0 && now >= t.lastIO+int64(to) {
		t.lastIO = now
		d.countTimeout()
		d.self.HandleError(ErrIdleTimeout)
		if d.epoch != epoch {
			return
		}
	}
	if to := d.readIdleTimeout(); to > 0 && now >= t.lastIn+int64(to) {
		t.lastIn = now
		d.countTimeout()
		d.self.HandleError(ErrReadIdleTimeout)
		if d.epoch != epoch {
			return
		}
	}
	d.armTimeouts()
}

// wrote records a write of n bytes out of want for the idle and
// write-stall clocks.
func (d *Dispatcher) wrote(n, want int) {
	if n > 0 {
		d.bytesOut += uint64(n)
		d.m.Stats().BytesOut += uint64(n)
	}
	t := &d.tmo
	if n == want {
		t.writeBlocked = false
		if n > 0 {
			t.lastIO = d.now()
		}
		return
	}
	now := d.now()
	if n > 0 {
		t.lastIO = now
	}
	if n > 0 || !t.writeBlocked {
		t.stallSince = now
	}
	if !t.writeBlocked {
		t.writeBlocked = true
		if to := d.writeStallTimeout(); to > 0 {
			d.armTimeout(time.Duration(now + int64(to)))
		}
	}
}
