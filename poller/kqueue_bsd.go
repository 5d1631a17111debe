//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package poller

import (
	"errors"
	"os"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var available = []Kind{Kqueue, Poll, Select}

// kqueuePoller is the backend for macOS and the BSDs. kqueue(2) watches
// (ident, filter) pairs, so one fd is up to two registrations, EVFILT_READ
// and EVFILT_WRITE, and Wait merges their events back into one Event per fd.
// Interest and tag live in an fd-indexed table rather than in udata, which
// is a *byte on most BSDs and must not carry integers past the GC.
type kqueuePoller struct {
	kq      int
	watch   []kqueueWatch    // indexed by fd
	files   []int            // watched regular files, always ready
	kernel  []unix.Kevent_t  // Wait's buffer, grown to the caller's size once
	changes [2]unix.Kevent_t // scratch changelist for Add, Modify and Delete
	ts      unix.Timespec    // Wait's timeout, kept here so it never escapes
	gen     uint64           // counts Waits, to spot an fd already in events
}

type kqueueWatch struct {
	on       bool
	file     bool // a regular file: no kevents, reported ready by Wait
	interest Events
	tag      uint32
	gen      uint64 // the Wait in which this fd last got an Event
	slot     int    // that Event's index in Wait's events
}

func openKqueue() (Poller, error) {
	// kqueue(2) has no close-on-exec flag on every system we build for, so
	// set it under ForkLock, as the syscall package does for its own fds,
	// lest a concurrent fork+exec inherit the descriptor.
	syscall.ForkLock.RLock()
	fd, err := unix.Kqueue()
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, os.NewSyscallError("kqueue", err)
	}
	return &kqueuePoller{kq: fd}, nil
}

func (p *kqueuePoller) Kind() Kind { return Kqueue }

// lookup returns the table entry of a watched fd, or nil.
func (p *kqueuePoller) lookup(fd int) *kqueueWatch {
	if fd >= 0 && fd < len(p.watch) && p.watch[fd].on {
		return &p.watch[fd]
	}
	return nil
}

// watched is lookup for Modify and Delete, with the error they return.
func (p *kqueuePoller) watched(fd int) (*kqueueWatch, error) {
	if p.kq < 0 {
		return nil, ErrClosed
	}
	if w := p.lookup(fd); w != nil {
		return w, nil
	}
	return nil, os.NewSyscallError("kevent", unix.ENOENT)
}

// ctl registers the filters in add and removes those in del, in one
// kevent(2) call. With no room for events, kevent stops at the first change
// that fails and returns its errno.
func (p *kqueuePoller) ctl(fd int, add, del Events) error {
	changes := p.changes[:0]
	for i, filter := range [...]int{unix.EVFILT_READ, unix.EVFILT_WRITE} {
		bit := Read << i // Read, then Write
		var k unix.Kevent_t
		if add&bit != 0 {
			unix.SetKevent(&k, fd, filter, unix.EV_ADD)
		} else if del&bit != 0 {
			unix.SetKevent(&k, fd, filter, unix.EV_DELETE)
		} else {
			continue
		}
		changes = append(changes, k)
	}
	if len(changes) == 0 {
		return nil
	}
	_, err := unix.Kevent(p.kq, changes, nil, nil)
	return os.NewSyscallError("kevent", err) // nil when err is nil
}

func (p *kqueuePoller) Add(fd int, interest Events, tag uint32) error {
	if p.kq < 0 {
		return ErrClosed
	}
	if p.lookup(fd) != nil { // lookup refuses fd < 0; fstat fails with EBADF
		return os.NewSyscallError("kevent", unix.EEXIST)
	}
	// EVFILT_READ on a regular file fires only while the offset is short of
	// the end (kqueue(2), "vnodes"), so a reader would never see EOF. poll(2)
	// calls such a file always ready; report it so here too, as epoll does.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return os.NewSyscallError("fstat", err)
	}
	file := uint32(st.Mode)&unix.S_IFMT == unix.S_IFREG
	if !file {
		if err := p.ctl(fd, interest, 0); err != nil {
			_ = p.ctl(fd, 0, interest) // undo a half-applied change
			return err
		}
	}
	for len(p.watch) <= fd {
		p.watch = append(p.watch, kqueueWatch{})
	}
	p.watch[fd] = kqueueWatch{on: true, file: file, interest: interest, tag: tag}
	if file {
		p.files = append(p.files, fd)
	}
	return nil
}

