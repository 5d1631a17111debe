package loop

import "errors"

// Stop makes Run return before its next iteration; if Run is blocked
// waiting, it wakes up. A Stop while no Run is under way makes the next Run
// return at once. Stop may be called from any goroutine.
func (l *Loop) Stop() {
	l.stopReq.Store(true)
	l.wakeUp()
}

// Post queues f to run on the loop's goroutine during the next iteration's
// phase 5 and wakes the loop if it is waiting. Every posted function runs
// exactly once, in order; wake-ups may coalesce, functions never do. Post may
// be called from any goroutine; after Close it returns ErrClosed and f never
// runs. A panic in f is recovered and logged.
func (l *Loop) Post(f func()) error {
	if f == nil {
		return errors.New("loop: Post of a nil function")
	}
	l.mu.Lock()
	if l.closed.Load() {
		l.mu.Unlock()
		return ErrClosed
	}
	l.posted = append(l.posted, f)
	l.posts.Add(1)
	l.mu.Unlock()
	l.wakeUp()
	return nil
}

// wakeUp writes to the wake-up descriptor unless a write is already pending,
// so a burst of Posts costs one system call.
func (l *Loop) wakeUp() {
	if l.wakePending.CompareAndSwap(false, true) {
		l.mu.Lock()
		if l.hasWake && !l.closed.Load() {
			l.wake.signal()
		} else {
			// Nothing to wake: the first iteration does not wait while
			// posts are queued. The next Post must signal again.
			l.wakePending.Store(false)
		}
		l.mu.Unlock()
	}
}

// runPosted is phase 5.
func (l *Loop) runPosted() {
	if l.posts.Load() == 0 {
		return
	}
	l.mu.Lock()
	batch := l.posted
	l.posted = l.spare[:0]
	l.posts.Add(-int64(len(batch)))
	l.mu.Unlock()
	l.m.stats.PostsRun += uint64(len(batch))
	for i, f := range batch {
		l.safely("posted function", f)
		batch[i] = nil
	}
	l.spare = batch[:0]
}
