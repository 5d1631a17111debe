package loop_test

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// ---------------------------------------------------------------------------
// Helpers shared by the loop_test files.
// ---------------------------------------------------------------------------

var discard = slog.New(slog.DiscardHandler)

// poke writes one byte to fd, making its peer readable.
func poke(t testing.TB, fd int) {
	t.Helper()
	testutil.Write(t, fd, "x")
}

// newLoop is looptest.NewLoop with Options: the given backend over a fresh
// map (unless opts names one); every channel still in the map is closed, and
// then the loop, when the test ends.
func newLoop(t testing.TB, kind poller.Kind, opts loop.Options) *loop.Loop {
	t.Helper()
	if opts.Map == nil {
		opts.Map = loop.NewMap()
	}
	opts.Backend = kind
	l, err := loop.New(opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		closeMap(l.Map())
		_ = l.Close()
	})
	return l
}

// closeMap closes every channel in m and makes sure it has left the map.
func closeMap(m *loop.Map) {
	m.Range(func(fd int, ch loop.Channel) bool {
		_ = ch.Close()
		m.Remove(fd, ch)
		return true
	})
}

// watchdog ends a Run that would otherwise block forever if the behaviour
// under test is broken: after d it empties the map (from the loop's
// goroutine, through Post) and stops the loop. Tests then fail on their
// elapsed-time or state assertions instead of hanging.
func watchdog(t testing.TB, l *loop.Loop, d time.Duration) {
	t.Helper()
	m := l.Map()
	tm := time.AfterFunc(d, func() {
		_ = l.Post(func() { closeMap(m) })
		l.Stop()
	})
	t.Cleanup(func() { tm.Stop() })
}

// returns runs f on a goroutine of its own and fails the test if it has
// not returned within testutil.HangGuard: how a test shows that a call
// which could block for an hour does not block at all, without a bound on
// how fast the machine runs it.
func returns(t *testing.T, what string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		require.NoError(t, err, what)
	case <-time.After(testutil.HangGuard):
		t.Fatalf("%s blocked for %v", what, testutil.HangGuard)
	}
}

// fake is a minimal loop.Channel over one descriptor, with counters and
// hooks. It is used where the loop's own contract is under test and a
// dispatcher's routing would be in the way.
type fake struct {
	m    *loop.Map
	fd   int
	want poller.Events

	interest int           // Interest calls
	events   int           // HandleEvents calls
	last     poller.Events // the bits of the last HandleEvents
	all      poller.Events // every bit ever delivered
	errs     []error       // HandleError arguments
	closes   int           // Close calls
	closed   bool
	late     int // calls of Interest, HandleEvents or HandleError after Close

	onEvents   func(ev poller.Events)
	onError    func(err error)
	onInterest func() poller.Events
	onClose    func() error
}

// addFake registers a fake for fd in m with the given interest.
func addFake(t testing.TB, m *loop.Map, fd int, want poller.Events) *fake {
	t.Helper()
	c := &fake{m: m, fd: fd, want: want}
	require.NoError(t, m.Add(fd, c))
	return c
}

func (c *fake) Interest() poller.Events {
	if c.closed {
		c.late++
	}
	c.interest++
	if c.onInterest != nil {
		return c.onInterest()
	}
	return c.want
}

func (c *fake) HandleEvents(ev poller.Events) {
	if c.closed {
		c.late++
	}
	c.events++
	c.last = ev
	c.all |= ev
	if c.onEvents != nil {
		c.onEvents(ev)
	}
}

func (c *fake) HandleError(err error) {
	if c.closed {
		c.late++
	}
	c.errs = append(c.errs, err)
	if c.onError != nil {
		c.onError(err)
	}
}

func (c *fake) Close() error {
	c.closes++
	if c.onClose != nil {
		return c.onClose()
	}
	return c.shut()
}

// shut is the default Close: leave the map and close the descriptor, which
// the map defers to the end of the batch while the loop is dispatching. A
// fake that was replaced in the map no longer owns the descriptor and leaves
// it alone.
func (c *fake) shut() error {
	if c.closed {
		return nil
	}
	c.closed = true
	if c.m.Remove(c.fd, c) {
		return c.m.CloseFD(c.fd)
	}
	return nil
}

