//go:build linux

package poller

import (
	"errors"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

var available = []Kind{Epoll, Poll, Select}

// epollPoller is the Linux backend: level-triggered epoll, with the tag kept
// in the spare word of epoll_event so that no lookup is needed per event.
type epollPoller struct {
	epfd   int
	kernel []unix.EpollEvent // Wait's buffer, grown to the caller's size once
	// files holds regular files and other descriptors epoll refuses with
	// EPERM. poll(2) and select(2) report them as always ready, and so do we.
	files map[int]fileWatch
}

type fileWatch struct {
	interest Events
	tag      uint32
}

func openEpoll() (Poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	return &epollPoller{epfd: fd}, nil
}

func (p *epollPoller) Kind() Kind { return Epoll }

func epollBits(interest Events) uint32 {
	var bits uint32
	if interest&Read != 0 {
		bits |= unix.EPOLLIN | unix.EPOLLPRI
	}
	if interest&Write != 0 {
		bits |= unix.EPOLLOUT
	}
	return bits
}

func (p *epollPoller) ctl(op, fd int, interest Events, tag uint32) error {
	if p.epfd < 0 {
		return ErrClosed
	}
	ev := unix.EpollEvent{Events: epollBits(interest), Fd: int32(fd), Pad: int32(tag)}
	// epoll_ctl never blocks: a raw system call, without the runtime's
	// preparation for one that might (see epollWait).
	if _, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(p.epfd), uintptr(op), uintptr(fd),
		uintptr(unsafe.Pointer(&ev)), 0, 0); errno != 0 {
		return os.NewSyscallError("epoll_ctl", errno)
	}
	return nil
}

func (p *epollPoller) Add(fd int, interest Events, tag uint32) error {
	if _, ok := p.files[fd]; ok {
		return os.NewSyscallError("epoll_ctl", unix.EEXIST)
	}
	err := p.ctl(unix.EPOLL_CTL_ADD, fd, interest, tag)
	if errors.Is(err, unix.EPERM) {
		// A regular file or directory: epoll(7) refuses it, poll(2)
		// reports it ready at once. Keep it aside and report it ready.
		if p.files == nil {
			p.files = make(map[int]fileWatch)
		}
		p.files[fd] = fileWatch{interest, tag}
		return nil
	}
	return err
}

func (p *epollPoller) Modify(fd int, interest Events, tag uint32) error {
	if _, ok := p.files[fd]; ok {
		p.files[fd] = fileWatch{interest, tag}
		return nil
	}
	return p.ctl(unix.EPOLL_CTL_MOD, fd, interest, tag)
}

func (p *epollPoller) Delete(fd int) error {
	if _, ok := p.files[fd]; ok {
		delete(p.files, fd)
		return nil
	}
	// Kernels before 2.6.9 want a non-nil event even for EPOLL_CTL_DEL;
	// ctl always passes one.
	return p.ctl(unix.EPOLL_CTL_DEL, fd, 0, 0)
}

func (p *epollPoller) Wait(events []Event, timeout time.Duration) (int, error) {
	if p.epfd < 0 {
		return 0, ErrClosed
	}
	if len(events) == 0 {
		return 0, ErrNoEvents
	}
	n := p.readyFiles(events)
	if n > 0 {
		timeout = 0 // something is ready already: just collect the rest
	}
	if n == len(events) {
		return n, nil
	}
	if cap(p.kernel) < len(events)-n {
		p.kernel = make([]unix.EpollEvent, len(events)-n)
	}
	kernel := p.kernel[:len(events)-n]
	dl := newDeadline(timeout)
	for {
		got, err := epollWait(p.epfd, kernel, timeoutMillis(timeout))
		if err == unix.EINTR {
			timeout = dl.remaining()
			continue
		}
		if err != nil {
			return n, os.NewSyscallError("epoll_wait", err)
		}
		for i := 0; i < got; i++ {
			k := &kernel[i]
			events[n] = Event{Fd: int(k.Fd), Tag: uint32(k.Pad), Events: fromEpoll(k.Events)}
			n++
		}
		return n, nil
	}
}

// epollWait is epoll_wait(2). With a zero timeout the call cannot block,
// so it is made as a raw system call, without the Go runtime's preparation
// for one that may block (making the thread's P available to others, and
// taking it back afterwards), which costs more than the call itself. The
// loop makes such a call before every wait that may block (its phase 2), so
// a busy loop mostly polls this way.
func epollWait(epfd int, events []unix.EpollEvent, msec int) (int, error) {
	if msec != 0 {
		return unix.EpollWait(epfd, events, msec)
	}
	// epoll_pwait with no signal mask is epoll_wait, and exists on every
	// Linux architecture (arm64 has no epoll_wait).
	n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// readyFiles reports every watched regular file as ready for what it wants.
func (p *epollPoller) readyFiles(events []Event) int {
	if len(p.files) == 0 {
		// The usual case. Ranging over even an empty map costs an
		// iterator set-up on every Wait, more than the rest of Wait's
		// own work for one event.
		return 0
	}
	n := 0
	for fd, w := range p.files {
		if w.interest == 0 || n == len(events) {
			continue
		}
		events[n] = Event{Fd: fd, Tag: w.tag, Events: w.interest & (Read | Write)}
		n++
	}
	return n
}

func fromEpoll(bits uint32) Events {
	var e Events
	if bits&(unix.EPOLLIN|unix.EPOLLRDHUP) != 0 {
		e |= Read
	}
	if bits&unix.EPOLLOUT != 0 {
		e |= Write
	}
	if bits&unix.EPOLLPRI != 0 {
		e |= Priority
	}
	if bits&unix.EPOLLHUP != 0 {
		e |= Hangup
	}
	if bits&unix.EPOLLERR != 0 {
		e |= Err
	}
	return e
}

func (p *epollPoller) Close() error {
	if p.epfd < 0 {
		return ErrClosed
	}
	err := unix.Close(p.epfd)
	p.epfd = -1
	if err != nil {
		return os.NewSyscallError("close", err)
	}
	return nil
}
