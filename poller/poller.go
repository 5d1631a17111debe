package poller

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Events is a set of readiness bits. As an interest (Add, Modify) only Read
// and Write are meaningful; as a result (Event.Events) any bit may be set.
type Events uint8

// The readiness bits, translated from each kernel's own flags.
const (
	// Read: data or EOF can be read, or a listener has a pending connection.
	Read Events = 1 << iota
	// Write: there is room to write, or a non-blocking connect has finished.
	Write
	// Priority: out-of-band (urgent) data is waiting (POLLPRI, EPOLLPRI,
	// select's exception set).
	Priority
	// Hangup: the peer hung up (POLLHUP, EPOLLHUP, kqueue EV_EOF on write).
	Hangup
	// Err: an error is pending on the socket (POLLERR, EPOLLERR, EV_ERROR).
	Err
	// Invalid: the descriptor is not open (POLLNVAL, EBADF from select).
	Invalid
)

// String lists the bits, for logs and test failures: "read|write".
func (e Events) String() string {
	if e == 0 {
		return "none"
	}
	names := [...]string{"read", "write", "priority", "hangup", "err", "invalid"}
	var parts []string
	for i, name := range names {
		if e&(1<<i) != 0 {
			parts = append(parts, name)
		}
	}
	return strings.Join(parts, "|")
}

// Event reports the readiness of one watched descriptor.
type Event struct {
	Fd     int    // the descriptor
	Tag    uint32 // the tag given to Add or Modify when Wait collected the event
	Events Events // what the descriptor is ready for
}

// Kind names a backend.
type Kind uint8

// The backends. The zero Kind means "the best available" wherever a Kind is
// accepted as an option.
const (
	Epoll Kind = iota + 1
	Kqueue
	Poll
	Select
)

// String returns the backend's name: "epoll", "kqueue", "poll" or "select",
// and "best" for the zero Kind, which stands for the best available.
func (k Kind) String() string {
	switch k {
	case 0:
		return "best"
	case Epoll:
		return "epoll"
	case Kqueue:
		return "kqueue"
	case Poll:
		return "poll"
	case Select:
		return "select"
	}
	return fmt.Sprintf("poller.Kind(%d)", uint8(k))
}

// ParseKind turns a backend name, as printed by Kind.String, back into a
// Kind; "best" and "" give the zero Kind.
func ParseKind(name string) (Kind, error) {
	if name == "" || name == "best" {
		return 0, nil
	}
	for _, k := range []Kind{Epoll, Kqueue, Poll, Select} {
		if k.String() == name {
			return k, nil
		}
	}
	return 0, fmt.Errorf("poller: unknown backend %q (want epoll, kqueue, poll, select or best)", name)
}

// Set parses a backend name into k, so that a Kind is a flag.Value:
//
//	var kind poller.Kind // the best available unless -backend says otherwise
//	flag.Var(&kind, "backend", "poller: epoll, kqueue, poll, select or best")
func (k *Kind) Set(name string) error {
	parsed, err := ParseKind(name)
	if err != nil {
		return err
	}
	*k = parsed
	return nil
}

// Poller watches descriptors for readiness. The contract every backend keeps
// is in the package documentation.
type Poller interface {
	// Kind reports which backend this is.
	Kind() Kind
	// Add starts watching fd for interest (Read, Write or both) with the
	// given tag. Adding a watched fd fails with EEXIST.
	Add(fd int, interest Events, tag uint32) error
	// Modify replaces the interest and tag of a watched fd. An fd that is
	// not watched fails with ENOENT.
	Modify(fd int, interest Events, tag uint32) error
	// Delete stops watching fd. An fd that is not watched fails with ENOENT.
	Delete(fd int) error
	// Wait blocks for at most timeout (negative: without limit; zero: not
	// at all) and fills events with the ready descriptors, returning how
	// many. It never returns EINTR. A nil or empty events slice is an error.
	Wait(events []Event, timeout time.Duration) (int, error)
	// Close releases the backend's kernel resources.
	Close() error
}

// ErrUnsupported is returned by Open for a backend this operating system
// does not have (kqueue on Linux, epoll on macOS).
var ErrUnsupported = errors.New("poller: backend not supported on this system")

// ErrNoEvents is returned by Wait when it is given no room for events.
var ErrNoEvents = errors.New("poller: Wait needs a non-empty events slice")

// ErrClosed is returned by a Poller that has been closed.
var ErrClosed = errors.New("poller: use of closed poller")

// Open creates a Poller of the given kind. The zero Kind opens the best
// backend available (the first of Available()).
func Open(kind Kind) (Poller, error) {
	if kind == 0 {
		kind = Available()[0]
	}
	switch kind {
	case Epoll:
		return openEpoll()
	case Kqueue:
		return openKqueue()
	case Poll:
		return openPoll()
	case Select:
		return openSelect()
	}
	return nil, fmt.Errorf("poller: unknown backend %v", kind)
}

// Available lists the backends this operating system supports, best first:
// epoll or kqueue, then poll, then select.
func Available() []Kind {
	return append([]Kind(nil), available...)
}

// timeoutMillis converts a Wait timeout to the millisecond count epoll_wait,
// poll and kevent want: -1 blocks, 0 polls, and anything else is rounded up
// so that a sub-millisecond timer does not turn into a busy loop of zero
// waits (Redis's ae rounds the same way).
func timeoutMillis(timeout time.Duration) int {
	switch {
	case timeout < 0:
		return -1
	case timeout == 0:
		return 0
	}
	ms := (timeout + time.Millisecond - 1) / time.Millisecond
	if ms > 1<<31-1 {
		return -1 // longer than the kernel accepts: treat as "no limit"
	}
	return int(ms)
}

// deadline tracks what is left of a Wait timeout when EINTR makes a backend
// restart the system call.
type deadline struct {
	timeout time.Duration
	end     time.Time
}

func newDeadline(timeout time.Duration) deadline {
	d := deadline{timeout: timeout}
	if timeout > 0 {
		d.end = time.Now().Add(timeout)
	}
	return d
}

// remaining is the timeout to pass on a restart: unchanged for "block" and
// "poll", what is left (never below zero) otherwise.
func (d deadline) remaining() time.Duration {
	if d.timeout <= 0 {
		return d.timeout
	}
	left := time.Until(d.end)
	if left < 0 {
		return 0
	}
	return left
}
