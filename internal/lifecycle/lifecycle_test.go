package lifecycle

import (
	"errors"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/loop"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fakeConn is a channel whose socket facts the test sets and whose loop
// runs on an injected clock, so every deadline is checked exactly.
type fakeConn struct {
	l        *loop.Loop
	eof      bool
	sotype   int
	unread   int
	shutErr  error
	shutdown int
	armed    []time.Duration
}

func (f *fakeConn) Loop() *loop.Loop            { return f.l }
func (f *fakeConn) EOF() bool                   { return f.eof }
func (f *fakeConn) Type() int                   { return f.sotype }
func (f *fakeConn) Unread() int                 { return f.unread }
func (f *fakeConn) ArmTimeout(at time.Duration) { f.armed = append(f.armed, at) }
func (f *fakeConn) ShutdownWrite() error {
	f.shutdown++
	return f.shutErr
}

// newConn returns a stream channel on a loop whose clock reads *now. The
// loop's Now never returns the same value twice, so each test moves *now
// before every reading it checks exactly.
func newConn(t *testing.T, now *time.Duration) *fakeConn {
	t.Helper()
	l, err := loop.New(loop.Options{Clock: func() time.Duration { return *now }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return &fakeConn{l: l, sotype: unix.SOCK_STREAM}
}

const to = 5 * time.Second

func TestZeroIsOpen(t *testing.T) {
	var m Machine
	assert.Equal(t, Open, m.State())
	assert.True(t, m.Acting())
	assert.True(t, m.Queueing())
	assert.False(t, m.Closing())
	assert.False(t, m.Flushing())
	_, ok := m.Deadline(to)
	assert.False(t, ok, "an open channel has no close deadline")
	assert.Equal(t, NotExpired, m.Expired(time.Hour, to))
}

func TestFailStopsInputNotOutput(t *testing.T) {
	var m Machine
	m.Fail()
	assert.Equal(t, Failed, m.State())
	assert.False(t, m.Acting(), "a failed channel acts on no more input")
	assert.True(t, m.Queueing(), "the error reply still goes out")
	assert.False(t, m.Closing())

	// A failure during a close leaves the close as it is.
	now := time.Duration(0)
	c := newConn(t, &now)
	m.BeginClose(c, to)
	m.Fail()
	assert.Equal(t, Closing, m.State())
}

func TestBeginCloseArmsLingerDeadline(t *testing.T) {
	now := 10 * time.Second
	c := newConn(t, &now)
	var m Machine
	m.BeginClose(c, to)
	assert.Equal(t, Closing, m.State())
	assert.True(t, m.Closing())
	assert.False(t, m.Queueing(), "output pushed after CloseWhenDone is dropped")
	assert.Equal(t, []time.Duration{15 * time.Second}, c.armed)
	at, ok := m.Deadline(to)
	require.True(t, ok)
	assert.Equal(t, 15*time.Second, at)

	// Progress moves the deadline; a write of nothing does not.
	now = 12 * time.Second
	m.Wrote(c, 100)
	now = 14 * time.Second
	m.Wrote(c, 0)
	at, _ = m.Deadline(to)
	assert.Equal(t, 17*time.Second, at)

	assert.Equal(t, NotExpired, m.Expired(17*time.Second-1, to), "not a nanosecond early")
	assert.Equal(t, Stalled, m.Expired(17*time.Second, to), "a stalled close is cut short")
}

func TestBeginCloseUnbounded(t *testing.T) {
	now := time.Duration(0)
	c := newConn(t, &now)
	var m Machine
	m.BeginClose(c, 0) // LingerTimeout negative: off
	assert.Empty(t, c.armed)
	_, ok := m.Deadline(to)
	assert.False(t, ok, "a close begun with the timeout off stays unbounded")

}

// TestBeginCloseWithoutLoop: a Conn without a loop (a dispatcher always
// has one: loop.Map.Loop makes it) is bounded from where a loop's clock
// starts, not left unbounded.
func TestBeginCloseWithoutLoop(t *testing.T) {
	c := &fakeConn{sotype: unix.SOCK_STREAM}
	var m Machine
	m.BeginClose(c, to)
	assert.Equal(t, Closing, m.State())
	at, ok := m.Deadline(to)
	require.True(t, ok, "the close is bounded")
	assert.Equal(t, to, at, "from the clock's start")
	assert.Equal(t, []time.Duration{to}, c.armed)
	assert.Equal(t, Stalled, m.Expired(to, to))
}

func TestLingerDrainsUntilDeadline(t *testing.T) {
	now := time.Duration(0)
	c := newConn(t, &now)
	var m Machine
	m.BeginClose(c, to)
	m.Dropped(c) // input arrived after CloseWhenDone
	now = time.Second
	require.True(t, m.Linger(c, to))
	assert.Equal(t, Draining, m.State())
	assert.Equal(t, 1, c.shutdown, "the sending side is shut down")
	assert.Equal(t, 6*time.Second, c.armed[len(c.armed)-1])
	assert.False(t, m.Linger(c, to), "a drain does not start twice")

	// Input while draining is progress, but the drain as a whole is
	// bounded by MaxLingerPeriods × to from its start.
	for now = 5 * time.Second; now < 40*time.Second; now += 4 * time.Second {
		m.Dropped(c)
	}
	at, ok := m.Deadline(to)
	require.True(t, ok)
	assert.Equal(t, time.Second+MaxLingerPeriods*to, at)
	assert.Equal(t, NotExpired, m.Expired(at-1, to))
	assert.Equal(t, Drained, m.Expired(at, to), "a drain that ran out ends through HandleClose")
}

func TestLingerIdleDrainEnds(t *testing.T) {
	now := time.Duration(0)
	c := newConn(t, &now)
	c.unread = 3 // input waits unread
	var m Machine
	m.BeginClose(c, to)
	now = 2 * time.Second // the output took two seconds to go
	require.True(t, m.Linger(c, to))
	assert.Equal(t, NotExpired, m.Expired(now+to-1, to))
	assert.Equal(t, Drained, m.Expired(now+to, to), "a peer silent for LingerTimeout ends the drain")
}

func TestLingerNotNeeded(t *testing.T) {
	cases := map[string]func(c *fakeConn, m *Machine) time.Duration{
		"peer silent": func(c *fakeConn, m *Machine) time.Duration { return to },
		"peer sent EOF": func(c *fakeConn, m *Machine) time.Duration {
			m.Dropped(c)
			c.eof = true
			return to
		},
		"datagram": func(c *fakeConn, m *Machine) time.Duration {
			m.Dropped(c)
			c.sotype = unix.SOCK_DGRAM
			return to
		},
		"file": func(c *fakeConn, m *Machine) time.Duration {
			m.Dropped(c)
			c.sotype = 0
			return to
		},
		"timeout off": func(c *fakeConn, m *Machine) time.Duration {
			m.Dropped(c)
			return 0
		},
		"peer gone": func(c *fakeConn, m *Machine) time.Duration {
			m.Dropped(c)
			c.shutErr = errors.New("ENOTCONN")
			return to
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			now := time.Duration(0)
			c := newConn(t, &now)
			var m Machine
			m.BeginClose(c, to)
			lt := setup(c, &m)
			assert.False(t, m.Linger(c, lt))
			assert.Equal(t, Closing, m.State())
		})
	}
	t.Run("no loop", func(t *testing.T) {
		c := &fakeConn{sotype: unix.SOCK_STREAM, unread: 1}
		var m Machine
		m.BeginClose(c, to)
		assert.False(t, m.Linger(c, to))
		assert.Zero(t, c.shutdown)
	})
}

func TestStopClockUnbounds(t *testing.T) {
	now := time.Duration(0)
	c := newConn(t, &now)
	var m Machine
	m.BeginClose(c, to)
	m.StopClock()
	assert.Equal(t, NotExpired, m.Expired(time.Hour, to))
}

func TestStartFlush(t *testing.T) {
	var m Machine
	assert.False(t, m.StartFlush(false, true, true), "no EOF: not a flush")
	assert.False(t, m.StartFlush(true, false, true), "nothing queued: close at once")
	assert.False(t, m.StartFlush(true, true, false), "not connected: close at once")
	assert.True(t, m.StartFlush(true, true, true))
	assert.True(t, m.Flushing())
	assert.False(t, m.StartFlush(true, true, true), "a second HandleClose closes at once")
	assert.Equal(t, Open, m.State(), "the flush does not decide the local state")
}

func TestHalfClose(t *testing.T) {
	var m Machine
	m.BeginHalfClose()
	assert.Equal(t, HalfClosing, m.State())
	assert.False(t, m.Queueing())
	assert.False(t, m.Closing(), "a half-close still accepts CloseWhenDone")
	m.HalfClosed()
	assert.Equal(t, HalfClosed, m.State())
}

func TestStopAndReset(t *testing.T) {
	now := time.Duration(0)
	c := newConn(t, &now)
	var m Machine
	m.BeginClose(c, to)
	m.Dropped(c)
	require.True(t, m.Linger(c, to))
	m.Stop()
	assert.Equal(t, Closed, m.State())
	assert.True(t, m.Closing(), "a closed channel acts on nothing and queues nothing")
	assert.False(t, m.Queueing())
	_, ok := m.Deadline(to)
	assert.False(t, ok, "no clock outlives the socket")

	var open Machine
	open.Stop()
	assert.Equal(t, Open, open.State(), "closing an open channel leaves it reusable")
	var failed Machine
	failed.Fail()
	failed.Stop()
	assert.Equal(t, Failed, failed.State())

	m.Reset()
	assert.Equal(t, Machine{}, m)
}

func TestStateString(t *testing.T) {
	for s := Open; s <= Closed; s++ {
		assert.NotContains(t, s.String(), "?")
	}
	assert.Equal(t, "draining", Draining.String())
	assert.Equal(t, "state(?)", State(200).String())
}
