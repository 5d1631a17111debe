//go:build unix

package poller

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// env is one conformance test's poller and the descriptors it opened, which
// are closed when the test ends unless the test closed them itself.
type env struct {
	t    *testing.T
	kind Kind
	p    Poller
	open map[int]bool
	buf  [64]Event
}

func newEnv(t *testing.T, kind Kind) *env {
	t.Helper()
	p, err := Open(kind)
	require.NoError(t, err)
	require.Equal(t, kind, p.Kind())
	e := &env{t: t, kind: kind, p: p, open: make(map[int]bool)}
	t.Cleanup(func() {
		_ = e.p.Close()
		for fd := range e.open {
			_ = unix.Close(fd)
		}
	})
	return e
}

func (e *env) track(fds ...int) {
	for _, fd := range fds {
		e.open[fd] = true
	}
}

// socketpair returns a connected, non-blocking AF_UNIX stream pair.
func (e *env) socketpair() (int, int) {
	e.t.Helper()
	fds, err := testutil.NewSocketpair()
	require.NoError(e.t, err)
	e.track(fds[0], fds[1])
	return fds[0], fds[1]
}

// pipe returns the read and write ends of a pipe.
func (e *env) pipe() (int, int) {
	e.t.Helper()
	fds, err := testutil.NewPipe()
	require.NoError(e.t, err)
	e.track(fds[0], fds[1])
	return fds[0], fds[1]
}

func (e *env) close(fd int) {
	e.t.Helper()
	require.True(e.t, e.open[fd], "fd %d is not open", fd)
	delete(e.open, fd)
	require.NoError(e.t, unix.Close(fd))
}

func (e *env) write(fd int, s string) {
	e.t.Helper()
	testutil.Write(e.t, fd, s)
}

// wait runs one Wait, which must succeed, and returns the events.
func (e *env) wait(timeout time.Duration) []Event {
	e.t.Helper()
	n, err := e.p.Wait(e.buf[:], timeout)
	require.NoError(e.t, err)
	require.LessOrEqual(e.t, n, len(e.buf))
	evs := e.buf[:n]
	for i, ev := range evs {
		for _, other := range evs[i+1:] {
			require.NotEqual(e.t, ev.Fd, other.Fd, "two events for one fd in one Wait: %v", evs)
		}
	}
	return evs
}

// waitFor waits, with a generous limit, until fd is reported with any of
// the bits in want, and returns that event.
func (e *env) waitFor(fd int, want Events) Event {
	e.t.Helper()
	limit := time.Now().Add(5 * time.Second)
	for time.Now().Before(limit) {
		if ev, ok := find(e.wait(time.Until(limit)), fd); ok && ev.Events&want != 0 {
			return ev
		}
	}
	require.Failf(e.t, "no event", "fd %d was not reported %v within 5s", fd, want)
	return Event{}
}

func find(evs []Event, fd int) (Event, bool) {
	for _, ev := range evs {
		if ev.Fd == fd {
			return ev, true
		}
	}
	return Event{}, false
}

func TestKindNames(t *testing.T) {
	for _, k := range []Kind{Epoll, Kqueue, Poll, Select} {
		got, err := ParseKind(k.String())
		require.NoError(t, err)
		assert.Equal(t, k, got)
	}
	assert.Equal(t, "epoll kqueue poll select",
		strings.Join([]string{Epoll.String(), Kqueue.String(), Poll.String(), Select.String()}, " "))
	assert.Equal(t, "poller.Kind(9)", Kind(9).String())
	assert.Equal(t, "best", Kind(0).String())

	// A Kind is a flag.Value.
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var k Kind
	fs.Var(&k, "backend", "")
	require.NoError(t, fs.Parse([]string{"-backend", "poll"}))
	assert.Equal(t, Poll, k)
	require.NoError(t, fs.Parse([]string{"-backend", "best"}))
	assert.Equal(t, Kind(0), k)
	assert.Error(t, fs.Parse([]string{"-backend", "iocp"}))
	_, err := ParseKind("devpoll")
	assert.ErrorContains(t, err, `"devpoll"`)
}

func TestEventsString(t *testing.T) {
	assert.Equal(t, "none", Events(0).String())
	assert.Equal(t, "read|write", (Read | Write).String())
	assert.Equal(t, "priority|hangup|err|invalid", (Priority | Hangup | Err | Invalid).String())
}