// probe is a dispatcher.Dispatcher that counts its handler calls, for tests
// that need asyncore's real semantics (Close removes and closes, Recv calls
// HandleClose at EOF, and so on).
type probe struct {
	dispatcher.Dispatcher
	writable bool

	reads, writes, expts, handleCloses, closes int
	errs                                       []error
	closed                                     bool
	late                                       int // handler calls after Close

	onRead func()
	buf    [64]byte
}

// newProbe adopts fd into a new probe registered in m.
func newProbe(t testing.TB, m *loop.Map, fd int) *probe {
	t.Helper()
	p := &probe{}
	p.Init(p, m)
	p.Logger = discard
	require.NoError(t, p.Adopt(fd))
	return p
}

func (p *probe) seen() {
	if p.closed {
		p.late++
	}
}

func (p *probe) Writable() bool { return p.writable }

func (p *probe) HandleRead() {
	p.seen()
	p.reads++
	if p.onRead != nil {
		p.onRead()
		return
	}
	_, _ = p.Recv(p.buf[:])
}

func (p *probe) HandleWrite()   { p.seen(); p.writes++ }
func (p *probe) HandleExpt()    { p.seen(); p.expts++ }
func (p *probe) HandleConnect() { p.seen() }

func (p *probe) HandleClose() {
	p.seen()
	p.handleCloses++
	_ = p.Close()
}

func (p *probe) HandleError(err error) {
	p.seen()
	p.errs = append(p.errs, err)
	_ = p.Close()
}

func (p *probe) Close() error {
	p.closes++
	p.closed = true
	return p.Dispatcher.Close()
}

// calls counts every handler call.
func (p *probe) calls() int {
	return p.reads + p.writes + p.expts + p.handleCloses + len(p.errs)
}

// ---------------------------------------------------------------------------
// Run and Options: asyncore.loop's semantics
// (docs/asyncore-compat.md#loop-and-run).
// ---------------------------------------------------------------------------

func TestRunEmptyMapReturnsAtOnce(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		before := testutil.OpenFDs()
		m := loop.NewMap()
		// An hour's timeout: waiting on the empty map would trip the guard.
		returns(t, "Run on an empty map", func() error {
			return loop.Run(loop.Options{Map: m, Backend: kind, Timeout: time.Hour})
		})
		assert.Nil(t, loop.Attached(m), "Run on an empty map must not create a loop")
		assert.Equal(t, before, testutil.OpenFDs(), "Run on an empty map must not open descriptors")

		// A Loop's Run behaves the same: no iteration at all.
		l := newLoop(t, kind, loop.Options{Map: m, Timeout: time.Hour})
		returns(t, "Loop.Run on an empty map", l.Run)
		assert.Zero(t, l.Map().Stats().Iterations)
	})
}

func TestRunCount(t *testing.T) {
	cases := []struct {
		name  string
		count int
		want  uint64
	}{
		{"one", 1, 1},
		{"five", 5, 5},
		{"negative runs none", -1, 0},
		{"very negative runs none", -100, 0},
	}
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				l := newLoop(t, kind, loop.Options{Count: tc.count, Timeout: time.Millisecond})
				local, _ := testutil.PeerSocketpair(t)
				idle := addFake(t, l.Map(), local, poller.Read)
				require.NoError(t, l.Run())
				assert.Equal(t, tc.want, l.Map().Stats().Iterations)
				assert.Zero(t, idle.events, "an idle channel has no events")

				// The package-level Run with a negative count does nothing
				// and creates nothing either.
				if tc.count < 0 {
					m := loop.NewMap()
					other, _ := testutil.PeerSocketpair(t)
					addFake(t, m, other, poller.Read)
					t.Cleanup(func() { closeMap(m) })
					require.NoError(t, loop.Run(loop.Options{Map: m, Backend: kind, Count: tc.count}))
					assert.Nil(t, loop.Attached(m))
				}
			})
		}
	})
}

// selfClosing registers a fake that is always readable (a byte is waiting and
// never read) and closes itself on its k-th event.
func selfClosing(t testing.TB, m *loop.Map, k int) *fake {
	t.Helper()
	local, peer := testutil.PeerSocketpair(t)
	poke(t, peer)
	c := addFake(t, m, local, poller.Read)
	c.onEvents = func(poller.Events) {
		if c.events == k {
			_ = c.Close()
		}
	}
	return c
}

