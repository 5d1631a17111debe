package dispatcher_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lineEcho is a plain DispatcherWithSend handler for Serve.
type lineEcho struct {
	dispatcher.DispatcherWithSend
	buf [512]byte
}

func (h *lineEcho) HandleRead() {
	if n, _ := h.Recv(h.buf[:]); n > 0 {
		h.Send(h.buf[:n])
	}
}

// shouter is a chat.AsyncChat handler for Serve.
type shouter struct{ chat.AsyncChat }

func (s *shouter) FoundTerminator() {
	s.Push(append(bytes.ToUpper(s.TakeData()), '\n'))
}

// converse dials address from another goroutine, writes each line and
// reads one reply line for it, while the test goroutine runs l; it returns
// the replies.
func converse(t *testing.T, l *loop.Loop, address string, lines ...string) []string {
	t.Helper()
	type result struct {
		replies []string
		err     error
	}
	done := make(chan result, 1)
	go func() {
		c, err := net.Dial("tcp", address)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(waitFor))
		r := bufio.NewReader(c)
		var replies []string
		for _, line := range lines {
			if _, err := io.WriteString(c, line+"\n"); err != nil {
				done <- result{replies, err}
				return
			}
			reply, err := r.ReadString('\n')
			if err != nil {
				done <- result{replies, err}
				return
			}
			replies = append(replies, reply)
		}
		done <- result{replies, nil}
	}()
	var got result
	testutil.RunUntil(t, l, waitFor, func() bool {
		select {
		case got = <-done:
			return true
		default:
			return false
		}
	})
	require.NoError(t, got.err)
	return got.replies
}

// TestServe (issue 12.7): a server is a listener plus a constructor, for a
// plain dispatcher handler and for an AsyncChat alike. Each connection gets
// its own handler; Close stops accepting.
func TestServe(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l := looptest.NewLoop(t, kind)
		m := l.Map()

		echoes := 0
		echo, err := dispatcher.Serve(m, "127.0.0.1:0", func() dispatcher.Handler {
			echoes++
			h := &lineEcho{}
			h.Init(h, m)
			return h
		})
		require.NoError(t, err)
		assert.True(t, echo.Accepting())

		shout, err := dispatcher.Serve(m, "127.0.0.1:0", func() dispatcher.Handler {
			c := &shouter{}
			c.Init(c, m)
			c.SetTerminator(chat.DelimiterString("\n"))
			return c
		})
		require.NoError(t, err)

		assert.Equal(t, []string{"hello\n", "again\n"}, converse(t, l, echo.Addr().String(), "hello", "again"))
		assert.Equal(t, []string{"hi\n"}, converse(t, l, echo.Addr().String(), "hi"))
		assert.Equal(t, 2, echoes, "one handler per connection")
		assert.Equal(t, []string{"HELLO\n"}, converse(t, l, shout.Addr().String(), "hello"))

		require.NoError(t, echo.Close())
		_, err = net.Dial("tcp", echo.Addr().String())
		assert.Error(t, err, "a closed server refuses connections")
	})
}

// TestServeRefuse: a constructor that returns nil refuses the connection;
// the server goes on accepting.
func TestServeRefuse(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l := looptest.NewLoop(t, kind)
		m := l.Map()
		refuse := true
		srv, err := dispatcher.Serve(m, "127.0.0.1:0", func() dispatcher.Handler {
			if refuse {
				return nil
			}
			h := &lineEcho{}
			h.Init(h, m)
			return h
		})
		require.NoError(t, err)

		done := make(chan error, 1)
		go func() {
			c, err := net.Dial("tcp", srv.Addr().String())
			if err != nil {
				done <- err
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(waitFor))
			_, err = c.Read(make([]byte, 1))
			done <- err
		}()
		var got error
		testutil.RunUntil(t, l, waitFor, func() bool {
			select {
			case got = <-done:
				return true
			default:
				return false
			}
		})
		assert.Error(t, got, "the refused connection was closed")
		refuse = false
		assert.Equal(t, []string{"ok\n"}, converse(t, l, srv.Addr().String(), "ok"))
		// The client hung up: its handler closes, and only the listener
		// is left.
		testutil.RunUntil(t, l, waitFor, func() bool { return m.Len() == 1 })
	})
}

// wrappedConn is a net.Conn wrapper, as middleware makes them, that still
// gives access to the socket.
type wrappedConn struct {
	net.Conn
	raw syscall.Conn
}

func (w wrappedConn) SyscallConn() (syscall.RawConn, error) { return w.raw.SyscallConn() }

// opaqueConn hides the socket.
type opaqueConn struct{ net.Conn }

// TestAdoptConnInterfaces (issue 12.7): AdoptConn takes net.Conn and
// net.Listener interface values — what net.Dial and net.Listen return — and
// wrappers that implement syscall.Conn; a value without a socket is an
// error, and stays the caller's.
func TestAdoptConnInterfaces(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l := looptest.NewLoop(t, kind)
		m := l.Map()

		var ln net.Listener
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		srv := &acceptInto{m: m}
		srv.Init(srv, m)
		require.NoError(t, srv.AdoptConn(ln))
		assert.True(t, srv.Accepting())

		var conn net.Conn
		conn, err = net.Dial("tcp", srv.Addr().String())
		require.NoError(t, err)
		c := &lineEcho{}
		c.Init(c, m)
		require.NoError(t, c.AdoptConn(conn))
		assert.True(t, c.Connected())

		conn2, err := net.Dial("tcp", srv.Addr().String())
		require.NoError(t, err)
		w := &lineEcho{}
		w.Init(w, m)
		require.NoError(t, w.AdoptConn(wrappedConn{conn2, conn2.(syscall.Conn)}))
		assert.True(t, w.Connected())

		conn3, err := net.Dial("tcp", srv.Addr().String())
		require.NoError(t, err)
		o := &lineEcho{}
		o.Init(o, m)
		err = o.AdoptConn(opaqueConn{conn3})
		assert.ErrorIs(t, err, dispatcher.ErrNoSocket)
		assert.Equal(t, -1, o.Fd())
		_, err = conn3.Write([]byte("x"))
		assert.NoError(t, err, "the caller still owns a connection AdoptConn refused")
		require.NoError(t, conn3.Close())

		testutil.RunUntil(t, l, waitFor, func() bool { return srv.accepted == 3 })
	})
}

// acceptInto adopts accepted connections as lineEcho handlers and counts
// them.
type acceptInto struct {
	dispatcher.Dispatcher
	m        *loop.Map
	accepted int
}

func (s *acceptInto) HandleAccepted(fd int, addr net.Addr) {
	s.accepted++
	h := &lineEcho{}
	h.Init(h, s.m)
	if err := h.Adopt(fd); err != nil {
		_ = syscall.Close(fd)
	}
}
