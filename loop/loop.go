package loop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
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

// Errors returned by a Loop.
var (
	ErrClosed  = errors.New("loop: loop is closed")
	ErrRunning = errors.New("loop: Run called while the loop is already running")
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

// Loop is a reusable reactor over one Map: a poller, a timer heap and a queue
// of posted functions. Create it with New, drive it with Run or RunOnce from
// one goroutine, and Close it when done. Post and Stop may be called from any
// goroutine.
type Loop struct {
	m        *Map
	p        poller.Poller
	timeout  time.Duration
	count    int
	strict   bool
	check    bool // Options.CheckInterest
	maxConns int  // < 0: no cap

	events      []poller.Event
	dispatching bool  // phase 3 is under way: closes are deferred
	deferred    []int // fds to close when the batch is done
	running     bool
	implicit    bool // created by the package-level Run, closed by it
	iterations  uint64
	pollFirst   bool // see wait
	busy        bool // the last wait returned events

	timers  timerHeap
	epoch   time.Time            // timer deadlines are nanoseconds since epoch
	clockFn func() time.Duration // Options.Clock; nil reads time.Since(epoch)
	lastNow int64                // the last value now returned
	clock   int64                // what Now returns while an iteration runs
	peerLog LogGate              // see PeerLog

	wake        waker       // valid once hasWake is set, under mu
	hasWake     bool        // the loop has been opened (guarded by mu)
	wakePending atomic.Bool // a wake-up was written and not yet drained
	stopReq     atomic.Bool
	posts       atomic.Int64 // functions queued and not yet run

	mu     sync.Mutex // guards posted, and closing against Post
	posted []func()
	spare  []func()
	closed atomic.Bool

	// Shutdown's state. shut and shutDone belong to the loop's goroutine;
	// serving and exitWait are guarded by mu.
	shut     []*shutdownReq // Shutdowns under way, oldest first
	shutDone bool           // a Shutdown completed: Run returns
	serving  bool           // Run, RunContext or a Group runs the loop
	exitWait []chan struct{}
}

const (
	initialEvents = 256
	maxEvents     = 4096
)

// New creates a loop for opts.Map (DefaultMap if nil) on the backend the
// options select, and attaches it to the map: from now on the map's channels
// are watched by this loop's poller. If the map's loop has not run yet — the
// one Map.Loop made for setup code to arm timers and Post on — New opens
// that loop with these options and returns it, so those timers and functions
// are kept.
func New(opts Options) (*Loop, error) {
	kind := opts.Backend
	if kind == 0 && opts.UsePoll {
		kind = poller.Poll
	}
	m := opts.Map
	if m == nil {
		m = defaultMap
	}
	if l := m.Loop(); l.p == nil && !l.isClosed() && !l.running {
		l.clockFn = opts.Clock
		if err := l.open(kind); err != nil {
			return nil, err
		}
		l.configure(opts)
		return l, nil
	}
	l := newLoop(m)
	l.clockFn = opts.Clock
	if err := l.open(kind); err != nil {
		return nil, err
	}
	l.configure(opts)
	if old := m.loop.Load(); old != nil && old.implicit {
		_ = old.Close()
	}
	m.attach(l)
	return l, nil
}

// newLoop makes a loop for m that has no poller yet (see open): what
// Map.Loop hands out before anything runs the map. It holds no descriptor,
// so a map that is never run leaks nothing.
func newLoop(m *Map) *Loop {
	l := &Loop{m: m, epoch: time.Now()}
	l.configure(Options{})
	return l
}

// open gives the loop its poller, of the given kind (0: the best), and its
// wake-up descriptor. Functions posted before are run by the first
// iteration: it does not wait while any are queued.
func (l *Loop) open(kind poller.Kind) error {
	p, err := poller.Open(kind)
	if err != nil {
		return err
	}
	w, err := newWaker()
	if err != nil {
		_ = p.Close()
		return err
	}
	if err := p.Add(w.fd, poller.Read, 0); err != nil {
		_ = p.Close()
		w.close()
		return err
	}
	l.p = p
	l.events = make([]poller.Event, initialEvents)
	// poll(2) and select(2) scan every descriptor on each call, so an
	// extra call costs in proportion to the map; epoll and kqueue cost the
	// same whatever is watched.
	l.pollFirst = p.Kind() == poller.Epoll || p.Kind() == poller.Kqueue
	l.mu.Lock()
	l.wake, l.hasWake = w, true
	l.mu.Unlock()
	for fd := range l.m.entries {
		l.m.Update(fd) // the new poller watches nothing yet
	}
	return nil
}

func (l *Loop) configure(opts Options) {
	l.timeout = opts.Timeout
	l.count, l.strict = opts.Count, opts.Strict
	l.check = opts.CheckInterest || DebugEnabled()
	l.SetMaxConns(opts.MaxConns)
}

// FDLimit reports how many descriptors the loop's backend can watch: only
// 0 to FDLimit()-1, or any when it is 0 (poller.Kind.FDLimit). On select it
// is FD_SETSIZE; Map.Add refuses a higher descriptor, and a listener refuses
// connections that arrive on one.
func (l *Loop) FDLimit() int {
	if l.p == nil {
		return 0 // not opened yet: no backend, no limit to apply
	}
	return l.p.Kind().FDLimit()
}

// MaxConns reports the cap on accepted connections (Options.MaxConns), or
// -1 if there is none.
func (l *Loop) MaxConns() int { return l.maxConns }

// SetMaxConns changes the cap on accepted connections while the loop runs:
// zero means the default (see Options.MaxConns), a negative value no cap.
// Connections already accepted above a lowered cap are kept; new ones are
// refused until the count is below it.
func (l *Loop) SetMaxConns(n int) {
	switch {
	case n == 0:
		n = defaultMaxConns(l.FDLimit())
	case n < 0:
		n = -1
	}
	l.maxConns = n
}

// Now is the loop's clock: monotonic time since the loop was made. While
// an iteration runs it is read once, after the wait, and again before the
// timers run, so calling it from handlers costs a field load; outside an
// iteration it reads the system clock. Dispatchers stamp their progress
// with it for their timeouts.
func (l *Loop) Now() time.Duration {
	if l.running {
		return time.Duration(l.clock)
	}
	return time.Duration(l.now())
}

// Map returns the map this loop serves.
func (l *Loop) Map() *Map { return l.m }

// Kind reports the loop's poller backend, or 0 for a map's loop that has
// not run yet (see Map.Loop): it gets its poller from the New or Run that
// first runs it.
func (l *Loop) Kind() poller.Kind {
	if l.p == nil {
		return 0
	}
	return l.p.Kind()
}

// Iterations reports how many iterations (wake-ups) the loop has run. Tests
// use it to show that an idle loop does not spin.
func (l *Loop) Iterations() uint64 { return l.iterations }

// Run iterates until the map is empty, Stop is called, a Shutdown has
// completed, or the Count given to New has run out — asyncore.loop. It
// returns nil in those cases and an error only if the poller itself fails.
func (l *Loop) Run() error { return l.run(nil) }

// RunContext is Run that also returns, with nil, once ctx is done, leaving
// the channels open (Shutdown is the graceful way to end a server; call it
// first). A ctx already done returns at once.
func (l *Loop) RunContext(ctx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	if ctx.Done() == nil {
		return l.Run()
	}
	var done atomic.Bool
	stop := context.AfterFunc(ctx, func() {
		done.Store(true)
		l.wakeUp()
	})
	defer stop()
	return l.run(&done)
}

func (l *Loop) run(ctxDone *atomic.Bool) error {
	if l.count < 0 {
		return nil
	}
	if l.running {
		return ErrRunning
	}
	l.setServing(true)
	defer l.setServing(false)
	for i := 0; l.count == 0 || i < l.count; i++ {
		if l.shutDone {
			l.shutDone = false
			return nil
		}
		if l.m.Len() == 0 {
			return nil
		}
		if l.stopReq.CompareAndSwap(true, false) {
			return nil
		}
		if ctxDone != nil && ctxDone.Load() {
			return nil
		}
		if err := l.RunOnce(l.runTimeout()); err != nil {
			return err
		}
	}
	return nil
}

// setServing records whether a long-running Run is under way, for a
// Shutdown whose deadline passed: it waits for the loop to close what is
// left only while something runs the loop.
func (l *Loop) setServing(on bool) {
	l.mu.Lock()
	l.serving = on
	if !on {
		for _, c := range l.exitWait {
			close(c)
		}
		l.exitWait = nil
	}
	l.mu.Unlock()
}

// runTimeout is the wait Run gives each iteration: Options.Timeout, except
// that a zero Timeout polls only when Count bounds the run; without a
// Count, polling would spin, so it waits without bound instead.
func (l *Loop) runTimeout() time.Duration {
	if l.timeout == 0 && l.count == 0 {
		return -1
	}
	return l.timeout
}

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
	l.iterations++
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
	// m.dirty: index afresh on every pass so they are applied too.
	for i := 0; i < len(m.dirty); i++ {
		fd := m.dirty[i]
		e := &m.entries[fd]
		e.dirty = false
		ch := e.ch
		if ch == nil {
			continue
		}
		want, ok := l.interest(fd, ch)
		if !ok {
			continue
		}
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
	m.dirty = m.dirty[:0]
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

// dispatch is phase 3.
func (l *Loop) dispatch(n int) {
	m := l.m
	l.dispatching = true
	for i := 0; i < n; i++ {
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
		ch := e.ch
		m.stats.Events++
		l.handle(ev.Fd, ch, ev.Events)
		if l.registered(ev.Fd, ev.Tag) {
			if ev.Events&poller.Invalid != 0 {
				l.forceRemove(ev.Fd, ch) // still there: it would spin
			} else {
				m.Update(ev.Fd)
			}
		}
	}
	l.dispatching = false
	for _, fd := range l.deferred {
		if err := closeFD(fd); err != nil {
			slog.Warn("loop: deferred close failed", "fd", fd, "err", err)
		}
	}
	l.deferred = l.deferred[:0]
}

func (l *Loop) registered(fd int, gen uint32) bool {
	return fd < len(l.m.entries) && l.m.entries[fd].ch != nil && l.m.entries[fd].gen == gen
}

func (l *Loop) handle(fd int, ch Channel, ev poller.Events) {
	defer func() {
		if v := recover(); v != nil {
			l.recovered(fd, ch, v)
		}
	}()
	ch.HandleEvents(ev)
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

func (l *Loop) isClosed() bool { return l.closed.Load() }

// Close releases the loop's poller and wake-up descriptor and detaches it
// from its map. It does not close the map's channels (see
// dispatcher.CloseAll). Functions posted and not yet run are dropped; timers
// are cancelled. Closing a closed loop returns ErrClosed.
func (l *Loop) Close() error {
	l.mu.Lock()
	if l.closed.Load() {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed.Store(true)
	l.posted = nil
	l.posts.Store(0)
	if l.hasWake {
		l.wake.close()
		l.hasWake = false
	}
	l.mu.Unlock()
	if l.m.loop.Load() == l {
		l.m.detach()
	}
	for _, fd := range l.deferred {
		_ = closeFD(fd)
	}
	l.deferred = nil
	for _, t := range l.timers {
		t.index = -1
	}
	l.timers = nil
	if l.p == nil {
		return nil
	}
	return l.p.Close()
}

// RunContext is Run (asyncore.loop) that also returns, with nil, once ctx is
// done; see Loop.RunContext.
func RunContext(ctx context.Context, opts Options) error {
	return runMap(ctx, opts)
}

// Run is asyncore.loop: it serves opts.Map (DefaultMap if nil) until it is
// empty, or for opts.Count iterations. Like asyncore, and unlike a Loop made
// with New, it asks every channel's predicates on every iteration, so a
// Readable or Writable changed in a timer, a posted function or another
// channel's handler is seen without Map.Update; Options.ActiveOnly turns
// that off. It reuses the loop already attached to
// the map when that loop has the requested backend, so calling Run with
// Count: 1 over and over (a common asyncore idiom) costs no set-up per call;
// otherwise it creates one, which it closes again once the map is empty.
// Long-lived servers usually create a Loop with New instead.
func Run(opts Options) error { return runMap(context.Background(), opts) }

func runMap(ctx context.Context, opts Options) error {
	m := opts.Map
	if m == nil {
		m = defaultMap
	}
	if m.Len() == 0 || opts.Count < 0 {
		return nil // asyncore returns at once on an empty map or count
	}
	kind := opts.Backend
	if kind == 0 && opts.UsePoll {
		kind = poller.Poll
	}
	if kind == 0 {
		kind = poller.Available()[0]
	}
	l := m.loop.Load()
	if l == nil || l.p == nil || l.Kind() != kind || l.isClosed() {
		var err error
		if l, err = New(opts); err != nil {
			return err
		}
		l.implicit = true
	}
	timeout, count, strict, check, maxConns := l.timeout, l.count, l.strict, l.check, l.maxConns
	opts.Strict = opts.Strict || !opts.ActiveOnly // asyncore asks every predicate every pass
	l.configure(opts)
	err := l.RunContext(ctx)
	l.timeout, l.count, l.strict, l.check, l.maxConns = timeout, count, strict, check, maxConns
	if l.implicit && m.Len() == 0 {
		_ = l.Close()
	}
	return err
}
