package dispatcher_test

// CPython's test_closeall and test_closeall_default
// (docs/asyncore-compat.md#close-all), and the deliberate difference that
// CloseAll empties the map even when a Close fails
// (docs/asyncore-compat.md#small-differences).

import (
	"errors"
	"os"
	"testing"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// dummyChannel is CPython's dummychannel: a channel with no descriptor
// behind it, whose Close records the call and returns closeErr. Like
// asyncore's, its Close does not remove it from the map.
type dummyChannel struct {
	closed   int
	closeErr error
}

func (c *dummyChannel) Interest() poller.Events    { return 0 }
func (c *dummyChannel) HandleEvents(poller.Events) {}
func (c *dummyChannel) HandleError(error)          {}
func (c *dummyChannel) Close() error {
	c.closed++
	return c.closeErr
}

// fillMap registers 10 dummy channels in m under the keys 0–9.
func fillMap(t *testing.T, m *loop.Map) []*dummyChannel {
	t.Helper()
	chans := make([]*dummyChannel, 10)
	for i := range chans {
		chans[i] = &dummyChannel{}
		require.NoError(t, m.Add(i, chans[i]))
		assert.Zero(t, chans[i].closed)
	}
	require.Equal(t, 10, m.Len())
	return chans
}

// closeallCheck is CPython's closeall_check.
func closeallCheck(t *testing.T, useDefault bool) {
	m := loop.NewMap()
	if useDefault {
		m = loop.DefaultMap()
		require.Zero(t, m.Len(), "the default map must be empty when the test starts")
		t.Cleanup(func() {
			for fd := range 10 {
				m.Remove(fd, m.Get(fd))
			}
		})
	}
	chans := fillMap(t, m)
	if useDefault {
		require.NoError(t, dispatcher.CloseAll(nil, false))
	} else {
		require.NoError(t, dispatcher.CloseAll(m, false))
	}
	assert.Zero(t, m.Len())
	for i, c := range chans {
		assert.Equal(t, 1, c.closed, "channel %d closed once", i)
		assert.Nil(t, m.Get(i))
	}
}

// TestCloseAll is test_closeall: CloseAll closes every channel of the map
// it is given and empties it.
func TestCloseAll(t *testing.T) { closeallCheck(t, false) }

// TestCloseAllDefault is test_closeall_default: a nil map means
// loop.DefaultMap.
func TestCloseAllDefault(t *testing.T) { closeallCheck(t, true) }

// TestCloseAllErrors is docs/asyncore-compat.md#close-all with our difference:
// the map is emptied and every channel closed even when some Close fails; EBADF
// is ignored, any other error is returned (joined) unless ignoreAll is set.
func TestCloseAllErrors(t *testing.T) {
	eperm := os.NewSyscallError("close", unix.EPERM)
	eio := os.NewSyscallError("close", unix.EIO)
	ebadf := os.NewSyscallError("close", unix.EBADF)
	tests := []struct {
		name      string
		errs      map[int]error // channel index → its Close error
		ignoreAll bool
		want      []error // errors.Is must find each
	}{
		{"EPERM is returned", map[int]error{3: eperm}, false, []error{unix.EPERM}},
		{"EBADF is ignored", map[int]error{5: ebadf}, false, nil},
		{"EBADF and EPERM", map[int]error{2: ebadf, 7: eperm}, false, []error{unix.EPERM}},
		{"errors are joined", map[int]error{1: eperm, 8: eio}, false, []error{unix.EPERM, unix.EIO}},
		{"ignoreAll", map[int]error{1: eperm, 8: eio}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := loop.NewMap()
			chans := fillMap(t, m)
			for i, err := range tt.errs {
				chans[i].closeErr = err
			}
			err := dispatcher.CloseAll(m, tt.ignoreAll)
			if tt.want == nil {
				assert.NoError(t, err)
			} else {
				require.Error(t, err)
				for _, w := range tt.want {
					assert.ErrorIs(t, err, w)
				}
				assert.NotErrorIs(t, err, unix.EBADF)
			}
			assert.Zero(t, m.Len(), "the map is emptied even when a Close fails")
			for i, c := range chans {
				assert.Equal(t, 1, c.closed, "channel %d closed once", i)
			}
		})
	}
}

// TestCloseAllDispatchers: CloseAll on a loop's map of real dispatchers
// closes their descriptors and leaves them closed; the loop then has
// nothing to serve.
func TestCloseAllDispatchers(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l := looptest.NewLoop(t, kind)
		m := l.Map()
		var ds []*dispatcher.Dispatcher
		var fds []int
		for range 10 {
			d := dispatcher.New(m)
			require.NoError(t, d.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
			ds = append(ds, d)
			fds = append(fds, d.Fd())
		}
		require.NoError(t, l.RunOnce(0)) // the poller now watches them
		require.NoError(t, dispatcher.CloseAll(m, false))
		assert.Zero(t, m.Len())
		for i, d := range ds {
			assert.Equal(t, -1, d.Fd())
			_, err := unix.FcntlInt(uintptr(fds[i]), unix.F_GETFD, 0)
			assert.ErrorIs(t, err, unix.EBADF, "fd %d is closed", fds[i])
		}
		require.NoError(t, l.RunOnce(0))
		require.NoError(t, loop.Run(loop.Options{Map: m, Backend: kind}), "an empty map returns at once")
	})
}

// closeErrChannel is a real dispatcher whose Close fails after closing.
type closeErrChannel struct {
	dispatcher.Dispatcher
}

func (c *closeErrChannel) Close() error {
	_ = c.Dispatcher.Close()
	return errors.New("close failed")
}

// TestCloseAllClosingFails: a dispatcher whose Close fails still leaves the
// map, and the error is returned.
func TestCloseAllClosingFails(t *testing.T) {
	testutil.CheckFDLeaks(t)
	m := loop.NewMap()
	c := &closeErrChannel{}
	c.Init(c, m)
	require.NoError(t, c.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
	d := dispatcher.New(m)
	require.NoError(t, d.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
	err := dispatcher.CloseAll(m, false)
	assert.EqualError(t, err, "close failed")
	assert.Zero(t, m.Len())
	assert.Equal(t, -1, c.Fd())
	assert.Equal(t, -1, d.Fd())
}