func TestRunCountStopsWhenMapEmpties(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{Count: 10, Timeout: 5 * time.Second})
		c := selfClosing(t, l.Map(), 2)
		require.NoError(t, l.Run())
		assert.Equal(t, uint64(2), l.Map().Stats().Iterations, "Run stops as soon as the map is empty")
		assert.Equal(t, 2, c.events)
		assert.Zero(t, l.Map().Len())
		assert.Zero(t, c.late)
	})
}

func TestRunZeroCountRunsUntilMapEmpty(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{Timeout: 5 * time.Second})
		watchdog(t, l, testutil.HangGuard)
		a := selfClosing(t, l.Map(), 7)
		b := selfClosing(t, l.Map(), 3)
		require.NoError(t, l.Run())
		assert.Equal(t, uint64(7), l.Map().Stats().Iterations)
		assert.Equal(t, 7, a.events)
		assert.Equal(t, 3, b.events)
		assert.Zero(t, l.Map().Len())
	})
}

func TestRunTimeoutBoundsIdleIteration(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{Count: 3, Timeout: 20 * time.Millisecond})
		local, _ := testutil.PeerSocketpair(t)
		idle := addFake(t, l.Map(), local, poller.Read)
		start := time.Now()
		require.NoError(t, l.Run())
		elapsed := time.Since(start)
		assert.GreaterOrEqual(t, elapsed, 60*time.Millisecond, "each idle iteration waits its timeout")
		assert.Equal(t, uint64(3), l.Map().Stats().Iterations)
		assert.Zero(t, idle.events)
	})
}

func TestRunNegativeTimeoutWakesForTimer(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{Count: 1, Timeout: -1})
		watchdog(t, l, testutil.HangGuard)
		local, _ := testutil.PeerSocketpair(t)
		addFake(t, l.Map(), local, poller.Read)
		fired := 0
		start := time.Now() // before the timer is armed: a lower bound
		l.AfterFunc(20*time.Millisecond, func() { fired++ })
		require.NoError(t, l.Run())
		elapsed := time.Since(start)
		assert.Equal(t, 1, fired, "the timer ends the unbounded wait")
		assert.GreaterOrEqual(t, elapsed, 20*time.Millisecond)
		assert.Equal(t, 1, l.Map().Len(), "the watchdog must not have fired")
	})
}

func TestBackendSelection(t *testing.T) {
	best := poller.Available()[0]
	cases := []struct {
		name string
		opts loop.Options
		want poller.Kind
	}{
		{"zero is the best available", loop.Options{}, best},
		{"UsePoll selects poll", loop.Options{UsePoll: true}, poller.Poll},
		{"Backend wins over UsePoll", loop.Options{UsePoll: true, Backend: poller.Select}, poller.Select},
	}
	for _, k := range poller.Available() {
		cases = append(cases, struct {
			name string
			opts loop.Options
			want poller.Kind
		}{"Backend " + k.String(), loop.Options{Backend: k}, k})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Map = loop.NewMap()
			l, err := loop.New(tc.opts)
			require.NoError(t, err)
			defer l.Close()
			assert.Equal(t, tc.want, l.Kind())
			assert.Same(t, tc.opts.Map, l.Map())
			assert.Same(t, l, tc.opts.Map.Loop())
		})
	}

	t.Run("unsupported backend", func(t *testing.T) {
		for _, k := range []poller.Kind{poller.Epoll, poller.Kqueue} {
			if containsKind(poller.Available(), k) {
				continue
			}
			_, err := loop.New(loop.Options{Map: loop.NewMap(), Backend: k})
			assert.ErrorIs(t, err, poller.ErrUnsupported, "%v", k)
		}
	})

	t.Run("package Run honours UsePoll", func(t *testing.T) {
		m := loop.NewMap()
		local, _ := testutil.PeerSocketpair(t)
		addFake(t, m, local, poller.Read)
		t.Cleanup(func() { closeMap(m) })
		require.NoError(t, loop.Run(loop.Options{Map: m, UsePoll: true, Count: 1, Timeout: time.Millisecond}))
		require.NotNil(t, m.Loop())
		assert.Equal(t, poller.Poll, m.Loop().Kind())
	})
}

