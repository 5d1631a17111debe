package dispatcher_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// groupEcho is one loop's listener in a group: it counts what it accepts and
// echoes on DispatcherWithSend.
type groupEcho struct {
	dispatcher.Dispatcher
	accepted *atomic.Int64
}

func (s *groupEcho) HandleAccepted(fd int, _ net.Addr) {
	h := &groupConn{}
	h.Init(h, s.Map())
	if err := h.Adopt(fd); err != nil {
		_ = unix.Close(fd)
		return
	}
	s.accepted.Add(1)
}

// groupConn echoes one connection.
type groupConn struct {
	dispatcher.DispatcherWithSend
	buf [512]byte
}

func (h *groupConn) HandleRead() {
	if n, _ := h.Recv(h.buf[:]); n > 0 {
		h.Send(h.buf[:n])
	}
}

func (h *groupConn) HandleClose() { _ = h.Close() }

// TestGroupReusePort runs two loops, each with its own SO_REUSEPORT listener
// on one port, and checks that clients are echoed, that the kernel hands
// connections to both loops, and that stopping the group releases every
// descriptor once the maps are closed.
func TestGroupReusePort(t *testing.T) {
	testutil.CheckFDLeaks(t)
	const loops, clients = 2, 64
	counts := make([]atomic.Int64, loops)
	var addr string
	g, err := loop.StartGroup(loops, loop.Options{Timeout: time.Second}, func(i int, l *loop.Loop) error {
		s := &groupEcho{accepted: &counts[i]}
		s.Init(s, l.Map())
		want := "127.0.0.1:0"
		if i > 0 {
			want = addr // loop 0's setup has returned: reuse its port
		}
		s.ReusePort = true
		if err := s.ListenTCP(want); err != nil {
			return err
		}
		addr = s.Addr().String()
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, loops, g.Len())

	for c := range clients {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		require.NoError(t, err)
		require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
		msg := []byte(fmt.Sprintf("client %d\n", c))
		_, err = conn.Write(msg)
		require.NoError(t, err)
		got := make([]byte, len(msg))
		_, err = io.ReadFull(conn, got)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(msg, got), "client %d got %q", c, got)
		require.NoError(t, conn.Close())
	}
	for i := range counts {
		// 64 connections from distinct source ports all hashed to one
		// listener would happen with probability 2^-63.
		assert.Positive(t, counts[i].Load(), "loop %d accepted nothing", i)
	}
	t.Logf("accepted per loop: %d, %d", counts[0].Load(), counts[1].Load())

	for i := range loops {
		done := make(chan struct{})
		require.NoError(t, g.Post(i, func(l *loop.Loop) {
			assert.NoError(t, dispatcher.CloseAll(l.Map(), false))
			close(done)
		}))
		<-done
	}
	g.Stop()
	require.NoError(t, g.Wait())
}

// ExampleDispatcher_ListenTCP_reusePort serves one port from two loops, one
// per core: each loop has its own listener with ReusePort set, and the kernel
// spreads the connections between them.
func ExampleDispatcher_ListenTCP_reusePort() {
	var addr string
	g, err := loop.StartGroup(2, loop.Options{}, func(i int, l *loop.Loop) error {
		s := &groupEcho{accepted: new(atomic.Int64)}
		s.Init(s, l.Map())
		bind := "127.0.0.1:0"
		if i > 0 {
			bind = addr // the port loop 0 was given
		}
		s.ReusePort = true
		if err := s.ListenTCP(bind); err != nil {
			return err
		}
		addr = s.Addr().String()
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("serving one port on", g.Len(), "loops")
	for i := range g.Len() {
		done := make(chan struct{})
		_ = g.Post(i, func(l *loop.Loop) {
			_ = dispatcher.CloseAll(l.Map(), false)
			close(done)
		})
		<-done
	}
	g.Stop()
	_ = g.Wait()
	// Output: serving one port on 2 loops
}
