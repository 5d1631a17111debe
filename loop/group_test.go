package loop_test

import (
	"errors"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartGroupRejectsBadArguments(t *testing.T) {
	noop := func(int, *loop.Loop) error { return nil }
	_, err := loop.StartGroup(0, loop.Options{}, noop)
	assert.Error(t, err)
	_, err = loop.StartGroup(1, loop.Options{Map: loop.NewMap()}, noop)
	assert.Error(t, err)
	_, err = loop.StartGroup(1, loop.Options{}, nil)
	assert.Error(t, err)
}

// TestStartGroupSetupFails checks that a failing setup stops and closes the
// loops already started, in order, and that no descriptor is left behind.
func TestStartGroupSetupFails(t *testing.T) {
	testutil.CheckFDLeaks(t)
	boom := errors.New("boom")
	var order []int
	_, err := loop.StartGroup(3, loop.Options{}, func(i int, l *loop.Loop) error {
		order = append(order, i)
		if i == 2 {
			return boom
		}
		return nil
	})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, []int{0, 1, 2}, order, "setups run one after another")
}

// TestGroupPostRunsOnItsLoop posts to each loop and checks the function gets
// that loop, runs on its goroutine, and that Stop and Wait return.
func TestGroupPostRunsOnItsLoop(t *testing.T) {
	testutil.CheckFDLeaks(t)
	loops := make([]*loop.Loop, 2)
	g, err := loop.StartGroup(2, loop.Options{Timeout: -1}, func(i int, l *loop.Loop) error {
		loops[i] = l
		return nil
	})
	require.NoError(t, err)
	for i := range 2 {
		got := make(chan *loop.Loop, 1)
		require.NoError(t, g.Post(i, func(l *loop.Loop) { got <- l }))
		select {
		case l := <-got:
			assert.Same(t, loops[i], l)
		case <-time.After(testutil.HangGuard):
			t.Fatalf("loop %d did not run the posted function", i)
		}
	}
	assert.Error(t, g.Post(2, func(*loop.Loop) {}))
	g.Stop()
	require.NoError(t, g.Wait())
}
