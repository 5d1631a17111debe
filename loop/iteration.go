package loop

import (
	"runtime"
	"time"

	"github.com/asyncore-go/asyncore/poller"
)

// RunOnce runs one iteration (the phases in the package documentation),
// waiting at most timeout for events: zero polls without blocking, a negative
// timeout waits without bound. Unlike Run it waits even when the map is
// empty, so timers and posted functions are served.
func (l *Loop) RunOnce(timeout time.Duration) error {
	if l.isClosed() {
		return ErrClosed
	}
	if l.running {
		return ErrRunning
	}
	if l.p == nil {
		if err := l.open(0); err != nil {
			return err
		}
	}
	l.running = true
	defer func() { l.running = false }()
	if l.m.loop.Load() != l {
		l.m.attach(l) // another loop ran the map since; take it back
	}

	l.applyInterest()                        // phase 1
	n, err := l.wait(l.waitTimeout(timeout)) // phase 2
	if err != nil {
		return err
	}
	l.clock = l.now()
	st := &l.m.stats
	st.Iterations++
	if n > 0 {
		st.Wakeups++
	}
	l.dispatch(n) // phase 3
	l.runTimers() // phase 4
	l.runPosted() // phase 5
	if l.shut != nil {
		l.progressShutdown()
	}
	if n == len(l.events) && n < maxEvents {
		// The batch filled the buffer: more fds were probably ready.
		// A bigger buffer drains more per system call next time.
		l.events = make([]poller.Event, 2*n)
	}
	return nil
}

// applyInterest is phase 1.
func (l *Loop) applyInterest() {
	m := l.m
	if l.strict {
		for fd := range m.entries {
			m.Update(fd)
		}
	} else if l.check {
		l.checkInterest()
	}
	// Handlers called from here may add channels, which appends to
	// m.dirty: applyFrom indexes afresh on every pass so they are applied
	// too.
	for i := 0; i < len(m.dirty); {
		i = l.applyFrom(i)
	}
	m.dirty = m.dirty[:0]
}

// applyFrom applies the interest of m.dirty[i:] and returns where
// applyInterest goes on: the end, or the entry after one whose Interest
// panicked. As in dispatchFrom, one deferred recover guards the run instead
// of one per channel; it recovers only a panic in the channel's predicates.
func (l *Loop) applyFrom(i int) (next int) {
	m := l.m
	var asking Channel // the channel whose Interest is running
	defer func() {
		if asking == nil {
			return
		}
		if v := recover(); v != nil {
			l.recovered(m.dirty[i], asking, v)
			next = i + 1
		}
	}()
	for ; i < len(m.dirty); i++ {
		fd := m.dirty[i]
		e := &m.entries[fd]
		e.dirty = false
		ch := e.ch
		if ch == nil {
			continue
		}
		asking = ch
		want := ch.Interest() & (poller.Read | poller.Write)
		asking = nil
		e = &m.entries[fd] // Interest may have grown the table
		if e.ch != ch {
			continue
		}
		var err error
		switch {
		case want == 0 && e.inPoller:
			err = l.p.Delete(fd)
			e.inPoller, e.applied = false, 0
		case want == 0:
		case !e.inPoller:
			err = l.p.Add(fd, want, e.gen)
			e.inPoller, e.applied = err == nil, want
		case want != e.applied:
			err = l.p.Modify(fd, want, e.gen)
			e.applied = want
		}
		if err != nil {
			l.channelError(fd, ch, err)
		}
	}
	return i
}

// interest asks ch what it wants, recovering a panic in its predicates.
func (l *Loop) interest(fd int, ch Channel) (want poller.Events, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			l.recovered(fd, ch, v)
			ok = false
		}
	}()
	return ch.Interest() & (poller.Read | poller.Write), true
}

// waitTimeout folds the next timer into the caller's timeout; posted
// functions and a pending Stop mean no waiting at all.
func (l *Loop) waitTimeout(timeout time.Duration) time.Duration {
	if l.posts.Load() > 0 || l.stopReq.Load() {
		return 0
	}
	if len(l.timers) > 0 {
		until := time.Duration(l.timers[0].when - l.now())
		if until < 0 {
			until = 0
		}
		if timeout < 0 || until < timeout {
			timeout = until
		}
	}
	return timeout
}

// waitObserver, when set (by tests only), is told every timeout phase 2
// waits with.
var waitObserver func(timeout time.Duration)

// wait is phase 2.
func (l *Loop) wait(timeout time.Duration) (int, error) {
	if waitObserver != nil {
		waitObserver(timeout)
	}
	if injected, err := waitFault(); injected {
		return 0, err
	}
	if l.busy && l.pollFirst && timeout != 0 {
		// The last wait found events, so more are probably ready or
		// about to be: ask without blocking first, and yield to the Go
		// scheduler before blocking if nothing is. A blocking system
		// call that returns at once is the expensive case for a Go
		// program: the runtime may hand the thread's P to another
		// thread while it waits and has to take it back. The bench
		// harness measured the saving in server CPU per request (see
		// bench/README.md, "Measurements behind design choices"). gnet's
		// loop does the same.
		if n, err := l.p.Wait(l.events, 0); n > 0 || err != nil {
			return n, err
		}
		runtime.Gosched()
	}
	n, err := l.p.Wait(l.events, timeout)
	l.busy = n > 0
	return n, err
}