func (p *kqueuePoller) Modify(fd int, interest Events, tag uint32) error {
	w, err := p.watched(fd)
	if err != nil {
		return err
	}
	if !w.file {
		// Apply only the difference: kqueue keeps each filter separately.
		old, now := w.interest&(Read|Write), interest&(Read|Write)
		if err := p.ctl(fd, now&^old, old&^now); err != nil {
			return err
		}
	}
	w.interest, w.tag = interest, tag
	return nil
}

func (p *kqueuePoller) Delete(fd int) error {
	w, err := p.watched(fd)
	if err != nil {
		return err
	}
	interest, file := w.interest, w.file
	*w = kqueueWatch{}
	if file {
		p.files = slices.DeleteFunc(p.files, func(f int) bool { return f == fd })
		return nil
	}
	// close(2) removes every knote of the fd (kqueue(2)), so a filter that
	// is already gone is not an error: the fd is no longer watched either way.
	err = p.ctl(fd, 0, interest)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EBADF) {
		return nil
	}
	return err
}

func (p *kqueuePoller) Wait(events []Event, timeout time.Duration) (int, error) {
	if p.kq < 0 {
		return 0, ErrClosed
	}
	if len(events) == 0 {
		return 0, ErrNoEvents
	}
	p.gen++
	n := p.readyFiles(events)
	if n > 0 {
		timeout = 0 // something is ready already: just collect the rest
	}
	if n == len(events) {
		return n, nil
	}
	if cap(p.kernel) < len(events)-n {
		p.kernel = make([]unix.Kevent_t, len(events)-n)
	}
	kernel := p.kernel[:len(events)-n]
	dl := newDeadline(timeout)
	for {
		var ts *unix.Timespec
		if ms := timeoutMillis(timeout); ms >= 0 {
			p.ts = unix.NsecToTimespec(int64(ms) * int64(time.Millisecond))
			ts = &p.ts
		}
		got, err := unix.Kevent(p.kq, nil, kernel, ts)
		if err == unix.EINTR {
			timeout = dl.remaining()
			continue
		}
		if err != nil {
			return n, os.NewSyscallError("kevent", err)
		}
		// At most one kevent per filter, so never more Events than kevents.
		for i := 0; i < got; i++ {
			k := &kernel[i]
			w := p.lookup(int(k.Ident))
			if w == nil {
				continue
			}
			if w.gen == p.gen {
				events[w.slot].Events |= fromKevent(k)
				continue
			}
			w.gen, w.slot = p.gen, n
			events[n] = Event{Fd: int(k.Ident), Tag: w.tag, Events: fromKevent(k)}
			n++
		}
		return n, nil
	}
}

// readyFiles reports every watched regular file as ready for what it wants.
func (p *kqueuePoller) readyFiles(events []Event) int {
	n := 0
	for _, fd := range p.files {
		w := &p.watch[fd]
		if w.interest&(Read|Write) == 0 || n == len(events) {
			continue
		}
		w.gen, w.slot = p.gen, n
		events[n] = Event{Fd: fd, Tag: w.tag, Events: w.interest & (Read | Write)}
		n++
	}
	return n
}

// fromKevent translates one filter's event. EV_EOF on the read filter still
// means Read: buffered data may remain, and the read that drains it returns
// 0. EV_EOF on the write filter means the reader is gone (Hangup). A socket
// error arrives as EV_EOF with the errno in fflags (kqueue(2), EVFILT_READ).
func fromKevent(k *unix.Kevent_t) Events {
	var e Events
	eof := k.Flags&unix.EV_EOF != 0
	switch {
	case k.Flags&unix.EV_ERROR != 0:
		return Err
	case k.Filter == unix.EVFILT_READ:
		e = Read
	case eof: // on EVFILT_WRITE, the only other filter we register
		e = Hangup
	default:
		e = Write
	}
	if eof && k.Fflags != 0 {
		e |= Err
	}
	return e
}

func (p *kqueuePoller) Close() error {
	if p.kq < 0 {
		return ErrClosed
	}
	err := unix.Close(p.kq)
	p.kq = -1
	return os.NewSyscallError("close", err)
}
