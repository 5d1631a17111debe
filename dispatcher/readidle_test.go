package dispatcher_test

import (
	"errors"
	"fmt"
	"os"
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

// readIdleConn stamps every input and every error with the loop's clock.
type readIdleConn struct {
	dispatcher.DispatcherWithSend
	l        *loop.Loop
	inputs   int
	lastIn   time.Duration
	errs     []error
	errAt    time.Duration
	sentLate int // bytes written after the last input
}

func (c *readIdleConn) HandleRead() {
	var buf [512]byte
	if n, _ := c.Recv(buf[:]); n > 0 {
		c.inputs++
		c.lastIn, c.sentLate = c.l.Now(), 0
	}
}

func (c *readIdleConn) HandleError(err error) {
	c.errs = append(c.errs, err)
	c.errAt = c.l.Now()
	_ = c.Close()
}

// TestReadIdleTimeout (issue 12.8): ReadIdleTimeout closes a connection
// that sent nothing for that long even while output flows to it — output is
// not progress for it, as it is for IdleTimeout — with ErrReadIdleTimeout;
// input keeps it open. Times are the loop's clock, and only lower bounds
// are checked: the timeout never fires early.
func TestReadIdleTimeout(t *testing.T) {
	const idle = 150 * time.Millisecond
	forEachBackendParallel(t, func(t *testing.T, kind poller.Kind) {
		l := looptest.NewLoop(t, kind)
		fd, peer := testutil.PeerSocketpair(t)
		c := &readIdleConn{l: l}
		c.Init(c, l.Map())
		c.ReadIdleTimeout = idle
		require.NoError(t, c.Adopt(fd))
		start := l.Now()

		// Output all along, input for three periods, then no more input.
		out := l.Every(5*time.Millisecond, func() {
			if c.Fd() >= 0 {
				c.Send([]byte("output\n"))
				c.sentLate++
			}
		})
		defer out.Stop()
		in := l.Every(10*time.Millisecond, func() {
			if l.Now()-start < 3*idle {
				_, _ = unix.Write(peer, []byte("x"))
			}
		})
		defer in.Stop()
		sink := make([]byte, 4096)
		testutil.RunUntil(t, l, waitFor, func() bool {
			for {
				if n, _ := unix.Read(peer, sink); n <= 0 {
					break
				}
			}
			return c.Fd() < 0
		})

		require.Len(t, c.errs, 1)
		err := c.errs[0]
		assert.ErrorIs(t, err, dispatcher.ErrReadIdleTimeout)
		assert.GreaterOrEqual(t, c.errAt-c.lastIn, idle, "closed before ReadIdleTimeout passed without input")
		assert.Positive(t, c.sentLate, "output went on after the last input")
		// Input kept it open: it heard several inputs, and closed only
		// once a whole period had passed without one (checked above).
		assert.Greater(t, c.inputs, 1)
	})
}

// TestReadIdleTimeoutOff: zero and negative are off, also under
// UseServerTimeouts, which does not turn ReadIdleTimeout on.
func TestReadIdleTimeoutOff(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l := looptest.NewLoop(t, kind)
		fd, _ := testutil.PeerSocketpair(t)
		c := &readIdleConn{l: l}
		c.Init(c, l.Map())
		c.Hooks().UseServerTimeouts()
		c.IdleTimeout = -1
		require.NoError(t, c.Adopt(fd))
		start := l.Now()
		testutil.RunUntil(t, l, waitFor, func() bool { return l.Now()-start > 200*time.Millisecond })
		assert.Empty(t, c.errs)
		assert.GreaterOrEqual(t, c.Fd(), 0)
	})
}

// TestTimeoutErrorsPeerCaused: the dispatcher's timeout errors say they
// were caused by the peer (the interface the default HandleError and
// IsPeerCaused look for), are timeouts (os.IsTimeout), and stay comparable
// with == and errors.Is, also when wrapped.
func TestTimeoutErrorsPeerCaused(t *testing.T) {
	for _, target := range []error{
		dispatcher.ErrIdleTimeout,
		dispatcher.ErrReadIdleTimeout,
		dispatcher.ErrWriteStall,
		dispatcher.ErrConnectTimeout,
	} {
		t.Run(target.Error(), func(t *testing.T) {
			var pc interface{ PeerCaused() bool }
			wrapped := fmt.Errorf("conn 7: %w", target)
			require.True(t, errors.As(wrapped, &pc), "PeerCaused is found through wrapping")
			assert.True(t, pc.PeerCaused())
			assert.True(t, errors.Is(wrapped, target))
			assert.True(t, target == target) //nolint:staticcheck // comparable with ==
			assert.True(t, os.IsTimeout(target))
		})
	}
	assert.ErrorIs(t, dispatcher.ErrConnectTimeout, unix.ETIMEDOUT)
	assert.False(t, errors.Is(dispatcher.ErrIdleTimeout, dispatcher.ErrReadIdleTimeout))
}
