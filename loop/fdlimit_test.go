package loop_test

import (
	"errors"
	"testing"

	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestMapAddRefusesHighFD: a map served by a select loop refuses, at once
// and with poller.ErrFDTooLarge, a descriptor select cannot watch, instead
// of taking it and failing later in the loop.
func TestMapAddRefusesHighFD(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := looptest.NewLoop(t, kind)
		a, _ := testutil.Socketpair(t)
		high, err := unix.FcntlInt(uintptr(a), unix.F_DUPFD_CLOEXEC, poller.FDSetSize+100)
		require.NoError(t, err)
		defer unix.Close(high)
		ch := &fake{m: l.Map(), fd: high}
		err = l.Map().Add(high, ch)
		if kind.FDLimit() == 0 {
			require.NoError(t, err)
			l.Map().Remove(high, ch)
			return
		}
		require.Error(t, err)
		assert.True(t, errors.Is(err, poller.ErrFDTooLarge), "%v", err)
		assert.Zero(t, l.Map().Len())
		assert.Equal(t, l.Kind().FDLimit(), l.FDLimit())
	})
}