func TestOpen(t *testing.T) {
	avail := Available()
	require.NotEmpty(t, avail)
	p, err := Open(0)
	require.NoError(t, err)
	assert.Equal(t, avail[0], p.Kind())
	require.NoError(t, p.Close())

	avail[0] = 0 // Available returns a copy
	assert.NotEqual(t, Kind(0), Available()[0])

	for _, k := range []Kind{Epoll, Kqueue, Poll, Select} {
		p, err := Open(k)
		if !slices.Contains(Available(), k) {
			assert.ErrorIs(t, err, ErrUnsupported, k.String())
			continue
		}
		require.NoError(t, err, k.String())
		assert.Equal(t, k, p.Kind())
		assert.NoError(t, p.Close())
		assert.ErrorIs(t, p.Close(), ErrClosed, "second Close of %v", k)
	}
	_, err = Open(Kind(42))
	assert.Error(t, err)
}

func TestTimeoutMillis(t *testing.T) {
	for _, c := range []struct {
		in   time.Duration
		want int
	}{
		{-time.Second, -1}, {0, 0}, {1, 1}, {time.Millisecond, 1},
		{time.Millisecond + 1, 2}, {1500 * time.Microsecond, 2}, {time.Second, 1000},
		{1 << 62, -1},
	} {
		assert.Equal(t, c.want, timeoutMillis(c.in), "timeoutMillis(%v)", c.in)
	}
}

// TestSelectRejectsHighFD is F24 select-fd-setsize: select(2) cannot hold fd >=
// FD_SETSIZE, and unix.FdSet.Set would index out of range. Poll and epoll take
// it.
func TestSelectRejectsHighFD(t *testing.T) {
	for _, k := range Available() {
		t.Run(k.String(), func(t *testing.T) {
			e := newEnv(t, k)
			a, _ := e.socketpair()
			const high = 1500
			var lim unix.Rlimit
			require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &lim))
			if lim.Cur <= high {
				t.Skipf("RLIMIT_NOFILE is %d", lim.Cur)
			}
			require.NoError(t, testutil.DupTo(a, high))
			e.track(high)

			err := e.p.Add(high, Read|Write, 1)
			if k != Select {
				require.NoError(t, err)
				assert.Equal(t, Write, e.waitFor(high, Write).Events)
				assert.NoError(t, e.p.Delete(high))
				return
			}
			require.ErrorIs(t, err, ErrFDTooLarge)
			assert.Contains(t, err.Error(), "1500")
			assert.Contains(t, err.Error(), "1024")
			assert.ErrorIs(t, e.p.Modify(high, Read, 1), ErrFDTooLarge)
			assert.ErrorIs(t, e.p.Delete(high), unix.ENOENT)
			assert.Empty(t, e.wait(0))
		})
	}
}

// TestInvalidOnClosedFD closes a registered fd behind the poller's back:
// poll reports POLLNVAL and select fails with EBADF; both must come back as
// an Invalid event for that fd and no error (F19c).
func TestInvalidOnClosedFD(t *testing.T) {
	for _, k := range []Kind{Poll, Select} {
		t.Run(k.String(), func(t *testing.T) {
			e := newEnv(t, k)
			a, _ := e.socketpair()
			_, d := e.socketpair()
			require.NoError(t, e.p.Add(d, Read, 2)) // a healthy fd beside it
			require.NoError(t, e.p.Add(a, Read, 7))
			e.close(a)

			evs := e.wait(time.Second)
			require.Len(t, evs, 1, "%v", evs)
			assert.Equal(t, Event{Fd: a, Tag: 7, Events: Invalid}, evs[0])
			require.NoError(t, e.p.Delete(a))
			assert.Empty(t, e.wait(0))
		})
	}
}

// TestSelectTracksMaxFd checks the nfds bound select(2) is given shrinks
// when the highest fd is deleted.
func TestSelectTracksMaxFd(t *testing.T) {
	e := newEnv(t, Select)
	a, b := e.socketpair()
	lo, hi := min(a, b), max(a, b)
	sp := e.p.(*selectPoller)
	assert.Equal(t, -1, sp.maxfd)
	require.NoError(t, e.p.Add(hi, Read, 0))
	require.NoError(t, e.p.Add(lo, Read, 0))
	assert.Equal(t, hi, sp.maxfd)
	require.NoError(t, e.p.Delete(hi))
	assert.Equal(t, lo, sp.maxfd)
	require.NoError(t, e.p.Delete(lo))
	assert.Equal(t, -1, sp.maxfd)
}
