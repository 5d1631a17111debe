package loop

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/asyncore-go/asyncore/internal/sock"
	"github.com/asyncore-go/asyncore/poller"
)

// Channel is what a Map holds: an object that owns a descriptor and handles
// its events. dispatcher.Dispatcher implements it; most code never implements
// Channel directly.
type Channel interface {
	// Interest reports what the channel wants to be told about, Read
	// and/or Write, computed from its Readable and Writable predicates. It
	// is called only when the loop re-evaluates the channel (package doc).
	Interest() poller.Events
	// HandleEvents receives the readiness bits the poller reported for the
	// channel's descriptor: asyncore's readwrite().
	HandleEvents(ev poller.Events)
	// HandleError receives errors the loop meets on the channel's behalf:
	// a recovered panic (*PanicError) or a descriptor the poller refused.
	HandleError(err error)
	// Close closes the channel and removes it from its map.
	Close() error
}

// ErrBadFD is returned by Map.Add for a negative descriptor.
var ErrBadFD = errors.New("loop: negative file descriptor")

// Map is asyncore's socket map: the channels a loop serves, keyed by file
// descriptor. The zero Map is not usable; call NewMap. A Map belongs to the
// goroutine that runs its loop, except Loop and Post, which any goroutine
// may call.
type Map struct {
	entries []entry
	n       int
	lastGen uint32
	dirty   []int                // fds whose Interest must be asked again
	loop    atomic.Pointer[Loop] // the loop serving the map, if any yet

	stats Stats // see Stats; the gauges are filled in by Snapshot
}

type entry struct {
	ch       Channel
	gen      uint32        // registration generation, never 0
	applied  poller.Events // what the poller was last told
	inPoller bool
	dirty    bool
	warned   poller.Events // predicates CheckInterest has warned about
}

var defaultMap = NewMap()

// DefaultMap returns the map used when none is given: asyncore's
// module-level socket_map.
func DefaultMap() *Map { return defaultMap }

// NewMap returns an empty map.
func NewMap() *Map { return &Map{} }

// Len reports how many channels the map holds.
func (m *Map) Len() int { return m.n }

// Get returns the channel registered for fd, or nil.
func (m *Map) Get(fd int) Channel {
	if fd < 0 || fd >= len(m.entries) {
		return nil
	}
	return m.entries[fd].ch
}

// Loop returns the loop serving the map. A map has one from the start: if
// no loop has been made for it yet, Loop makes one, without a poller, so
// that setup code can arm timers on it and Post to it before anything runs;
// the New or package-level Run that first runs the map opens that loop with
// its options (backend included) and keeps what was queued. Loop may be
// called from any goroutine, and is the race-free way for another goroutine
// to reach the loop serving a map (to Post, Stop or Shutdown). The loop is
// replaced only when New makes another one for the map; timers for the
// map's channels are set on the one returned at the time.
func (m *Map) Loop() *Loop {
	for {
		if l := m.loop.Load(); l != nil {
			return l
		}
		l := newLoop(m)
		if m.loop.CompareAndSwap(nil, l) {
			return l
		}
	}
}

// Post queues f on the loop serving the map (see Loop.Post and Map.Loop).
// Any goroutine may call it, before the map first runs as well as while it
// runs.
func (m *Map) Post(f func()) error {
	for {
		l := m.Loop()
		err := l.Post(f)
		if err == nil || !errors.Is(err, ErrClosed) || m.loop.Load() == l {
			return err
		}
		// The loop closed as we posted (the package-level Run closes
		// its loop once the map is empty): post to the map's next one.
	}
}

// Add registers ch under fd: asyncore's add_channel. A channel already
// registered under fd is replaced, as in asyncore, and loses its
// registration; its descriptor is not touched. The channel's Interest is
// asked before the loop next waits. A descriptor the serving loop's
// backend cannot watch (select: fd >= FD_SETSIZE, see Loop.FDLimit) is
// refused with an error that wraps poller.ErrFDTooLarge.
func (m *Map) Add(fd int, ch Channel) error {
	if fd < 0 {
		return ErrBadFD
	}
	if ch == nil {
		return fmt.Errorf("loop: Map.Add of a nil channel for fd %d", fd)
	}
	if l := m.loop.Load(); l != nil {
		if limit := l.FDLimit(); limit > 0 && fd >= limit {
			return fmt.Errorf("loop: the %v backend cannot watch fd %d: FD_SETSIZE is %d; use poll or epoll: %w",
				l.Kind(), fd, limit, poller.ErrFDTooLarge)
		}
	}
	if fd >= len(m.entries) {
		grown := make([]entry, max(fd+1, 2*len(m.entries), 64))
		copy(grown, m.entries)
		m.entries = grown
	}
	e := &m.entries[fd]
	if e.ch != nil {
		m.unwatch(fd)
	} else {
		m.n++
	}
	m.lastGen++
	if m.lastGen == 0 { // 0 is the loop's own wake-up descriptor
		m.lastGen = 1
	}
	e.ch, e.gen, e.warned = ch, m.lastGen, 0
	m.Update(fd)
	return nil
}

