package dispatcher

import "time"

// Hooks is the part of a Dispatcher that protocol layers built on it use —
// as chat.AsyncChat and DispatcherWithSend are: deadlines kept on the
// dispatcher's one timer, the map's timeout and limit counters, the server
// timeout defaults, and the peer's EOF. An application's handler rarely needs
// any of it, which is why it is not in Dispatcher's method set; get it with
// Dispatcher.Hooks. A Hooks value is a handle on its dispatcher: it costs
// nothing to make, and belongs, like the dispatcher, to its loop's goroutine.
type Hooks struct{ d *Dispatcher }

// Hooks returns the dispatcher's hooks for protocol layers built on it, as
// chat is (see Hooks).
func (d *Dispatcher) Hooks() Hooks { return Hooks{d} }

// UseServerTimeouts makes zero IdleTimeout and WriteStallTimeout mean
// DefaultIdleTimeout (120 s) and DefaultWriteStallTimeout (60 s) instead of
// off; ConnectTimeout's default (60 s) applies anyway, and ReadIdleTimeout
// stays off unless set. chat.AsyncChat calls it in Init; a server built on
// a plain Dispatcher calls it to get the same protection.
func (h Hooks) UseServerTimeouts() { h.d.useServerTimeouts() }

// ResetTimeouts re-reads IdleTimeout, WriteStallTimeout, ReadIdleTimeout and
// ConnectTimeout (and an embedding type's deadlines, see Deadliner) and
// re-arms the dispatcher's timer. Call it after lowering a timeout on a
// running dispatcher; a raised timeout is picked up by itself when the old
// deadline comes. The clocks are not restarted: a connection idle for a
// minute is closed at once by a new 30-second IdleTimeout.
func (h Hooks) ResetTimeouts() { h.d.resetTimeouts() }

// ArmTimeout makes sure the dispatcher's timer fires no later than at (a
// loop.Loop.Now value). A Deadliner calls it when it sets a deadline; it
// touches the loop's timer heap only if at is earlier than the deadline the
// timer is armed for.
func (h Hooks) ArmTimeout(at time.Duration) { h.d.armTimeout(at) }

// CountTimeout records, in the map's Stats, a timeout about to reach
// HandleError. The dispatcher counts its own timeouts; a type that keeps
// deadlines of its own (see Deadliner) calls it for each one that fires, as
// chat.AsyncChat does for FrameTimeout and LingerTimeout.
func (h Hooks) CountTimeout() { h.d.countTimeout() }

// CountLimitClose records, in the map's Stats, a connection closed because
// it went over an input or output limit. chat.AsyncChat calls it for
// ErrLineTooLong, ErrMessageTooLarge and ErrOutputLimit; a protocol that
// enforces limits of its own calls it too.
func (h Hooks) CountLimitClose() { h.d.countLimitClose() }

// CountStartTLSDiscarded records, in the map's Stats
// (StartTLSDiscardedBytes), n bytes of plaintext input that a STARTTLS
// dropped because the peer sent them behind its STARTTLS command.
// chat.AsyncChat.StartTLS calls it; a protocol layer with a STARTTLS of
// its own calls it for the input it drops.
func (h Hooks) CountStartTLSDiscarded(n int) {
	if n > 0 {
		stateOf(h.d.m).stats.StartTLSDiscardedBytes += uint64(n)
	}
}

// EOF reports whether the peer has finished sending: a Recv returned EOF,
// or a hang-up came with nothing left to read. A HandleClose that sees EOF
// true (and Connected) may still write — the peer shut down only its own
// side — which is how AsyncChat and DispatcherWithSend flush queued replies
// to a client that half-closed.
func (h Hooks) EOF() bool { return h.d.eof }
