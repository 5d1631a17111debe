package loop_test

import (
	"strings"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// sender is a literal asyncore port: writable() is "I have output", and
// nothing tells the loop when output is queued.
type sender struct {
	m      *loop.Map
	fd     int
	out    []byte
	done   bool // close once out is written
	closed bool
}

func (s *sender) Interest() poller.Events {
	if len(s.out) > 0 {
		return poller.Write
	}
	return 0
}

func (s *sender) HandleEvents(ev poller.Events) {
	if ev&poller.Write == 0 {
		return
	}
	n, err := unix.Write(s.fd, s.out)
	if err != nil {
		_ = s.Close()
		return
	}
	s.out = s.out[n:]
	if len(s.out) == 0 && s.done {
		_ = s.Close()
	}
}

func (s *sender) HandleError(error) { _ = s.Close() }

func (s *sender) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.m.Remove(s.fd, s) {
		return s.m.CloseFD(s.fd)
	}
	return nil
}

// portedTimerSend sets up the port: a trigger channel, readable at once,
// whose handler arms a repeating timer on the map's loop and closes itself;
// the timer queues "hel", "lo" and "!" on a sender, one a tick, without
// UpdateInterest, then asks it to close when done. A watchdog empties the
// map after five seconds if the output never leaves. It returns the
// sender's peer, to read what was written.
func portedTimerSend(t *testing.T, m *loop.Map) (peer int) {
	t.Helper()
	local, peer := testutil.PeerSocketpair(t)
	s := &sender{m: m, fd: local}
	require.NoError(t, m.Add(local, s))
	tl, tp := testutil.PeerSocketpair(t)
	poke(t, tp)
	trigger := addFake(t, m, tl, poller.Read)
	trigger.onEvents = func(poller.Events) {
		l := m.Loop()
		chunks := []string{"hel", "lo", "!"}
		var tick *loop.Timer
		tick = l.Every(5*time.Millisecond, func() {
			if len(s.out) > 0 {
				return // the last chunk has not left yet
			}
			s.out = []byte(chunks[0])
			chunks = chunks[1:]
			if len(chunks) == 0 {
				s.done = true
				tick.Stop()
			}
		})
		wd := l.AfterFunc(5*time.Second, func() { closeMap(m) })
		t.Cleanup(func() { wd.Stop() })
		_ = trigger.Close()
	}
	return peer
}

func readAll(t *testing.T, fd int) string {
	t.Helper()
	var b strings.Builder
	buf := make([]byte, 64)
	for {
		n, err := unix.Read(fd, buf)
		if n <= 0 || err != nil {
			return b.String()
		}
		b.Write(buf[:n])
	}
}

// TestRunAsksPredicatesEveryIteration: the package-level Run, asyncore's
// entry, must notice a predicate changed in a timer, as asyncore does.
func TestRunAsksPredicatesEveryIteration(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		m := loop.NewMap()
		t.Cleanup(func() { closeMap(m) })
		peer := portedTimerSend(t, m)
		require.NoError(t, loop.Run(loop.Options{Map: m, Backend: kind}))
		assert.Equal(t, "hello!", readAll(t, peer))
	})
}

// TestRunActiveOnlyOptsOut counts Interest calls on idle channels: the
// package-level Run asks every channel every iteration by default, and only
// once with ActiveOnly.
func TestRunActiveOnlyOptsOut(t *testing.T) {
	const channels, iterations = 10, 5
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		for _, activeOnly := range []bool{false, true} {
			m := loop.NewMap()
			t.Cleanup(func() { closeMap(m) })
			fakes := make([]*fake, channels)
			for i := range fakes {
				local, _ := testutil.PeerSocketpair(t)
				fakes[i] = addFake(t, m, local, poller.Read)
			}
			require.NoError(t, loop.Run(loop.Options{Map: m, Backend: kind, Count: iterations, ActiveOnly: activeOnly}))
			total := 0
			for _, c := range fakes {
				total += c.interest
			}
			if activeOnly {
				assert.Equal(t, channels, total, "ActiveOnly: asked once, on joining")
			} else {
				assert.Equal(t, channels*iterations, total, "default: every channel, every iteration")
			}
		}
	})
}

// TestCheckInterestWarnsOnce: a Loop of one's own keeps the O(active) rule,
// and CheckInterest (or ASYNCORE_DEBUG) finds the predicate changed behind
// its back: the port still works, and the warning is logged once for the
// channel although Writable changed three times.
func TestCheckInterestWarnsOnce(t *testing.T) {
	for _, how := range []string{"option", "env"} {
		t.Run(how, func(t *testing.T) {
			opts := loop.Options{CheckInterest: how == "option"}
			if how == "env" {
				t.Setenv("ASYNCORE_DEBUG", "1")
				loop.ReloadDebugEnv(t)
			}
			looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
				logs := captureLog(t)
				l := newLoop(t, kind, opts)
				peer := portedTimerSend(t, l.Map())
				require.NoError(t, l.Run())
				assert.Equal(t, "hello!", readAll(t, peer))
				assert.Equal(t, 1, strings.Count(logs.String(), "Writable changed without UpdateInterest"), logs.String())
				assert.Contains(t, logs.String(), "level=WARN")
			})
		})
	}
}

// TestCheckInterestReadable: the same for Readable.
func TestCheckInterestReadable(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		logs := captureLog(t)
		l := newLoop(t, kind, loop.Options{CheckInterest: true})
		local, peer := testutil.PeerSocketpair(t)
		poke(t, peer)
		c := addFake(t, l.Map(), local, 0)
		c.onEvents = func(poller.Events) { _ = c.Close() }
		l.AfterFunc(time.Millisecond, func() { c.want = poller.Read })
		watchdog(t, l, 5*time.Second)
		require.NoError(t, l.Run())
		assert.Equal(t, 1, c.events, "the change was noticed")
		assert.Equal(t, 1, strings.Count(logs.String(), "Readable changed without UpdateInterest"), logs.String())
	})
}

func TestDebugEnv(t *testing.T) {
	for v, want := range map[string]bool{"": false, "0": false, "1": true, "yes": true} {
		t.Setenv("ASYNCORE_DEBUG", v)
		loop.ReloadDebugEnv(t)
		assert.Equal(t, want, loop.DebugEnabled(), "ASYNCORE_DEBUG=%q", v)
	}
}
