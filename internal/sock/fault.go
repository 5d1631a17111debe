package sock

import (
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Fault injection, for tests only.
//
// The kernel rarely produces some of the errors a reactor must survive — an
// EINTR in the middle of a read, a one-byte write, ECONNABORTED or EMFILE
// from accept, a close that fails — and never on demand, so their handling
// would go untested. docs/failure-modes.md#test-harness-notes asks for a seam
// through which a test scripts them instead: every system call the library
// makes once a socket is set up — the operations below — first asks the
// installed Injector what should happen. (The set-up calls in setup.go do
// not: they fail, if ever, where the caller's error return says it all.)
// With none installed, which is always the case outside tests, the question
// costs one atomic load and the call goes to the kernel as before.

// Op names a system call that the fault-injection seam can fail.
type Op uint8

// The operations Inject is asked about.
const (
	// OpAccept is accept(2) or accept4(2) on a listener.
	OpAccept Op = iota + 1
	// OpRead is read(2) on a socket or file, or recvfrom(2) on a
	// datagram socket (where a Max below the datagram's length truncates
	// it, as a short buffer would).
	OpRead
	// OpWrite is any write: send(2), sendto(2), write(2), sendmsg(2) or
	// writev(2).
	OpWrite
	// OpConnect is connect(2), which a non-blocking socket only starts.
	OpConnect
	// OpSoError is the read of a socket's pending error (SO_ERROR): how a
	// non-blocking connect reports its outcome. An injected Err is what the
	// socket reports as pending, not a failure of getsockopt(2).
	OpSoError
	// OpClose is close(2).
	OpClose
	// OpWait is the poller's wait (epoll_wait, kevent, poll or select);
	// the descriptor is -1.
	OpWait
	// OpShutdown is shutdown(2).
	OpShutdown
	// OpOpen is the creation of a descriptor that is not a socket: the
	// open(2) of /dev/null, eventfd(2), pipe(2). The descriptor is -1.
	OpOpen
)

var opNames = [...]string{
	OpAccept:   "accept",
	OpRead:     "read",
	OpWrite:    "write",
	OpConnect:  "connect",
	OpSoError:  "so_error",
	OpClose:    "close",
	OpWait:     "wait",
	OpShutdown: "shutdown",
	OpOpen:     "open",
}

// String returns the operation's name: "accept", "read", and so on.
func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Fault is what an Injector decides for one system call. The zero Fault
// lets the call go to the kernel unchanged.
type Fault struct {
	// Err, if not zero, makes the call fail with this errno without
	// reaching the kernel — except close, which really closes the
	// descriptor first (see Close). An EINTR is retried like a real one,
	// and the Injector is asked again for the retry.
	Err unix.Errno
	// Max, if positive, caps the bytes a read or write may move: the call
	// reaches the kernel with its buffers cut to Max bytes, which is how a
	// test makes short reads and writes.
	Max int
}

// limit cuts p to the fault's Max.
func (f Fault) limit(p []byte) []byte {
	if f.Max > 0 && len(p) > f.Max {
		return p[:f.Max]
	}
	return p
}

// Injector decides the fault for one system call: op on descriptor fd. It
// is called on the goroutine making the call, once per attempt (a retried
// EINTR asks again), so a test can script a sequence of outcomes per
// descriptor. An Injector that answers EINTR for ever makes the call spin.
type Injector func(op Op, fd int) Fault

var injector atomic.Pointer[Injector]

// SetInjector installs f as the process's fault injector (nil removes it)
// and returns a function that puts back the one installed before. It is for
// tests only: the injector sees the calls of every goroutine in the
// process, so a test that installs one must not run in parallel with other
// tests that do I/O through this package, and should filter on the
// descriptors it owns.
func SetInjector(f Injector) (restore func()) {
	var p *Injector
	if f != nil {
		p = &f
	}
	old := injector.Swap(p)
	return func() { injector.Store(old) }
}

// Inject returns the fault the installed injector decides for op on fd, or
// the zero Fault, with a single atomic load, when there is none. It is
// small enough to be inlined at every call site; the call of the injector
// is kept out of line.
func Inject(op Op, fd int) Fault {
	if injector.Load() != nil {
		return injectSlow(op, fd)
	}
	return Fault{}
}

// injectSlow calls the injector, if it is still installed.
func injectSlow(op Op, fd int) Fault {
	if p := injector.Load(); p != nil {
		return (*p)(op, fd)
	}
	return Fault{}
}
