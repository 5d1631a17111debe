// Package poller is the readiness layer under the event loop: one Poller
// interface and four backends — epoll (Linux), kqueue (macOS and the BSDs),
// poll(2) and select(2) (every Unix) — chosen at run time with Open.
//
// # The backend contract
//
// Every backend implements the same six operations and nothing else, so the
// loop above never knows which one it runs on (the shape of Redis's ae
// backends):
//
//   - Add(fd, interest, tag) starts watching fd. Interest is Read, Write or
//     both; Priority (out-of-band data) is watched implicitly with Read, as
//     asyncore's poll2 asks for POLLIN|POLLPRI. Adding an fd twice fails with
//     EEXIST. The tag is an opaque number returned with every event for that
//     registration; the loop uses it as a generation so that an event read
//     before an fd was closed and its number reused is recognised as stale.
//   - Modify(fd, interest, tag) replaces the interest and tag of a watched fd;
//     an fd that is not watched fails with ENOENT.
//   - Delete(fd) stops watching fd; an fd that is not watched fails with
//     ENOENT. Call it before close(2): epoll watches the open file
//     description, not the number, so a dup'd descriptor would otherwise keep
//     producing events for an fd nobody owns (epoll(7), "Questions and
//     answers", Q6).
//   - Wait(events, timeout) blocks until at least one watched fd is ready,
//     the timeout passes, or (for the loop's own wake-up fd) another goroutine
//     writes to it. It fills events and returns how many it filled. A negative
//     timeout blocks until an event; zero polls without blocking; a positive
//     timeout is rounded up to the next millisecond so a loop never spins on a
//     sub-millisecond deadline. EINTR never surfaces: the wait is restarted
//     with the time that is left (signal(7): these calls are never restarted
//     by SA_RESTART, and Go's asynchronous preemption sends signals often).
//   - Close releases the kernel object, if any. The Poller must not be used
//     afterwards.
//   - Kind reports which backend this is.
//
// All backends are level-triggered: an fd that stays ready is reported by
// every Wait until the condition is consumed. Each Event carries neutral bits
// translated from the kernel's: Read, Write, Priority, Hangup, Err and
// Invalid (an fd that is no longer open — POLLNVAL, or EBADF from select).
// Hangup and Err are reported whether or not they were asked for. A backend
// reports one Event per fd per Wait.
//
// A regular file cannot be watched by epoll (epoll_ctl fails with EPERM), yet
// poll(2), select(2) and kqueue report it as always ready. The epoll backend
// reproduces that, so a FileDispatcher over a regular file works the same on
// every backend.
//
// Pollers are not safe for concurrent use: the loop that owns one calls it
// from a single goroutine. Only the loop's wake-up path crosses goroutines,
// and it does so by writing to a descriptor, never by calling the Poller.
//
// # Where each backend lives
//
// A backend is one file named after it and the systems it builds on
// (epoll_linux.go, kqueue_bsd.go, poll_unix.go, select_unix.go). Where a
// system lacks a native backend, a file named after it with the suffix _stub
// stands in (epoll_stub.go, kqueue_stub.go): its opener returns
// ErrUnsupported, so Open fails cleanly rather than the build.
// native_stub.go lists the backends available where neither epoll nor
// kqueue exists.
package poller
