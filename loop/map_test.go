package loop_test

import (
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The first tests use a map with no loop: nothing touches the descriptors,
// so the fd numbers are arbitrary and the fakes are never closed.

func TestMapAddGetLenRemove(t *testing.T) {
	m := loop.NewMap()
	assert.Zero(t, m.Len())
	assert.Nil(t, m.Get(3))
	assert.Nil(t, m.Get(-1))
	assert.Nil(t, m.Get(1<<20))
	assert.Nil(t, loop.Attached(m))

	a, b, c := &fake{m: m}, &fake{m: m}, &fake{m: m}
	require.NoError(t, m.Add(3, a))
	require.NoError(t, m.Add(70, b)) // beyond the initial table
	require.NoError(t, m.Add(5000, c))
	assert.Equal(t, 3, m.Len())
	assert.Same(t, a, m.Get(3))
	assert.Same(t, b, m.Get(70))
	assert.Same(t, c, m.Get(5000))
	assert.Nil(t, m.Get(4))

	assert.False(t, m.Remove(3, b), "Remove with another channel does nothing")
	assert.Same(t, a, m.Get(3))
	assert.Equal(t, 3, m.Len())
	assert.False(t, m.Remove(4, a), "nothing registered there")
	assert.False(t, m.Remove(-1, a))
	assert.False(t, m.Remove(1<<20, a))

	assert.True(t, m.Remove(3, a))
	assert.Nil(t, m.Get(3))
	assert.Equal(t, 2, m.Len())
	assert.False(t, m.Remove(3, a), "a second Remove does nothing")
	assert.Equal(t, 2, m.Len())
}

func TestMapAddReplaces(t *testing.T) {
	m := loop.NewMap()
	a, b := &fake{m: m}, &fake{m: m}
	require.NoError(t, m.Add(8, a))
	require.NoError(t, m.Add(8, b))
	assert.Equal(t, 1, m.Len(), "replacing does not count twice")
	assert.Same(t, b, m.Get(8))
	assert.False(t, m.Remove(8, a), "the replaced channel can no longer remove the fd")
	assert.Same(t, b, m.Get(8))
	require.NoError(t, m.Add(8, b), "re-adding the same channel is a replacement too")
	assert.Equal(t, 1, m.Len())
}

func TestMapAddRejects(t *testing.T) {
	m := loop.NewMap()
	assert.ErrorIs(t, m.Add(-1, &fake{m: m}), loop.ErrBadFD)
	assert.ErrorIs(t, m.Add(-100, &fake{m: m}), loop.ErrBadFD)
	assert.Error(t, m.Add(3, nil))
	assert.Zero(t, m.Len())
}

func TestMapRange(t *testing.T) {
	m := loop.NewMap()
	fds := []int{40, 3, 900, 17, 5}
	for _, fd := range fds {
		require.NoError(t, m.Add(fd, &fake{m: m, fd: fd}))
	}

	var seen []int
	m.Range(func(fd int, ch loop.Channel) bool {
		assert.Equal(t, fd, ch.(*fake).fd)
		seen = append(seen, fd)
		return true
	})
	assert.Equal(t, []int{3, 5, 17, 40, 900}, seen, "ascending fd order")

	seen = nil
	m.Range(func(fd int, ch loop.Channel) bool {
		seen = append(seen, fd)
		return len(seen) < 2
	})
	assert.Equal(t, []int{3, 5}, seen, "false stops the walk")

	// Removing during Range is allowed, including channels not yet visited.
	seen = nil
	m.Range(func(fd int, ch loop.Channel) bool {
		seen = append(seen, fd)
		m.Remove(fd, ch)
		if fd == 5 {
			m.Remove(17, m.Get(17))
		}
		return true
	})
	assert.Equal(t, []int{3, 5, 40, 900}, seen)
	assert.Zero(t, m.Len())
}

func TestDefaultMap(t *testing.T) {
	require.NotNil(t, loop.DefaultMap())
	assert.Same(t, loop.DefaultMap(), loop.DefaultMap())
	assert.NotSame(t, loop.DefaultMap(), loop.NewMap())
}

// The remaining tests attach the map to a loop.

func TestMapAddReplacesWithLoop(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		local, peer := testutil.PeerSocketpair(t)
		poke(t, peer)
		a := addFake(t, l.Map(), local, poller.Read)
		require.NoError(t, l.RunOnce(time.Second))
		require.Equal(t, 1, a.events)

		b := addFake(t, l.Map(), local, poller.Read)
		require.NoError(t, l.RunOnce(time.Second))
		require.NoError(t, l.RunOnce(time.Second))
		assert.Equal(t, 1, a.events, "the replaced channel gets nothing")
		assert.Equal(t, 2, b.events, "its replacement gets the events")

		require.NoError(t, a.Close())
		assert.True(t, testutil.IsOpen(local), "a replaced channel does not own the descriptor")
		assert.Same(t, b, l.Map().Get(local))
	})
}

