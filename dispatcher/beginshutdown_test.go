package dispatcher_test

import (
	"net"
	"testing"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// goodbyeConn says goodbye when the server shuts down, behind a reply
// larger than the socket takes at once.
type goodbyeConn struct {
	dispatcher.DispatcherWithSend
	shutdowns int
}

func (c *goodbyeConn) HandleShutdown() {
	c.shutdowns++
	c.Send([]byte("421 shutting down\r\n"))
}

// goodbyeChat is the same on AsyncChat.
type goodbyeChat struct {
	chat.AsyncChat
	shutdowns int
}

func (c *goodbyeChat) HandleShutdown() {
	c.shutdowns++
	c.Push([]byte("421 shutting down\r\n"))
}

// readAll reads fd's peer end until EOF while l runs, and returns it.
func readAllWhileRunning(t *testing.T, l *loop.Loop, peer int) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, 64<<10)
	eof := false
	testutil.RunUntil(t, l, waitFor, func() bool {
		for !eof {
			n, err := unix.Read(peer, buf)
			if n > 0 {
				got = append(got, buf[:n]...)
				continue
			}
			if n == 0 && err == nil {
				eof = true
			}
			break
		}
		return eof
	})
	return got
}

// TestBeginShutdown (issue 12.6, the dispatcher's side): a listener stops
// accepting; a connection's HandleShutdown says goodbye, and the goodbye —
// behind output still queued — reaches the peer before the EOF, on
// DispatcherWithSend and AsyncChat alike; a plain Dispatcher is closed.
// A second BeginShutdown does nothing more.
func TestBeginShutdown(t *testing.T) {
	forEachBackendParallel(t, func(t *testing.T, kind poller.Kind) {
		l := looptest.NewLoop(t, kind)
		m := l.Map()

		srv, err := dispatcher.Serve(m, "127.0.0.1:0", func() dispatcher.Handler { return nil })
		require.NoError(t, err)
		addr := srv.Addr().String()
		srv.BeginShutdown()
		assert.False(t, srv.Accepting())
		assert.Equal(t, -1, srv.Fd())
		_, err = net.Dial("tcp", addr)
		assert.Error(t, err, "no longer accepting")

		fd, peer := testutil.PeerSocketpair(t)
		// 256 KiB behind a fixed 16 KiB send buffer: most of it is still
		// queued when the goodbye is asked for.
		require.NoError(t, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 16<<10))
		c := &goodbyeConn{}
		c.Init(c, m)
		require.NoError(t, c.Adopt(fd))
		reply := make([]byte, 256<<10)
		c.Send(reply)
		require.Positive(t, c.Pending())
		c.BeginShutdown()
		c.BeginShutdown()
		got := readAllWhileRunning(t, l, peer)
		require.Equal(t, len(reply)+len("421 shutting down\r\n"), len(got))
		assert.Equal(t, "421 shutting down\r\n", string(got[len(reply):]))
		assert.Equal(t, 1, c.shutdowns)
		assert.Equal(t, -1, c.Fd())

		fd, peer = testutil.PeerSocketpair(t)
		require.NoError(t, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 16<<10))
		ch := &goodbyeChat{}
		ch.Init(ch, m)
		require.NoError(t, ch.Adopt(fd))
		ch.Push(reply)
		ch.BeginShutdown()
		got = readAllWhileRunning(t, l, peer)
		assert.Equal(t, len(reply)+len("421 shutting down\r\n"), len(got))
		assert.Equal(t, 1, ch.shutdowns)
		testutil.RunUntil(t, l, waitFor, func() bool { return ch.Fd() < 0 })

		fd, peer = testutil.PeerSocketpair(t)
		p := dispatcher.New(m)
		require.NoError(t, p.Adopt(fd))
		p.BeginShutdown()
		assert.Equal(t, -1, p.Fd())
		assert.Empty(t, readAllWhileRunning(t, l, peer))
		assert.Zero(t, m.Len())
	})
}
