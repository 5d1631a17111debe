package loop_test

import (
	"context"
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

// goodbye is a channel that takes part in a graceful shutdown: told to
// begin, it writes "bye" and closes on the next tick, as a connection that
// flushes its last reply does; stubborn ones ignore the request and must be
// closed by force at the deadline.
type goodbye struct {
	*fake
	stubborn bool
	begun    int
	onBegin  func()
}

func (g *goodbye) BeginShutdown() {
	g.begun++
	if g.onBegin != nil {
		g.onBegin()
	}
	if g.stubborn {
		return
	}
	_, _ = unix.Write(g.fd, []byte("bye"))
	g.m.Loop().AfterFunc(time.Millisecond, func() { _ = g.Close() })
}

// Close is the fake's, for the goodbye the map holds.
func (g *goodbye) Close() error {
	g.closes++
	if g.closed {
		return nil
	}
	g.closed = true
	if g.m.Remove(g.fd, g) {
		return g.m.CloseFD(g.fd)
	}
	return nil
}

func addGoodbye(t *testing.T, m *loop.Map, stubborn bool) (*goodbye, int) {
	t.Helper()
	local, peer := testutil.PeerSocketpair(t)
	g := &goodbye{fake: &fake{m: m, fd: local, want: poller.Read}, stubborn: stubborn}
	require.NoError(t, m.Add(local, g))
	return g, peer
}

// runAsync runs l on another goroutine and returns the channel its result
// arrives on.
func runAsync(run func() error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- run() }()
	return done
}

// TestShutdownGraceful: Shutdown, called from another goroutine, tells
// every channel that implements BeginShutdown to begin, once; they say
// goodbye and close themselves; Shutdown returns nil once the map is empty,
// and Run returns normally.
func TestShutdownGraceful(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		var gs []*goodbye
		var peers []int
		for range 3 {
			g, p := addGoodbye(t, l.Map(), false)
			gs, peers = append(gs, g), append(peers, p)
		}
		ran := runAsync(l.Run)
		require.NoError(t, l.Shutdown(context.Background()))
		require.NoError(t, <-ran)
		assert.Zero(t, l.Map().Len())
		for i, g := range gs {
			assert.Equal(t, 1, g.begun, "channel %d", i)
			assert.True(t, g.closed)
			assert.Equal(t, "bye", readAll(t, peers[i]))
		}
	})
}

// TestShutdownDeadlineForcesClose: a channel that ignores BeginShutdown, and
// one that does not implement it, are closed through their Close when the
// context ends; Shutdown then reports the context's error. A Group's loop,
// which runs until Stop, returns too.
func TestShutdownDeadlineForcesClose(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		g, _ := addGoodbye(t, l.Map(), true)
		g.onBegin = cancel // the deadline comes while it ignores the request
		local, _ := testutil.PeerSocketpair(t)
		plain := addFake(t, l.Map(), local, poller.Read)
		ran := runAsync(l.Run)
		assert.ErrorIs(t, l.Shutdown(ctx), context.Canceled)
		require.NoError(t, <-ran)
		assert.Equal(t, 1, g.begun)
		assert.Equal(t, 1, g.closes)
		assert.Equal(t, 1, plain.closes)
		assert.False(t, testutil.IsOpen(g.fd))
		assert.False(t, testutil.IsOpen(local))
		assert.Zero(t, l.Map().Len())
	})
}

// TestShutdownBeforeRun: a Shutdown asked before the loop runs is served
// when it does.
func TestShutdownBeforeRun(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		m := loop.NewMap()
		t.Cleanup(func() { closeMap(m) })
		g, peer := addGoodbye(t, m, false)
		shut := runAsync(func() error { return m.Loop().Shutdown(context.Background()) })
		require.NoError(t, loop.Run(loop.Options{Map: m, Backend: kind}))
		require.NoError(t, <-shut)
		assert.Equal(t, 1, g.begun)
		assert.Equal(t, "bye", readAll(t, peer))
	})
}

// TestShutdownGroupLoop: a group's loop serves until Stop, even empty;
// after a Shutdown it returns.
func TestShutdownGroupLoop(t *testing.T) {
	var l *loop.Loop
	g, err := loop.StartGroup(1, loop.Options{Backend: poller.Available()[0]}, func(_ int, gl *loop.Loop) error {
		l = gl
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, l.Shutdown(context.Background()))
	require.NoError(t, g.Wait())
}

// TestRunContext: RunContext returns nil once its context is done, leaving
// the channels open; a context done before the call returns at once; a
// context that ends after RunContext returned does not stop a later Run.
func TestRunContext(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		local, cpeer := testutil.PeerSocketpair(t)
		c := addFake(t, l.Map(), local, poller.Read)
		ctx, cancel := context.WithCancel(context.Background())
		ran := runAsync(func() error { return l.RunContext(ctx) })
		require.NoError(t, l.Post(cancel)) // once the loop runs
		require.NoError(t, <-ran)
		assert.Equal(t, 1, l.Map().Len(), "the channels stay")
		assert.Zero(t, c.closes)

		before := l.Map().Stats().Iterations
		require.NoError(t, l.RunContext(ctx))
		assert.Equal(t, before, l.Map().Stats().Iterations, "a done context runs nothing")

		// The package-level form.
		ctx2, cancel2 := context.WithCancel(context.Background())
		ran = runAsync(func() error {
			return loop.RunContext(ctx2, loop.Options{Map: l.Map(), Backend: kind, Timeout: -1})
		})
		require.NoError(t, l.Map().Post(cancel2))
		require.NoError(t, <-ran)

		// A run that ended because the map emptied, whose context ends
		// later, leaves nothing behind for the next Run.
		ctx3, cancel3 := context.WithCancel(context.Background())
		c.onEvents = func(poller.Events) { _ = c.Close() }
		poke(t, cpeer)
		require.NoError(t, l.RunContext(ctx3))
		cancel3()
		d, dp := testutil.PeerSocketpair(t)
		poke(t, dp)
		dc := addFake(t, l.Map(), d, poller.Read)
		dc.onEvents = func(poller.Events) { _ = dc.Close() }
		require.NoError(t, l.Run())
		assert.Equal(t, 1, dc.events, "the later Run ran")
	})
}

// TestRunGraceful: RunGraceful serves until its context ends, then shuts
// down gracefully — every channel is asked to finish, says goodbye and
// closes — and returns once the map is empty, well before its grace period
// (an hour, so only the map emptying can end it).
func TestRunGraceful(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		var gs []*goodbye
		var peers []int
		for range 2 {
			g, p := addGoodbye(t, l.Map(), false)
			gs, peers = append(gs, g), append(peers, p)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ran := runAsync(func() error { return l.RunGraceful(ctx, time.Hour) })
		cancel()
		require.NoError(t, <-ran)
		assert.Zero(t, l.Map().Len())
		for i, g := range gs {
			assert.Equal(t, 1, g.begun, "channel %d", i)
			assert.True(t, g.closed)
			assert.Equal(t, "bye", readAll(t, peers[i]))
		}
	})
}