func TestMapRemoveStopsEvents(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		local, peer := testutil.PeerSocketpair(t)
		poke(t, peer)
		a := addFake(t, l.Map(), local, poller.Read)
		require.NoError(t, l.RunOnce(time.Second))
		require.Equal(t, 1, a.events)
		require.True(t, loop.PollerWatches(l, local))

		require.True(t, l.Map().Remove(local, a))
		assert.False(t, loop.PollerWatches(l, local), "Remove takes the fd out of the poller at once")
		require.NoError(t, l.RunOnce(20*time.Millisecond))
		assert.Equal(t, 1, a.events)
		assert.True(t, testutil.IsOpen(local), "Remove does not close")
		require.NoError(t, l.Map().CloseFD(local))
		assert.False(t, testutil.IsOpen(local), "CloseFD outside a batch closes at once")
	})
}

// TestMapCloseFDDeferredInBatch: a descriptor closed by a handler stays open
// until the batch is over, so its number cannot be handed out again while
// events for it may still be pending.
func TestMapCloseFDDeferredInBatch(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := newLoop(t, kind, loop.Options{})
		local, peer := testutil.PeerSocketpair(t)
		poke(t, peer)
		c := addFake(t, l.Map(), local, poller.Read)
		openInHandler := false
		c.onEvents = func(poller.Events) {
			assert.NoError(t, c.Close())
			openInHandler = testutil.IsOpen(local)
		}
		require.NoError(t, l.RunOnce(time.Second))
		assert.True(t, openInHandler, "the close waits for the end of the batch")
		assert.False(t, testutil.IsOpen(local), "and happens before RunOnce returns")
		assert.Zero(t, l.Map().Len())
	})
}

// TestMapMovesToSecondLoop: New with a map another loop serves moves the
// registrations. The first loop's poller stops watching the map's fds and
// the second loop delivers their events; closing the first loop then does
// not disturb the second. (Running the first loop again takes the map back,
// as RunOnce documents; that is checked last.)
func TestMapMovesToSecondLoop(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		m := loop.NewMap()
		l1, err := loop.New(loop.Options{Map: m, Backend: kind})
		require.NoError(t, err)
		t.Cleanup(func() { _ = l1.Close() })
		local, peer := testutil.PeerSocketpair(t)
		poke(t, peer)
		c := addFake(t, m, local, poller.Read)
		require.NoError(t, l1.RunOnce(time.Second))
		require.Equal(t, 1, c.events)
		require.True(t, loop.PollerWatches(l1, local))

		l2 := newLoop(t, kind, loop.Options{Map: m})
		assert.Same(t, l2, m.Loop())
		assert.False(t, loop.PollerWatches(l1, local), "the first loop no longer watches the map's fds")

		require.NoError(t, l2.RunOnce(time.Second))
		assert.Equal(t, 2, c.events, "the second loop delivers the events")
		assert.True(t, loop.PollerWatches(l2, local))

		// The first loop taking the map back (by running) moves it again.
		require.NoError(t, l1.RunOnce(time.Second))
		assert.Equal(t, 3, c.events)
		assert.Same(t, l1, m.Loop())
		assert.False(t, loop.PollerWatches(l2, local))

		// Closing a loop that no longer serves the map leaves the map to
		// the loop that does.
		require.NoError(t, l2.RunOnce(time.Second))
		require.NoError(t, l1.Close())
		assert.Same(t, l2, m.Loop())
		require.NoError(t, l2.RunOnce(time.Second))
		assert.Equal(t, 5, c.events)
	})
}