func containsKind(kinds []poller.Kind, k poller.Kind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// TestRunReusesMapLoop checks the asyncore idiom `while …: loop(count=1)`:
// the package-level Run keeps the loop it made for the map between calls, so
// a hundred calls cost no descriptors, and it closes that loop once the map
// is empty.
func TestRunReusesMapLoop(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		m := loop.NewMap()
		local, peer := testutil.BareSocketpair(t)
		c := addFake(t, m, local, poller.Read)
		t.Cleanup(func() { closeMap(m); _ = unix.Close(peer) })
		opts := loop.Options{Map: m, Backend: kind, Count: 1, Timeout: time.Millisecond}

		withoutLoop := testutil.OpenFDs()
		require.NoError(t, loop.Run(opts))
		l := m.Loop()
		require.NotNil(t, l)
		assert.Equal(t, kind, l.Kind())
		fds := testutil.OpenFDs()
		for range 100 {
			require.NoError(t, loop.Run(opts))
			require.Same(t, l, m.Loop(), "Run must reuse the map's loop")
		}
		assert.Equal(t, fds, testutil.OpenFDs(), "100 Runs with Count 1 must not open descriptors")
		assert.Equal(t, uint64(101), l.Map().Stats().Iterations)

		// Emptying the map outside Run closes the implicit loop.
		require.NoError(t, c.Close())
		assert.Nil(t, loop.Attached(m))
		assert.ErrorIs(t, l.RunOnce(0), loop.ErrClosed)
		assert.Equal(t, withoutLoop-1, testutil.OpenFDs(), "the channel's fd and the loop's are closed")
	})
}

func TestRunClosesImplicitLoopWhenMapEmpties(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		before := testutil.OpenFDs()
		m := loop.NewMap()
		local, peer := testutil.BareSocketpair(t)
		poke(t, peer)
		c := addFake(t, m, local, poller.Read)
		var during *loop.Loop
		c.onEvents = func(poller.Events) {
			during = m.Loop()
			if c.events == 3 {
				_ = c.Close()
			}
		}
		require.NoError(t, loop.Run(loop.Options{Map: m, Backend: kind, Timeout: 5 * time.Second}))
		require.NoError(t, unix.Close(peer))
		require.NotNil(t, during)
		assert.Equal(t, 3, c.events)
		assert.Nil(t, loop.Attached(m), "the implicit loop is detached")
		assert.ErrorIs(t, during.RunOnce(0), loop.ErrClosed, "and closed")
		assert.Equal(t, before, testutil.OpenFDs())
	})
}

func TestRunBackendChangeClosesOldImplicitLoop(t *testing.T) {
	kinds := looptest.Backends()
	if len(kinds) < 2 {
		t.Skip("needs two backends")
	}
	testutil.CheckFDLeaks(t)
	m := loop.NewMap()
	local, _ := testutil.PeerSocketpair(t)
	addFake(t, m, local, poller.Read)
	t.Cleanup(func() { closeMap(m) })

	require.NoError(t, loop.Run(loop.Options{Map: m, Backend: kinds[0], Count: 1, Timeout: time.Millisecond}))
	first := m.Loop()
	fds := testutil.OpenFDs()
	require.NoError(t, loop.Run(loop.Options{Map: m, Backend: kinds[1], Count: 1, Timeout: time.Millisecond}))
	second := m.Loop()
	assert.NotSame(t, first, second)
	assert.Equal(t, kinds[1], second.Kind())
	assert.ErrorIs(t, first.RunOnce(0), loop.ErrClosed, "the replaced implicit loop is closed")
	assert.LessOrEqual(t, testutil.OpenFDs(), fds, "switching backends must not leak the old loop")
}

func TestRunDefaultMap(t *testing.T) {
	m := loop.DefaultMap()
	require.Same(t, m, loop.DefaultMap())
	require.Zero(t, m.Len(), "another test left channels in the default map")
	local, _ := testutil.PeerSocketpair(t)
	c := addFake(t, m, local, poller.Read)
	t.Cleanup(func() { closeMap(m) })
	before := m.Stats().Iterations // other tests ran the default map too
	require.NoError(t, loop.Run(loop.Options{Count: 1, Timeout: time.Millisecond}))
	l := m.Loop()
	require.NotNil(t, l)
	assert.Equal(t, uint64(1), m.Stats().Iterations-before)
	require.NoError(t, c.Close())
	assert.Nil(t, loop.Attached(m), "the implicit loop closes with the last channel")
}

