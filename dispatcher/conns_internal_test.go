package dispatcher

import (
	"runtime"
	"testing"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// adoptPair adopts one end of a new socketpair into a plain Dispatcher in m.
func adoptPair(t *testing.T, m *loop.Map) *Dispatcher {
	t.Helper()
	a, _ := testutil.Socketpair(t)
	fd, err := dupFD(a)
	require.NoError(t, err)
	d := New(m)
	require.NoError(t, d.Adopt(fd))
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// dupFD duplicates fd, so the dispatcher owns a descriptor of its own
// and the pair's clean-up closes only the original.
func dupFD(fd int) (int, error) { return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0) }

// TestConnsCount: a dispatcher registered under a descriptor its map's
// listener marked as accepted counts in Conns (and in Accepted) until it
// is removed or replaced; others never count.
func TestConnsCount(t *testing.T) {
	m := loop.NewMap()
	conns := func() int { return Stats(m).Conns }

	_ = adoptPair(t, m) // a listener, say: never marked
	assert.Zero(t, conns())

	st := stateOf(m)
	b := newMarked(t, m, st)
	assert.Equal(t, 1, conns())
	assert.EqualValues(t, 1, Stats(m).Accepted)

	_ = adoptPair(t, m) // the mark was used up
	assert.Equal(t, 1, conns())

	a, _ := testutil.Socketpair(t)
	fd, err := dupFD(a)
	require.NoError(t, err)
	st.markAccepted(fd, 0, 0, nil)
	st.unmarkAccepted() // not adopted after all
	c := New(m)
	require.NoError(t, c.Adopt(fd))
	t.Cleanup(func() { _ = c.Close() })
	assert.Equal(t, 1, conns())

	// Replaced: a dispatcher adopting b's descriptor number while b is
	// registered takes its place; the newcomer was not accepted.
	nb := New(m)
	require.NoError(t, nb.Adopt(b.Fd()))
	assert.Zero(t, conns())
	b.fd = -1 // b's descriptor is nb's now: b must not close it
	require.NoError(t, nb.Close())
	assert.Zero(t, conns())

	d := newMarked(t, m, st)
	assert.Equal(t, 1, conns())
	require.NoError(t, d.Close())
	assert.Zero(t, conns())
	assert.EqualValues(t, 2, Stats(m).Accepted)

	// Another map keeps its own count.
	other := loop.NewMap()
	assert.Zero(t, Stats(other).Conns)
	assert.Equal(t, 4-1, m.Len()) // the listener, the unmarked two; b and d are gone
}

// newMarked adopts a new descriptor the way HandleAccept has a handler adopt
// one: marked as accepted while HandleAccepted runs.
func newMarked(t *testing.T, m *loop.Map, st *mapState) *Dispatcher {
	t.Helper()
	a, _ := testutil.Socketpair(t)
	fd, err := dupFD(a)
	require.NoError(t, err)
	d := New(m)
	st.markAccepted(fd, 0, 0, nil)
	require.NoError(t, d.Adopt(fd))
	st.unmarkAccepted()
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// TestMapStateReleased: the policy state of a map nobody holds any more is
// dropped with it, so programs that make many maps do not grow.
func TestMapStateReleased(t *testing.T) {
	base := mapStateCount()
	for range 100 {
		m := loop.NewMap()
		SetMaxConns(m, 5)
	}
	require.Greater(t, mapStateCount(), base)
	// Cleanups run after a collection finds the maps unreachable; wait for
	// them (bounded by count, not by time).
	for range 1000 {
		runtime.GC()
		if mapStateCount() <= base {
			break
		}
		runtime.Gosched()
	}
	assert.LessOrEqual(t, mapStateCount(), base)
}

// mapStateCount reports how many maps have state, for tests.
func mapStateCount() int {
	n := 0
	mapStates.Range(func(_, _ any) bool { n++; return true })
	return n
}
