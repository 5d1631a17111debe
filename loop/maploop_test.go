package loop_test

import (
	"sync"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMapLoopBeforeRun: a channel set up before any Run arms a timer and
// posts a function on its map's loop, as a dispatcher's constructor does
// with d.Map().Loop().AfterFunc. Both the package-level Run and a Loop made with
// New afterwards serve them, on the backend they ask for: the loop the
// setup code saw is the loop that runs.
func TestMapLoopBeforeRun(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		for _, form := range []string{"package Run", "New"} {
			t.Run(form, func(t *testing.T) {
				m := loop.NewMap()
				t.Cleanup(func() { closeMap(m) })
				local, _ := testutil.PeerSocketpair(t)
				c := addFake(t, m, local, poller.Read)
				var early *loop.Loop
				var got []string
				require.NotPanics(t, func() {
					early = m.Loop()
					early.AfterFunc(time.Millisecond, func() {
						got = append(got, "timer")
						_ = c.Close()
					})
					require.NoError(t, early.Post(func() { got = append(got, "posted") }))
					require.NoError(t, m.Post(func() { got = append(got, "map posted") }))
				})
				wd := time.AfterFunc(5*time.Second, func() { _ = m.Post(func() { closeMap(m) }) })
				t.Cleanup(func() { wd.Stop() })
				if form == "New" {
					l, err := loop.New(loop.Options{Map: m, Backend: kind})
					require.NoError(t, err)
					t.Cleanup(func() { _ = l.Close() })
					assert.Same(t, early, l, "New adopts the loop the map already had")
					assert.Equal(t, kind, l.Kind())
					require.NoError(t, l.Run())
				} else {
					require.NoError(t, loop.Run(loop.Options{Map: m, Backend: kind}))
				}
				assert.ElementsMatch(t, []string{"posted", "map posted", "timer"}, got)
			})
		}
	})
}

// TestMapPostFromAnotherGoroutine: another goroutine reaches the loop
// serving a map through Map.Post (or Map.Loop().Post) while the loop
// goroutine sets up and runs it. Run under -race.
func TestMapPostFromAnotherGoroutine(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		m := loop.NewMap()
		t.Cleanup(func() { closeMap(m) })
		local, _ := testutil.PeerSocketpair(t)
		c := addFake(t, m, local, poller.Read)
		const n = 100
		got := 0 // touched on the loop goroutine only
		var wg sync.WaitGroup
		wg.Add(2)
		for g := range 2 {
			go func() {
				defer wg.Done()
				for i := range n {
					post := m.Post
					if (i+g)%2 == 0 {
						post = m.Loop().Post
					}
					if err := post(func() {
						got++
						if got == 2*n {
							_ = c.Close()
						}
					}); err != nil {
						t.Errorf("Post: %v", err)
						return
					}
				}
			}()
		}
		l, err := loop.New(loop.Options{Map: m, Backend: kind})
		require.NoError(t, err)
		t.Cleanup(func() { _ = l.Close() })
		watchdog(t, l, 5*time.Second)
		require.NoError(t, l.Run())
		wg.Wait()
		assert.Equal(t, 2*n, got)
	})
}

// TestDefaultMapLoop: the default map has a loop from the start too.
func TestDefaultMapLoop(t *testing.T) {
	require.NotNil(t, loop.DefaultMap().Loop())
	assert.Same(t, loop.DefaultMap().Loop(), loop.DefaultMap().Loop())
}