func TestRunWhileRunning(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{Timeout: time.Millisecond})
		local, peer := testutil.PeerSocketpair(t)
		poke(t, peer)
		c := addFake(t, l.Map(), local, poller.Read)
		var errs []error
		c.onEvents = func(poller.Events) {
			errs = append(errs,
				l.RunOnce(0),
				l.Run(),
				loop.Run(loop.Options{Map: l.Map(), Backend: kind, Count: 1}),
			)
		}
		require.NoError(t, l.RunOnce(time.Second))
		require.Len(t, errs, 3)
		for i, err := range errs {
			assert.ErrorIs(t, err, loop.ErrRunning, "call %d", i)
		}
		// The nested calls must not have broken the loop.
		require.NoError(t, l.RunOnce(time.Second))
		assert.Equal(t, 2, c.events)
	})
}

func TestClosedLoop(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l, err := loop.New(loop.Options{Map: loop.NewMap(), Backend: kind})
		require.NoError(t, err)
		local, _ := testutil.PeerSocketpair(t)
		c := addFake(t, l.Map(), local, poller.Read)
		tm := l.AfterFunc(time.Hour, func() {})
		require.NoError(t, l.Close())

		assert.ErrorIs(t, l.RunOnce(0), loop.ErrClosed)
		assert.ErrorIs(t, l.Run(), loop.ErrClosed)
		assert.ErrorIs(t, l.Close(), loop.ErrClosed)
		assert.ErrorIs(t, l.Post(func() {}), loop.ErrClosed)
		assert.NotPanics(t, l.Stop)
		assert.False(t, tm.Stop(), "Close cancels timers")
		assert.Nil(t, loop.Attached(l.Map()), "Close detaches the map")
		assert.Same(t, c, l.Map().Get(local), "Close leaves the channels alone")
		require.NoError(t, c.Close())
	})
}

func TestStopFromAnotherGoroutine(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{Timeout: -1})
		watchdog(t, l, testutil.HangGuard)
		local, _ := testutil.PeerSocketpair(t)
		addFake(t, l.Map(), local, poller.Read)
		start := time.Now() // before the stopper is armed: a lower bound
		stopper := time.AfterFunc(20*time.Millisecond, l.Stop)
		defer stopper.Stop()
		require.NoError(t, l.Run())
		elapsed := time.Since(start)
		assert.GreaterOrEqual(t, elapsed, 20*time.Millisecond)
		assert.Equal(t, 1, l.Map().Len(), "Stop, not the watchdog, ended Run")
	})
}

func TestStopBeforeRun(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{Timeout: 10 * time.Second})
		local, _ := testutil.PeerSocketpair(t)
		addFake(t, l.Map(), local, poller.Read)
		l.Stop()
		returns(t, "Run after a Stop", l.Run)
		assert.Zero(t, l.Map().Stats().Iterations, "a Stop before Run makes it return before its first iteration")

		// The Stop is used up: the next Run runs its count.
		require.NoError(t, loop.Run(loop.Options{Map: l.Map(), Backend: kind, Count: 2, Timeout: time.Millisecond}))
		assert.Equal(t, uint64(2), l.Map().Stats().Iterations)
	})
}

// TestStrictAsksEveryChannel counts Interest calls on 100 idle channels over
// ten iterations: strict mode asks all of them every time, as asyncore does;
// the default asks each once, when it joins the map.
func TestStrictAsksEveryChannel(t *testing.T) {
	const channels, iterations = 100, 10
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		for _, strict := range []bool{true, false} {
			name := map[bool]string{true: "strict", false: "default"}[strict]
			t.Run(name, func(t *testing.T) {
				l := newLoop(t, kind, loop.Options{Strict: strict, Count: iterations, Timeout: time.Millisecond})
				fakes := make([]*fake, channels)
				for i := range fakes {
					local, _ := testutil.PeerSocketpair(t)
					fakes[i] = addFake(t, l.Map(), local, poller.Read)
				}
				require.NoError(t, l.Run())
				require.Equal(t, uint64(iterations), l.Map().Stats().Iterations)
				total := 0
				for _, c := range fakes {
					total += c.interest
					assert.Zero(t, c.events)
				}
				if strict {
					assert.Equal(t, channels*iterations, total)
				} else {
					assert.Equal(t, channels, total)
				}
			})
		}
	})
}

