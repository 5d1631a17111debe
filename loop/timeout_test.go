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

// TestRunZeroTimeoutPolls is asyncore's game-loop idiom,
// asyncore.loop(timeout=0, count=1), called between frames: every call must
// poll and return, whatever the channels are doing, as RunOnce(0) does.
func TestRunZeroTimeoutPolls(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		m := loop.NewMap()
		t.Cleanup(func() { closeMap(m) })
		local, _ := testutil.PeerSocketpair(t)
		idle := addFake(t, m, local, poller.Read)
		waits := loop.ObserveWaits(t)
		for range 3 {
			require.NoError(t, loop.Run(loop.Options{Map: m, Backend: kind, Timeout: 0, Count: 1}))
		}
		require.NoError(t, loop.Run(loop.Options{Map: m, Backend: kind, Count: 2}))
		assert.Equal(t, []time.Duration{0, 0, 0, 0, 0}, *waits, "Timeout 0 with a Count polls")
		assert.Zero(t, idle.events)

		// The same options on a Loop of one's own.
		l := newLoop(t, kind, loop.Options{Count: 2})
		other, _ := testutil.PeerSocketpair(t)
		addFake(t, l.Map(), other, poller.Read)
		*waits = nil
		require.NoError(t, l.Run())
		assert.Equal(t, []time.Duration{0, 0}, *waits)
	})
}

// TestRunEmptyOptionsDoNotSpin: with Timeout 0 meaning "poll", a run with
// no Count (the zero Options) would spin on an idle map. It must block
// instead until something happens: here a timer that closes the channel.
func TestRunEmptyOptionsDoNotSpin(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		for _, form := range []string{"New", "package Run"} {
			t.Run(form, func(t *testing.T) {
				m := loop.NewMap()
				t.Cleanup(func() { closeMap(m) })
				local, _ := testutil.PeerSocketpair(t)
				c := addFake(t, m, local, poller.Read)
				l := newLoop(t, kind, loop.Options{Map: m})
				l.AfterFunc(20*time.Millisecond, func() { _ = c.Close() })
				waits := loop.ObserveWaits(t)
				if form == "New" {
					require.NoError(t, l.Run())
				} else {
					require.NoError(t, loop.Run(loop.Options{Map: m, Backend: kind}))
				}
				require.NotEmpty(t, *waits)
				assert.NotContains(t, *waits, time.Duration(0), "an idle loop with the zero Options polled: it would spin")
				assert.Less(t, len(*waits), 5, "an idle loop wakes for its timer, not in a loop")
			})
		}
	})
}

// TestGroupZeroTimeoutBlocks: a group's loops run without a Count, so a
// zero Timeout must not make them spin either. It used to check only the
// first wait, which is a poll whenever the Post below arrives before the
// loop first waits: it failed once in CI for that reason alone.
func TestGroupZeroTimeoutBlocks(t *testing.T) {
	waits := loop.WaitsChan(t)
	posted := make(chan struct{})
	g, err := loop.StartGroup(1, loop.Options{Backend: poller.Available()[0]}, func(int, *loop.Loop) error { return nil })
	require.NoError(t, err)
	defer func() {
		g.Stop()
		require.NoError(t, g.Wait())
	}()
	require.NoError(t, g.Post(0, func(*loop.Loop) { close(posted) }))
	<-posted
	// The Post may land before the loop's first wait, which then polls
	// once to run it (a zero wait); idle after it, the loop must block.
	polled := 0
	guard := time.After(testutil.HangGuard)
	for {
		select {
		case w := <-waits:
			if w < 0 {
				return // blocked: no spinning
			}
			if w == 0 {
				polled++
				require.LessOrEqual(t, polled, 1, "an idle group loop polls again and again: it spins")
			}
		case <-guard:
			t.Fatal("the group loop never blocked")
		}
	}
}
