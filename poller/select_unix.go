//go:build unix

package poller

import (
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fdSetSize is FD_SETSIZE: the number of bits in an fd_set (1024 with glibc
// and on the BSDs). select(2), BUGS: "an fd_set is a fixed size buffer";
// passing a larger fd is undefined behaviour, and unix.FdSet.Set indexes its
// array without a bounds check, so such an fd would panic.
const fdSetSize = int(unsafe.Sizeof(unix.FdSet{})) * 8

// FDSetSize is FD_SETSIZE, the number of descriptors an fd_set holds: the
// select backend watches only descriptors below it (see FDLimit).
const FDSetSize = fdSetSize

// FDLimit returns the number of descriptors the backend k can watch — it
// watches 0 to FDLimit()-1 — or 0 when only the system limits it: FDSetSize
// for Select, 0 for the others. A server on select must refuse connections
// whose descriptor is at or above it, as dispatcher.Dispatcher does.
func (k Kind) FDLimit() int {
	if k == Select {
		return fdSetSize
	}
	return 0
}

// ErrFDTooLarge is returned by the select backend's Add and Modify for a
// descriptor that does not fit in an fd_set (fd >= FD_SETSIZE). Go raises
// the soft RLIMIT_NOFILE at start-up, so such descriptors do occur; use the
// poll or epoll backend for them.
var ErrFDTooLarge = errors.New("poller: descriptor does not fit in select's fd_set")

// selectPoller is the last-resort backend on select(2), the call asyncore
// uses by default. Master sets hold the interest and are copied for every
// Wait, because select overwrites its arguments with the result.
type selectPoller struct {
	rset, wset, eset unix.FdSet // the interest, kept between calls
	r, w, e          unix.FdSet // the copies select(2) overwrites
	tv               unix.Timeval
	watch            [fdSetSize]selectWatch
	maxfd            int // highest watched fd, -1 when none
	next             int // where the next Wait starts scanning, for fairness
	closed           bool
}

type selectWatch struct {
	on       bool
	interest Events
	tag      uint32
}

func openSelect() (Poller, error) {
	return &selectPoller{maxfd: -1}, nil
}

func (p *selectPoller) Kind() Kind { return Select }

// check refuses what an fd_set cannot hold, before any set is touched.
func (p *selectPoller) check(fd int) error {
	switch {
	case p.closed:
		return ErrClosed
	case fd < 0:
		return os.NewSyscallError("select", unix.EBADF)
	case fd >= fdSetSize:
		return fmt.Errorf("poller: select cannot watch fd %d: FD_SETSIZE is %d; use poll or epoll: %w",
			fd, fdSetSize, ErrFDTooLarge)
	}
	return nil
}

// set writes the interest of fd into the master sets. Like asyncore's
// select loop, which puts every readable or writable fd in the exception
// set too, any non-zero interest asks for exceptional conditions
// (out-of-band data), which select reports in the exception set.
func (p *selectPoller) set(fd int, interest Events, tag uint32) {
	p.watch[fd] = selectWatch{on: true, interest: interest, tag: tag}
	p.rset.Clear(fd)
	p.wset.Clear(fd)
	p.eset.Clear(fd)
	if interest&Read != 0 {
		p.rset.Set(fd)
	}
	if interest&Write != 0 {
		p.wset.Set(fd)
	}
	if interest&(Read|Write) != 0 {
		p.eset.Set(fd)
	}
}

func (p *selectPoller) Add(fd int, interest Events, tag uint32) error {
	if err := p.check(fd); err != nil {
		return err
	}
	if p.watch[fd].on {
		return os.NewSyscallError("select", unix.EEXIST)
	}
	p.set(fd, interest, tag)
	p.maxfd = max(p.maxfd, fd)
	return nil
}

func (p *selectPoller) Modify(fd int, interest Events, tag uint32) error {
	if err := p.check(fd); err != nil {
		return err
	}
	if !p.watch[fd].on {
		return os.NewSyscallError("select", unix.ENOENT)
	}
	p.set(fd, interest, tag)
	return nil
}

func (p *selectPoller) Delete(fd int) error {
	if p.closed {
		return ErrClosed
	}
	if fd < 0 {
		return os.NewSyscallError("select", unix.EBADF)
	}
	if fd >= fdSetSize || !p.watch[fd].on {
		return os.NewSyscallError("select", unix.ENOENT)
	}
	p.set(fd, 0, 0)
	p.watch[fd] = selectWatch{}
	for p.maxfd >= 0 && !p.watch[p.maxfd].on {
		p.maxfd--
	}
	return nil
}

func (p *selectPoller) Wait(events []Event, timeout time.Duration) (int, error) {
	if p.closed {
		return 0, ErrClosed
	}
	if len(events) == 0 {
		return 0, ErrNoEvents
	}
	dl := newDeadline(timeout)
	for {
		p.r, p.w, p.e = p.rset, p.wset, p.eset
		// select takes microseconds, but the timeout is rounded up to whole
		// milliseconds like every other backend's.
		var tv *unix.Timeval
		if ms := timeoutMillis(timeout); ms >= 0 {
			p.tv = unix.NsecToTimeval(int64(ms) * int64(time.Millisecond))
			tv = &p.tv
		}
		ready, err := unix.Select(p.maxfd+1, &p.r, &p.w, &p.e, tv)
		switch err {
		case nil:
			return p.collect(events, ready), nil
		case unix.EINTR:
			timeout = dl.remaining()
			continue
		case unix.EBADF:
			// A watched fd was closed behind our back. select(2) does not
			// say which, so ask each one; poll(2) would have said POLLNVAL.
			if n := p.invalid(events); n > 0 {
				return n, nil
			}
		}
		return 0, os.NewSyscallError("select", err)
	}
}

// collect turns the result sets into events, one per fd. ready is the
// number of bits select(2) set across the three sets. When events is too
// small, the next Wait starts where this one stopped.
func (p *selectPoller) collect(events []Event, ready int) int {
	n, span := 0, p.maxfd+1
	if p.next >= span {
		p.next = 0
	}
	for k := 0; k < span && ready > 0 && n < len(events); k++ {
		fd := p.next + k
		if fd >= span {
			fd -= span
		}
		var e Events
		if p.r.IsSet(fd) {
			e |= Read
			ready--
		}
		if p.w.IsSet(fd) {
			e |= Write
			ready--
		}
		if p.e.IsSet(fd) {
			e |= Priority
			ready--
		}
		if e == 0 {
			continue
		}
		events[n] = Event{Fd: fd, Tag: p.watch[fd].tag, Events: e}
		n++
		if n == len(events) {
			p.next = fd + 1
		}
	}
	return n
}

// invalid reports every watched fd that is no longer open as Invalid.
func (p *selectPoller) invalid(events []Event) int {
	n := 0
	for fd := 0; fd <= p.maxfd && n < len(events); fd++ {
		if !p.watch[fd].on {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == unix.EBADF {
			events[n] = Event{Fd: fd, Tag: p.watch[fd].tag, Events: Invalid}
			n++
		}
	}
	return n
}

func (p *selectPoller) Close() error {
	if p.closed {
		return ErrClosed
	}
	p.closed = true
	return nil
}