func TestUpdateReasksOneChannel(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		fakes := make([]*fake, 10)
		for i := range fakes {
			local, _ := testutil.PeerSocketpair(t)
			fakes[i] = addFake(t, l.Map(), local, poller.Read)
		}
		require.NoError(t, l.RunOnce(0))
		l.Map().Update(fakes[7].fd)
		l.Map().Update(fakes[7].fd) // twice in one iteration still asks once
		l.Map().Update(-1)          // not registered: nothing
		l.Map().Update(1 << 20)
		require.NoError(t, l.RunOnce(0))
		for i, c := range fakes {
			want := 1
			if i == 7 {
				want = 2
			}
			assert.Equal(t, want, c.interest, "channel %d", i)
		}
		require.NoError(t, l.RunOnce(0))
		assert.Equal(t, 2, fakes[7].interest, "Update marks one iteration only")
	})
}

// TestInterestChangesReachThePoller walks one channel through no interest,
// Read, Read|Write and back to none, checking what the loop delivers at each
// step.
func TestInterestChangesReachThePoller(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		local, peer := testutil.PeerSocketpair(t)
		poke(t, peer) // readable from now on; writable always
		c := addFake(t, l.Map(), local, 0)
		step := func(want poller.Events) poller.Events {
			c.want = want
			l.Map().Update(local)
			c.last = 0
			require.NoError(t, l.RunOnce(20*time.Millisecond))
			return c.last
		}
		require.NoError(t, l.RunOnce(0))
		assert.Zero(t, c.events, "no interest, no events")
		assert.Equal(t, poller.Read, step(poller.Read)&(poller.Read|poller.Write))
		assert.Equal(t, poller.Read|poller.Write, step(poller.Read|poller.Write)&(poller.Read|poller.Write))
		assert.Equal(t, poller.Write, step(poller.Write)&(poller.Read|poller.Write))
		n := c.events
		assert.Zero(t, step(0))
		assert.Equal(t, n, c.events, "interest withdrawn: no more events")
		assert.False(t, loop.PollerWatches(l, local), "no interest: not in the poller")
	})
}

func TestPanicErrorUnwrap(t *testing.T) {
	inner := errors.New("boom")
	pe := &loop.PanicError{Value: inner, Stack: []byte("stack")}
	assert.ErrorIs(t, pe, inner)
	assert.Contains(t, pe.Error(), "boom")
	assert.NoError(t, (&loop.PanicError{Value: "text"}).Unwrap())
}

// TestRunImplicitLoopNotLeaked: a map served both by a Loop of the user's
// and by the package-level Run on another backend. Each Run makes an
// implicit loop; the user's loop takes the map back when it runs. An
// implicit loop that has lost its map can never be reused, so it must be
// closed rather than left holding its descriptors.
func TestRunImplicitLoopNotLeaked(t *testing.T) {
	kinds := poller.Available()
	if len(kinds) < 2 {
		t.Skip("needs two backends")
	}
	testutil.CheckFDLeaks(t)
	m := loop.NewMap()
	user := newLoop(t, kinds[1], loop.Options{Map: m})
	local, _ := testutil.PeerSocketpair(t)
	addFake(t, m, local, poller.Read)
	opts := loop.Options{Map: m, Count: 1, Timeout: time.Millisecond} // the best backend: not the user's

	require.NoError(t, user.RunOnce(0))
	require.NoError(t, loop.Run(opts))
	require.NoError(t, user.RunOnce(0))
	fds := testutil.OpenFDs()
	var implicit []*loop.Loop
	for range 20 {
		require.NoError(t, loop.Run(opts))
		implicit = append(implicit, m.Loop())
		require.NoError(t, user.RunOnce(0))
		require.Same(t, user, m.Loop())
	}
	assert.Equal(t, fds, testutil.OpenFDs(), "implicit loops that lost their map leak their descriptors")
	for i, l := range implicit {
		assert.ErrorIs(t, l.RunOnce(0), loop.ErrClosed, "implicit loop %d", i)
	}
}
