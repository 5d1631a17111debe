package dispatcher_test

// The connection policy's state per map — the cap (F2, connection-cap,
// docs/failure-modes.md#f2-connection-cap), the count it caps and the
// connection counters — belongs to the dispatcher package, not to the loop.

import (
	"testing"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestMaxConnsSetting: zero is the default, min(10000, NOFILE soft − 32);
// negative is no cap; SetMaxConns changes it, per map.
func TestMaxConnsSetting(t *testing.T) {
	var rl unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &rl))
	want := 10000
	if rl.Cur < 10000+32 {
		want = max(1, int(rl.Cur)-32)
	}
	assert.Equal(t, want, dispatcher.DefaultMaxConns())

	m, other := loop.NewMap(), loop.NewMap()
	assert.Equal(t, want, dispatcher.MaxConns(m), "a map nothing has run yet")
	dispatcher.SetMaxConns(m, -5)
	assert.Equal(t, -1, dispatcher.MaxConns(m))
	dispatcher.SetMaxConns(m, 7)
	assert.Equal(t, 7, dispatcher.MaxConns(m))
	assert.Equal(t, want, dispatcher.MaxConns(other), "the cap is the map's own")
	dispatcher.SetMaxConns(m, 0)
	assert.Equal(t, want, dispatcher.MaxConns(m))
}

// TestDefaultMaxConnsFitsBackend: select(2) watches descriptors below
// FD_SETSIZE only, so on select the default cap leaves room below it for the
// loop's own descriptors; the other backends keep DefaultMaxConns.
func TestDefaultMaxConnsFitsBackend(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := looptest.NewLoop(t, kind)
		m := l.Map()
		if limit := kind.FDLimit(); limit > 0 {
			assert.LessOrEqual(t, dispatcher.MaxConns(m), limit-32, "room for the loop's own descriptors")
			assert.Equal(t, min(dispatcher.DefaultMaxConns(), limit-32), dispatcher.MaxConns(m))
			dispatcher.SetMaxConns(m, 0)
			assert.Equal(t, min(dispatcher.DefaultMaxConns(), limit-32), dispatcher.MaxConns(m), "SetMaxConns(0) too")
		} else {
			assert.Equal(t, dispatcher.DefaultMaxConns(), dispatcher.MaxConns(m))
		}
		dispatcher.SetMaxConns(m, 5000)
		assert.Equal(t, 5000, dispatcher.MaxConns(m), "an explicit cap is kept")
	})
}

// TestStatsFreshMap: a map no dispatcher has used reports zeros.
func TestStatsFreshMap(t *testing.T) {
	assert.Equal(t, dispatcher.ConnStats{}, dispatcher.Stats(loop.NewMap()))
}
