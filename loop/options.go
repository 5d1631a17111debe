package loop

import (
	"time"

	"github.com/asyncore-go/asyncore/poller"
)

// DefaultTimeout is asyncore.loop's default timeout, 30 seconds, for code
// that wants it spelled out: Options{Timeout: DefaultTimeout}. It is not
// what a zero Timeout means (see Options.Timeout).
const DefaultTimeout = 30 * time.Second

// Options are asyncore.loop's parameters, named as fits Go, plus Backend and
// Strict. The zero Options run the default map on the best backend until the
// map is empty, each iteration waiting until something happens.
type Options struct {
	// Timeout bounds how long one iteration waits for events (asyncore's
	// timeout). Zero polls: an iteration with nothing ready returns at
	// once, as asyncore.loop(timeout=0) does, so that the game-loop idiom
	// Run(Options{Timeout: 0, Count: 1}) between frames never blocks.
	// That holds when Count bounds the run; a run without a Count (Count
	// zero: until the map is empty, or a Group's loops) that polled would
	// only keep a CPU busy, so there a zero Timeout means no bound, as a
	// negative one does everywhere: wait until an event, a timer, a Post
	// or a Stop. Pass DefaultTimeout for asyncore's own default of 30
	// seconds.
	Timeout time.Duration
	// UsePoll selects poll(2), as asyncore's use_poll does. Backend, when
	// set, takes precedence.
	UsePoll bool
	// Backend selects the poller. Zero means the best available (epoll or
	// kqueue); poller.Select reproduces asyncore's default.
	Backend poller.Kind
	// Map is the socket map to serve; nil means DefaultMap.
	Map *Map
	// Count is asyncore's count: the most iterations Run performs. Zero
	// means no limit (run until the map is empty or Stop is called); a
	// negative count runs none.
	Count int
	// Strict asks every channel's predicates on every iteration, as
	// asyncore does, instead of only those of channels that had events or
	// were marked with Map.Update (see the package documentation). The
	// package-level Run is strict unless ActiveOnly is set; a Loop made
	// with New is strict only if this is set.
	Strict bool
	// ActiveOnly makes the package-level Run ask only the channels that
	// had events or were marked with Map.Update, as a Loop made with New
	// does, instead of every channel every iteration. Strict takes
	// precedence.
	ActiveOnly bool
	// CheckInterest is a debugging aid for loops that are not strict: every
	// iteration it asks every channel's predicates again, and when one
	// changed without Map.Update (a dispatcher's UpdateInterest), it
	// applies the change and logs a warning, once per channel, "Writable
	// changed without UpdateInterest" (or Readable). Such a change is
	// otherwise never seen and the program hangs. It costs what Strict
	// costs. The environment variable ASYNCORE_DEBUG turns it on for every
	// loop (see DebugEnabled).
	CheckInterest bool
	// Clock, when set, replaces the monotonic system clock as the loop's
	// time source: it returns the time elapsed since a fixed start and must
	// never go backwards. Timers, Now and every timeout built on them
	// follow it. Tests set a fake clock here to check timeouts exactly,
	// whatever the scheduler does; nil means the system clock.
	Clock func() time.Duration
}
