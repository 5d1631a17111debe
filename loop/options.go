package loop

import (
	"time"

	"github.com/asyncore-go/asyncore/poller"
	"golang.org/x/sys/unix"
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
	// MaxConns caps the accepted connections the map holds (Map.Conns);
	// a listener over the cap accepts and closes new connections at once
	// (see dispatcher.Dispatcher.HandleAccept). Zero means
	// DefaultMaxConns(), and on the select backend no more than
	// poller.FDSetSize less 32, since select cannot watch a descriptor
	// from FD_SETSIZE up (a listener also refuses a connection whose
	// descriptor is that high, whatever the cap). A negative value means
	// no cap. Change it while running with SetMaxConns.
	MaxConns int
	// Clock, when set, replaces the monotonic system clock as the loop's
	// time source: it returns the time elapsed since a fixed start and must
	// never go backwards. Timers, Now and every timeout built on them
	// follow it. Tests set a fake clock here to check timeouts exactly,
	// whatever the scheduler does; nil means the system clock.
	Clock func() time.Duration
}

// reservedFDs are the descriptors the default cap leaves for everything
// but clients: the standard ones, the loop's wake-up descriptor, listeners
// and their spares, the Go runtime's poller, files, a backend connection.
const reservedFDs = 32

// DefaultMaxConns is the cap used when Options.MaxConns is zero: 10,000 or
// the soft RLIMIT_NOFILE less 32, whichever is smaller, so the descriptors
// the process needs for everything else (files, a backend connection, the
// poller) are never all taken by clients. Redis sizes maxclients the same
// way (CONFIG_MIN_RESERVED_FDS, docs/failure-modes.md#f2-connection-cap). It is
// never below 1. A loop on the select backend lowers it further to FD_SETSIZE
// less 32 (see Options.MaxConns).
func DefaultMaxConns() int {
	const most = 10000
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur >= most+reservedFDs {
		return most
	}
	return max(1, int(rl.Cur)-reservedFDs)
}

// defaultMaxConns is DefaultMaxConns for a backend that watches only
// descriptors below limit (0: any).
func defaultMaxConns(limit int) int {
	n := DefaultMaxConns()
	if limit > 0 {
		n = min(n, max(1, limit-reservedFDs))
	}
	return n
}
