package loop

import (
	"fmt"
	"math"
	"time"
)

// Timer is a function scheduled on a loop, once (AfterFunc) or repeatedly
// (Every). Its methods belong to the loop's goroutine, like everything else
// in the loop; from another goroutine, Post a function that calls them.
type Timer struct {
	l      *Loop
	when   int64 // deadline, nanoseconds since l.epoch
	period time.Duration
	f      func()
	index  int // position in the heap, -1 when not scheduled
}

// Loop returns the loop the timer belongs to.
func (t *Timer) Loop() *Loop { return t.l }

// AfterFunc schedules f to run once on the loop's goroutine after at least
// d. The deadline is folded into the poll timeout and rounded up to the
// millisecond, so a timer never makes the loop spin and never fires early.
func (l *Loop) AfterFunc(d time.Duration, f func()) *Timer {
	t := &Timer{l: l, f: f, index: -1}
	t.schedule(d)
	return t
}

// Every schedules f to run on the loop's goroutine every period, the first
// time one period from now. A run that falls behind (a slow handler, a long
// wait) is not made up for: the next deadline is one period after the late
// run. A repeating timer whose function panics is stopped and the panic
// logged. Every panics if period is not positive: that is a programming
// error, as time.NewTicker treats it.
func (l *Loop) Every(period time.Duration, f func()) *Timer {
	if period <= 0 {
		panic(fmt.Sprintf("loop: Every with non-positive period %v", period))
	}
	t := &Timer{l: l, f: f, period: period, index: -1}
	t.schedule(period)
	return t
}

// Stop cancels the timer. It reports whether the timer was pending; a
// one-shot timer that already ran, or a stopped timer, reports false.
func (t *Timer) Stop() bool {
	if t.index < 0 {
		return false
	}
	t.l.timers.remove(t.index)
	return true
}

// Reset reschedules the timer to fire after d (and, if it repeats, every
// period after that), whether or not it was pending. It reports whether the
// timer was pending. Reset on a timer whose loop is closed does nothing.
func (t *Timer) Reset(d time.Duration) bool {
	pending := t.Stop()
	t.schedule(d)
	return pending
}

func (t *Timer) schedule(d time.Duration) {
	if t.l.isClosed() {
		return
	}
	t.when = later(t.l.now(), d)
	t.l.timers.push(t)
}

// later returns the deadline d after when, saturated at the largest one: a
// delay meant as "never" (math.MaxInt64) must not wrap into the past and
// fire at once, nor make a repeating timer due again forever.
func later(when int64, d time.Duration) int64 {
	if d > 0 && when > math.MaxInt64-int64(d) {
		return math.MaxInt64
	}
	return when + int64(d)
}

// now is the loop's clock: monotonic nanoseconds since the loop was made. It
// never returns the same value twice, so a timer scheduled while timers run
// is always later than the "now" of that pass and waits for the next
// iteration, even on a coarse clock.
func (l *Loop) now() int64 {
	var t int64
	if l.clockFn != nil {
		t = int64(l.clockFn())
	} else {
		t = int64(time.Since(l.epoch))
	}
	if t <= l.lastNow {
		t = l.lastNow + 1
	}
	l.lastNow = t
	return t
}

// runTimers is phase 4: every timer due by now runs, earliest first. A timer
// scheduled by a running timer for "now" waits for the next iteration (see
// now), so a timer that re-arms itself with zero delay cannot starve the loop.
func (l *Loop) runTimers() {
	if len(l.timers) == 0 {
		return
	}
	now := l.now()
	l.clock = now
	for len(l.timers) > 0 && l.timers[0].when <= now {
		t := l.timers[0]
		l.timers.remove(0)
		if t.period > 0 {
			t.when = later(t.when, t.period)
			if t.when <= now {
				t.when = later(now, t.period)
			}
			l.timers.push(t)
		}
		l.m.stats.TimersFired++
		if l.safely("timer", t.f) && t.index >= 0 {
			t.Stop()
		}
	}
}

// timerHeap is a binary min-heap on when, written out rather than through
// container/heap to avoid boxing every Timer in an interface.
type timerHeap []*Timer

func (h *timerHeap) push(t *Timer) {
	*h = append(*h, t)
	t.index = len(*h) - 1
	h.up(t.index)
}

func (h *timerHeap) remove(i int) {
	s := *h
	last := len(s) - 1
	s[i].index = -1
	if i != last {
		s[i] = s[last]
		s[i].index = i
	}
	s[last] = nil
	*h = s[:last]
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
}

func (h timerHeap) less(i, j int) bool { return h[i].when < h[j].when }

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h timerHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

func (h timerHeap) down(i int) bool {
	start := i
	for {
		child := 2*i + 1
		if child >= len(h) {
			break
		}
		if r := child + 1; r < len(h) && h.less(r, child) {
			child = r
		}
		if !h.less(child, i) {
			break
		}
		h.swap(i, child)
		i = child
	}
	return i > start
}
