package loop

import (
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/asyncore-go/asyncore/poller"
)

// PanicError is what a channel's HandleError receives when one of its
// handlers panicked: the value passed to panic and the stack at that point.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("loop: handler panicked: %v", e.Value) }

// Unwrap returns the panic value if it is an error, so errors.Is and
// errors.As see through a panic(err).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// dispatch is phase 3.
func (l *Loop) dispatch(n int) {
	l.dispatching = true
	for i := 0; i < n; {
		i = l.dispatchFrom(i, n)
	}
	l.dispatching = false
	for _, fd := range l.deferred {
		if err := closeFD(fd); err != nil {
			slog.Warn("loop: deferred close failed", "fd", fd, "err", err)
		}
	}
	l.deferred = l.deferred[:0]
}

// dispatchFrom handles l.events[i:n] and returns where dispatch goes on:
// n, or the event after one whose handler panicked. One deferred recover
// guards the whole run of events rather than one per event, since setting
// up a recover costs more than the rest of an event's dispatch. A panic goes
// to the channel's HandleError as before, and the events after it are still
// handled in this iteration.
func (l *Loop) dispatchFrom(i, n int) (next int) {
	m := l.m
	var ch Channel // the channel being called; nil between calls
	defer func() {
		if ch == nil {
			return // no handler was running: nothing to recover
		}
		v := recover()
		if v == nil {
			return
		}
		ev := l.events[i]
		l.recovered(ev.Fd, ch, v)
		l.handled(ev, ch)
		next = i + 1
	}()
	for ; i < n; i++ {
		ev := l.events[i]
		if ev.Fd == l.wake.fd && ev.Tag == 0 {
			l.wake.drain()
			l.wakePending.Store(false)
			continue
		}
		if ev.Fd >= len(m.entries) {
			continue
		}
		e := &m.entries[ev.Fd]
		if e.ch == nil || e.gen != ev.Tag {
			continue // closed earlier in this batch, or a stale generation
		}
		ch = e.ch
		m.stats.Events++
		ch.HandleEvents(ev.Events)
		c := ch
		ch = nil
		l.handled(ev, c)
	}
	return n
}

// handled follows up an event whose handler has returned or panicked: a
// channel still registered is asked its interest again, or closed by force
// if the poller called its descriptor invalid (it would spin).
func (l *Loop) handled(ev poller.Event, ch Channel) {
	if l.registered(ev.Fd, ev.Tag) {
		if ev.Events&poller.Invalid != 0 {
			l.forceRemove(ev.Fd, ch) // still there: it would spin
		} else {
			l.m.Update(ev.Fd)
		}
	}
}

func (l *Loop) registered(fd int, gen uint32) bool {
	return fd < len(l.m.entries) && l.m.entries[fd].ch != nil && l.m.entries[fd].gen == gen
}

// recovered hands a recovered panic to the channel's HandleError.
func (l *Loop) recovered(fd int, ch Channel, v any) {
	l.m.stats.Panics++
	l.channelError(fd, ch, &PanicError{Value: v, Stack: debug.Stack()})
}

// channelError calls ch.HandleError. If that panics too, the channel is
// closed by force; it is never asked to handle its own error handling's
// failure, so this cannot recurse.
func (l *Loop) channelError(fd int, ch Channel, err error) {
	defer func() {
		if v := recover(); v != nil {
			slog.Error("loop: HandleError panicked; closing the channel", "fd", fd, "err", err, "panic", v)
			l.forceRemove(fd, ch)
		}
	}()
	ch.HandleError(err)
}

// forceRemove closes a channel that cannot be trusted to close itself: it
// calls Close, and if the channel is still registered after that (Close
// panicked or did not unregister), it removes it from the map and closes its
// descriptor.
func (l *Loop) forceRemove(fd int, ch Channel) {
	func() {
		defer func() {
			if v := recover(); v != nil {
				slog.Error("loop: Close panicked", "fd", fd, "panic", v)
			}
		}()
		_ = ch.Close()
	}()
	if l.m.Remove(fd, ch) {
		_ = l.m.CloseFD(fd)
	}
}

// safely runs a timer or posted function, logging a panic instead of letting
// it take the loop down.
func (l *Loop) safely(what string, f func()) (panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			slog.Error("loop: "+what+" panicked", "panic", v, "stack", string(debug.Stack()))
			l.m.stats.Panics++
			panicked = true
		}
	}()
	f()
	return false
}
