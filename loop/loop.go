package loop

import (
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

// DefaultTimeout is asyncore.loop's default timeout: the longest one
// iteration blocks waiting for events.
const DefaultTimeout = 30 * time.Second

// Options are asyncore.loop's parameters, named as fits Go, plus Backend and
// Strict. The zero Options run the default map on the best backend with a
// 30-second timeout until the map is empty.
type Options struct {
	// Timeout bounds how long one iteration waits for events (asyncore's
	// timeout). Zero means DefaultTimeout; a negative value means no bound:
	// wait until an event, a timer, a Post or a Stop.
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
	// were marked with Map.Update (see the package documentation).
	Strict bool
	// MaxConns caps the accepted connections the map holds (Map.Conns);
	// a listener over the cap accepts and closes new connections at once
	// (see dispatcher.Dispatcher.HandleAccept). Zero means
	// DefaultMaxConns(); a negative value means no cap. Change it while
	// running with SetMaxConns.
	MaxConns int
	// Clock, when set, replaces the monotonic system clock as the loop's
	// time source: it returns the time elapsed since a fixed start and must
	// never go backwards. Timers, Now and every timeout built on them
	// follow it. Tests set a fake clock here to check timeouts exactly,
	// whatever the scheduler does; nil means the system clock.
	Clock func() time.Duration
}

// DefaultMaxConns is the cap used when Options.MaxConns is zero: 10,000 or
// the soft RLIMIT_NOFILE less 32, whichever is smaller, so the descriptors
// the process needs for everything else (files, a backend connection, the
// poller) are never all taken by clients. Redis sizes maxclients the same
// way (CONFIG_MIN_RESERVED_FDS, reliability.md F2). It is never below 1.
func DefaultMaxConns() int {
	const most, reserved = 10000, 32
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur >= most+reserved {
		return most
	}
	return max(1, int(rl.Cur)-reserved)
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
	maxConns int // < 0: no cap

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

	wake        waker
	wakePending atomic.Bool // a wake-up was written and not yet drained
	stopReq     atomic.Bool
	posts       atomic.Int64 // functions queued and not yet run

	mu     sync.Mutex // guards posted, and closing against Post
	posted []func()
	spare  []func()
	closed atomic.Bool
}

const (
	initialEvents = 256
	maxEvents     = 4096
)

// New creates a loop for opts.Map (DefaultMap if nil) on the backend the
// options select, and attaches it to the map: from now on the map's channels
// are watched by this loop's poller.
func New(opts Options) (*Loop, error) {
	kind := opts.Backend
	if kind == 0 && opts.UsePoll {
		kind = poller.Poll
	}
	p, err := poller.Open(kind)
	if err != nil {
		return nil, err
	}
	w, err := newWaker()
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	if err := p.Add(w.fd, poller.Read, 0); err != nil {
		_ = p.Close()
		w.close()
		return nil, err
	}
	m := opts.Map
	if m == nil {
		m = defaultMap
	}
	l := &Loop{
		m:       m,
		p:       p,
		wake:    w,
		events:  make([]poller.Event, initialEvents),
		epoch:   time.Now(),
		clockFn: opts.Clock,
		// poll(2) and select(2) scan every descriptor on each call, so an
		// extra call costs in proportion to the map; epoll and kqueue
		// cost the same whatever is watched.
		pollFirst: p.Kind() == poller.Epoll || p.Kind() == poller.Kqueue,
	}
	l.configure(opts)
	if old := m.loop; old != nil && old.implicit {
		_ = old.Close()
	}
	m.attach(l)
	return l, nil
}

func (l *Loop) configure(opts Options) {
	l.timeout = opts.Timeout
	if l.timeout == 0 {
		l.timeout = DefaultTimeout
	}
	l.count, l.strict = opts.Count, opts.Strict
	l.SetMaxConns(opts.MaxConns)
}

// MaxConns reports the cap on accepted connections (Options.MaxConns), or
// -1 if there is none.
func (l *Loop) MaxConns() int { return l.maxConns }

// SetMaxConns changes the cap on accepted connections while the loop runs:
// zero means DefaultMaxConns(), a negative value no cap. Connections
// already accepted above a lowered cap are kept; new ones are refused until
// the count is below it.
func (l *Loop) SetMaxConns(n int) {
	switch {
	case n == 0:
		n = DefaultMaxConns()
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

// Kind reports the loop's poller backend.
func (l *Loop) Kind() poller.Kind { return l.p.Kind() }

// Iterations reports how many iterations (wake-ups) the loop has run. Tests
// use it to show that an idle loop does not spin.
func (l *Loop) Iterations() uint64 { return l.iterations }

// Run iterates until the map is empty, Stop is called, or the Count given to
// New has run out — asyncore.loop. It returns nil in those cases and an error
// only if the poller itself fails.
func (l *Loop) Run() error {
	if l.count < 0 {
		return nil
	}
	for i := 0; l.count == 0 || i < l.count; i++ {
		if l.m.Len() == 0 {
			return nil
		}
		if l.stopReq.CompareAndSwap(true, false) {
			return nil
		}
		if err := l.RunOnce(l.timeout); err != nil {
			return err
		}
	}
	return nil
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
	l.running = true
	defer func() { l.running = false }()
	if l.m.loop != l {
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

// wait is phase 2.
func (l *Loop) wait(timeout time.Duration) (int, error) {
	if injected, err := waitFault(); injected {
		return 0, err
	}
	if l.busy && l.pollFirst && timeout != 0 {
		// The last wait found events, so more are probably ready or
		// about to be: ask without blocking first, and yield to the Go
		// scheduler before blocking if nothing is. A blocking system
		// call that returns at once is the expensive case for a Go
		// program: the runtime may hand the thread's P to another
		// thread while it waits and has to take it back. Measured with
		// the bench harness (echo, 64 B, server CPU per request against
		// the C reference): 1.52-1.87x -> 1.13-1.22x with one
		// connection, 1.26-1.41x -> 0.92-1.13x with 50. gnet's loop does
		// the same.
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
		if !l.closed.Load() {
			l.wake.signal()
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
	l.wake.close()
	l.mu.Unlock()
	if l.m.loop == l {
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
	return l.p.Close()
}

// Run is asyncore.loop: it serves opts.Map (DefaultMap if nil) until it is
// empty, or for opts.Count iterations. It reuses the loop already attached to
// the map when that loop has the requested backend, so calling Run with
// Count: 1 over and over (a common asyncore idiom) costs no set-up per call;
// otherwise it creates one, which it closes again once the map is empty.
// Long-lived servers usually create a Loop with New instead.
func Run(opts Options) error {
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
	l := m.loop
	if l == nil || l.Kind() != kind || l.isClosed() {
		var err error
		if l, err = New(opts); err != nil {
			return err
		}
		l.implicit = true
	}
	timeout, count, strict, maxConns := l.timeout, l.count, l.strict, l.maxConns
	l.configure(opts)
	err := l.Run()
	l.timeout, l.count, l.strict, l.maxConns = timeout, count, strict, maxConns
	if l.implicit && m.Len() == 0 {
		_ = l.Close()
	}
	return err
}
