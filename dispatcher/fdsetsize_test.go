//go:build linux

package dispatcher_test

// select(2) watches descriptors below FD_SETSIZE only. A select-backend
// server whose accepted descriptors reach it refuses those connections the
// way it refuses them over MaxConns — reject message, close, counted in
// dispatcher.Stats's Rejected — and goes on serving the others, with no ERROR logged;
// a high descriptor adopted by other means is refused with a clear error.

import (
	"bufio"
	"io"
	"net"
	"slices"
	"strings"
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

func needSelect(t *testing.T) {
	if !slices.Contains(looptest.Backends(), poller.Select) {
		t.Skip("the select backend is not among REACTOR_BACKEND")
	}
}

// loggedServer is a capServer whose connections log where it does.
type loggedServer struct {
	capServer
}

func (s *loggedServer) HandleAccepted(fd int, _ net.Addr) {
	e := &capEcho{echoed: &s.echoed}
	e.Init(e, s.Map())
	e.Logger = s.Logger
	if err := e.Adopt(fd); err != nil {
		_ = unix.Close(fd)
		return
	}
	s.conns = append(s.conns, e)
}

// fillLowFDs opens /dev/null until every descriptor below FD_SETSIZE is
// taken, so that the next socket this process gets is numbered at or above
// it. The fillers are closed when the test ends.
func fillLowFDs(t *testing.T) {
	var fillers []int
	t.Cleanup(func() {
		for _, fd := range fillers {
			_ = unix.Close(fd)
		}
	})
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		require.NoError(t, err)
		if fd >= poller.FDSetSize {
			require.NoError(t, unix.Close(fd))
			return
		}
		fillers = append(fillers, fd)
	}
}

func TestSelectRefusesFDsOverFDSetSize(t *testing.T) {
	needSelect(t)
	const early, late = 3, 20
	reject := "-ERR busy\r\n"
	l, err := loop.New(loop.Options{Map: loop.NewMap(), Backend: poller.Select})
	require.NoError(t, err)
	dispatcher.SetMaxConns(l.Map(), -1)
	t.Cleanup(func() {
		_ = dispatcher.CloseAll(l.Map(), true)
		_ = l.Close()
	})
	s := &loggedServer{}
	s.Init(s, l.Map())
	buf := captureLog(&s.Dispatcher)
	s.RejectMessage = []byte(reject)
	require.NoError(t, s.ListenTCP("127.0.0.1:0"))
	addr := s.Socket().LocalAddr().String()

	var cs []net.Conn
	t.Cleanup(func() {
		for _, c := range cs {
			_ = c.Close()
		}
	})
	dial := func() net.Conn {
		c, err := net.Dial("tcp4", addr)
		require.NoError(t, err)
		cs = append(cs, c)
		return c
	}
	echo := func(c net.Conn) {
		t.Helper()
		want := s.echoed + 5
		_, err := c.Write([]byte("ping\n"))
		require.NoError(t, err)
		testutil.RunUntil(t, l, waitFor, func() bool { return s.echoed >= want })
		require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
		line, err := bufio.NewReader(c).ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "ping\n", line)
	}
	for range early {
		dial()
	}
	testutil.RunUntil(t, l, waitFor, func() bool { return dispatcher.Stats(l.Map()).Conns == early })

	fillLowFDs(t) // from now on every accepted descriptor is >= FD_SETSIZE
	for range late {
		dial()
	}
	testutil.RunUntil(t, l, waitFor, func() bool { return s.AcceptStats().Rejected == late })
	st := dispatcher.Stats(l.Map())
	assert.EqualValues(t, late, st.Rejected, "Stats.Rejected")
	assert.Equal(t, early, st.Conns)
	for _, c := range cs[early:] {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
		got, err := io.ReadAll(c)
		require.NoError(t, err)
		assert.Equal(t, reject, string(got))
	}
	for _, c := range cs[:early] {
		echo(c)
	}
	assert.True(t, s.Accepting(), "the listener stays open")
	for _, line := range logLines(buf) {
		assert.False(t, strings.Contains(line, "level=ERROR"), "no ERROR: %s", line)
	}
}

func TestSelectAdoptHighFD(t *testing.T) {
	needSelect(t)
	l := looptest.NewLoop(t, poller.Select)
	a, _ := testutil.Socketpair(t)
	high, err := unix.FcntlInt(uintptr(a), unix.F_DUPFD_CLOEXEC, poller.FDSetSize+7)
	require.NoError(t, err)
	defer unix.Close(high)
	d := dispatcher.New(l.Map())
	buf := captureLog(d)
	err = d.Adopt(high)
	require.ErrorIs(t, err, poller.ErrFDTooLarge)
	assert.Contains(t, err.Error(), "FD_SETSIZE")
	assert.Equal(t, -1, d.Fd())
	assert.Zero(t, l.Map().Len())
	_, err = unix.FcntlInt(uintptr(high), unix.F_GETFD, 0)
	assert.NoError(t, err, "on error the descriptor stays the caller's, open")
	testutil.RunUntil(t, l, waitFor, func() bool { return true })
	assert.Empty(t, logLines(buf))
}
