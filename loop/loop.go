package loop

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asyncore-go/asyncore/poller"
)

// Errors returned by a Loop.
var (
	ErrClosed  = errors.New("loop: loop is closed")
	ErrRunning = errors.New("loop: Run called while the loop is already running")
)

// Loop is a reusable reactor over one Map: a poller, a timer heap and a queue
// of posted functions. Create it with New, drive it with Run or RunOnce from
// one goroutine, and Close it when done. Post and Stop may be called from any
// goroutine.
type Loop struct {
	m       *Map
	p       poller.Poller
	timeout time.Duration
	count   int
	strict  bool
	check   bool // Options.CheckInterest

	events      []poller.Event
	dispatching bool  // phase 3 is under way: closes are deferred
	deferred    []int // fds to close when the batch is done
	running     bool
	implicit    bool // made by the package-level Run: see implicit.go
	pollFirst   bool // see wait
	busy        bool // the last wait returned events

	timers  timerHeap
	epoch   time.Time            // timer deadlines are nanoseconds since epoch
	clockFn func() time.Duration // Options.Clock; nil reads time.Since(epoch)
	lastNow int64                // the last value now returned
	clock   int64                // what Now returns while an iteration runs
	peerLog LogGate              // see PeerLog
	readBuf readBuffer           // see BorrowReadBuffer

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
	if old := m.loop.Load(); old != nil {
		old.replaced()
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
