//go:build unix

package poller

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// pollPoller is the portable backend on poll(2), the call asyncore's poll2
// uses. The pollfd array handed to the kernel is kept dense and ready to
// pass as it is, so Wait does no work before the system call; an fd-indexed
// table finds an entry in O(1) for Modify and Delete, which swap-remove.
type pollPoller struct {
	fds    []unix.PollFd // what poll(2) watches, densely packed
	tags   []uint32      // tags[i] belongs to fds[i]
	index  []int32       // fd → position in fds, -1 when not watched
	next   int           // where the next Wait starts scanning, for fairness
	closed bool
}

func openPoll() (Poller, error) {
	return &pollPoller{}, nil
}

func (p *pollPoller) Kind() Kind { return Poll }

// setInterest writes an interest into pollfd.events. Read also asks for
// POLLPRI, as asyncore's poll2 does, so out-of-band data wakes the reader.
// An interest of zero leaves events at 0, and the fd stays watched: poll(2)
// sets POLLERR, POLLHUP and POLLNVAL "whenever the corresponding condition
// is true", asked for or not. The field is int16 on most systems and uint16
// on AIX, hence the untyped constants.
func setInterest(pfd *unix.PollFd, interest Events) {
	pfd.Events = 0
	if interest&Read != 0 {
		pfd.Events |= unix.POLLIN | unix.POLLPRI
	}
	if interest&Write != 0 {
		pfd.Events |= unix.POLLOUT
	}
}

// slot returns the position of fd in p.fds, or -1.
func (p *pollPoller) slot(fd int) int {
	if fd < len(p.index) {
		return int(p.index[fd])
	}
	return -1
}

func (p *pollPoller) Add(fd int, interest Events, tag uint32) error {
	if p.closed {
		return ErrClosed
	}
	if fd < 0 {
		return os.NewSyscallError("poll", unix.EBADF)
	}
	if p.slot(fd) >= 0 {
		return os.NewSyscallError("poll", unix.EEXIST)
	}
	for len(p.index) <= fd {
		p.index = append(p.index, -1)
	}
	p.index[fd] = int32(len(p.fds))
	pfd := unix.PollFd{Fd: int32(fd)}
	setInterest(&pfd, interest)
	p.fds = append(p.fds, pfd)
	p.tags = append(p.tags, tag)
	return nil
}

func (p *pollPoller) Modify(fd int, interest Events, tag uint32) error {
	if p.closed {
		return ErrClosed
	}
	if fd < 0 {
		return os.NewSyscallError("poll", unix.EBADF)
	}
	i := p.slot(fd)
	if i < 0 {
		return os.NewSyscallError("poll", unix.ENOENT)
	}
	setInterest(&p.fds[i], interest)
	p.tags[i] = tag
	return nil
}

func (p *pollPoller) Delete(fd int) error {
	if p.closed {
		return ErrClosed
	}
	if fd < 0 {
		return os.NewSyscallError("poll", unix.EBADF)
	}
	i := p.slot(fd)
	if i < 0 {
		return os.NewSyscallError("poll", unix.ENOENT)
	}
	// Move the last entry into the hole, so the array stays dense.
	last := len(p.fds) - 1
	if i != last {
		p.fds[i] = p.fds[last]
		p.tags[i] = p.tags[last]
		p.index[p.fds[i].Fd] = int32(i)
	}
	p.fds = p.fds[:last]
	p.tags = p.tags[:last]
	p.index[fd] = -1
	return nil
}

func (p *pollPoller) Wait(events []Event, timeout time.Duration) (int, error) {
	if p.closed {
		return 0, ErrClosed
	}
	if len(events) == 0 {
		return 0, ErrNoEvents
	}
	dl := newDeadline(timeout)
	for {
		ready, err := unix.Poll(p.fds, timeoutMillis(timeout))
		if err == unix.EINTR {
			timeout = dl.remaining()
			continue
		}
		if err != nil {
			return 0, os.NewSyscallError("poll", err)
		}
		return p.collect(events, ready), nil
	}
}

// collect copies up to len(events) entries with a non-zero revents. When
// events is too small to take them all, the next Wait starts where this one
// stopped, so that a few busy descriptors cannot starve the others.
func (p *pollPoller) collect(events []Event, ready int) int {
	n, total := 0, len(p.fds)
	if p.next >= total {
		p.next = 0
	}
	for k := 0; k < total && ready > 0 && n < len(events); k++ {
		i := p.next + k
		if i >= total {
			i -= total
		}
		pfd := &p.fds[i]
		if pfd.Revents == 0 {
			continue
		}
		ready--
		events[n] = Event{Fd: int(pfd.Fd), Tag: p.tags[i], Events: fromPoll(int(pfd.Revents))}
		n++
		if n == len(events) {
			p.next = i + 1
		}
	}
	return n
}

func fromPoll(bits int) Events {
	var e Events
	if bits&unix.POLLIN != 0 {
		e |= Read
	}
	if bits&unix.POLLOUT != 0 {
		e |= Write
	}
	if bits&unix.POLLPRI != 0 {
		e |= Priority
	}
	if bits&unix.POLLHUP != 0 {
		e |= Hangup
	}
	if bits&unix.POLLERR != 0 {
		e |= Err
	}
	if bits&unix.POLLNVAL != 0 {
		// The fd was closed while still registered. poll(2) keeps
		// reporting it, so the owner must Delete it or the loop spins.
		e |= Invalid
	}
	return e
}

func (p *pollPoller) Close() error {
	if p.closed {
		return ErrClosed
	}
	p.closed = true
	p.fds, p.tags, p.index = nil, nil, nil
	return nil
}