// Remove unregisters fd if, and only if, it is registered to ch — so a
// channel that closes late cannot remove a newer channel that reused its
// descriptor number. It reports whether it removed anything. The poller stops
// watching fd at once, before the caller closes it (see the poller package
// on why the order matters). Remove does not close the descriptor.
func (m *Map) Remove(fd int, ch Channel) bool {
	if fd < 0 || fd >= len(m.entries) || m.entries[fd].ch == nil || m.entries[fd].ch != ch {
		return false
	}
	m.unwatch(fd)
	m.entries[fd] = entry{}
	m.n--
	if l := m.loop.Load(); m.n == 0 && l != nil {
		l.unneeded() // nothing left to serve
	}
	return true
}

// unwatch takes fd out of the attached poller, if it is in one.
func (m *Map) unwatch(fd int) {
	e := &m.entries[fd]
	if l := m.loop.Load(); e.inPoller && l != nil && l.p != nil {
		// ENOENT or EBADF here means the fd was closed behind our back;
		// either way it is no longer watched, which is what we want.
		_ = l.p.Delete(fd)
	}
	e.inPoller, e.applied = false, 0
}

// Update marks fd's channel so that its Interest is asked again before the
// loop next waits. Call it when a Readable or Writable predicate changes for
// a reason the library cannot see (dispatchers offer it as UpdateInterest).
// Updating an fd that is not registered does nothing.
func (m *Map) Update(fd int) {
	if fd < 0 || fd >= len(m.entries) {
		return
	}
	e := &m.entries[fd]
	if e.ch == nil || e.dirty {
		return
	}
	e.dirty = true
	m.dirty = append(m.dirty, fd)
}

// Range calls f for every channel in ascending fd order until f returns
// false. f may add and remove channels; a channel added during Range may or
// may not be visited.
func (m *Map) Range(f func(fd int, ch Channel) bool) {
	for fd := 0; fd < len(m.entries); fd++ {
		if ch := m.entries[fd].ch; ch != nil && !f(fd, ch) {
			return
		}
	}
}

// CloseFD closes a descriptor that was just removed from the map. While the
// loop is dispatching a batch of events the close is deferred to the end of
// the batch, so the number cannot be handed to a new socket and receive an
// event meant for the old one; otherwise it happens at once. close(2) is not
// retried on EINTR: on Linux the descriptor is released even then.
func (m *Map) CloseFD(fd int) error {
	if l := m.loop.Load(); l != nil && l.dispatching {
		l.deferred = append(l.deferred, fd)
		return nil
	}
	return closeFD(fd)
}

func closeFD(fd int) error {
	if err := sock.Close(fd); err != nil {
		return os.NewSyscallError("close", err)
	}
	return nil
}

// attach makes l the loop whose poller mirrors the map. The previous loop's
// poller forgets every fd, and every channel is asked its Interest afresh;
// the previous loop is told it is no longer needed (see implicit.go).
func (m *Map) attach(l *Loop) {
	old := m.loop.Load()
	if old == l {
		return
	}
	m.unwatchAll()
	// Swapped in one store, never through nil, so that a Map.Loop racing
	// with it cannot slip a loop of its own in between.
	m.loop.Store(l)
	for fd := range m.entries {
		m.Update(fd)
	}
	if old != nil {
		old.unneeded()
	}
}

// detach unhooks the map from its loop, taking every fd out of that loop's
// poller.
func (m *Map) detach() {
	l := m.loop.Load()
	if l == nil {
		return
	}
	m.unwatchAll()
	m.loop.CompareAndSwap(l, nil)
}

func (m *Map) unwatchAll() {
	for fd := range m.entries {
		m.unwatch(fd)
	}
}
