package dispatcher_test

// CPython's DispatcherWithSendTests
// (docs/asyncore-compat.md#dispatcher-with-send), plus large sends and
// F6(b) (double-close, docs/failure-modes.md): a peer that resets while output
// is pending gets exactly one HandleClose.

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// captureServer is CPython's capture_server: a goroutine that accepts one
// connection and collects what arrives, reading at most chunk bytes at a
// time (CPython reads 10), until a chunk holding '\n', or EOF.
// The result comes on the returned channel; the goroutine is stopped and
// waited for when the test ends.
func captureServer(t *testing.T, fam family, chunk int) (string, <-chan []byte) {
	t.Helper()
	return captureServerAfter(t, fam, chunk, nil)
}

// captureServerAfter is captureServer that starts reading only once gate is
// closed (at once if gate is nil), so the sender meets full socket buffers.
func captureServerAfter(t *testing.T, fam family, chunk int, gate <-chan struct{}) (string, <-chan []byte) {
	t.Helper()
	ln, err := net.Listen(fam.network(), fam.addr(t))
	require.NoError(t, err)
	out := make(chan []byte, 1)
	done := make(chan struct{})
	var mu sync.Mutex
	var conn net.Conn
	go func() {
		defer close(done)
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			out <- nil
			return
		}
		mu.Lock()
		conn = c
		mu.Unlock()
		defer c.Close()
		if gate != nil {
			<-gate
		}
		_ = c.SetReadDeadline(time.Now().Add(waitFor))
		var got bytes.Buffer
		buf := make([]byte, chunk)
		for {
			n, err := c.Read(buf)
			got.Write(buf[:n])
			if bytes.IndexByte(buf[:n], '\n') >= 0 || err != nil {
				break
			}
		}
		out <- got.Bytes()
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		if conn != nil {
			_ = conn.Close()
		}
		mu.Unlock()
		<-done
	})
	return ln.Addr().String(), out
}

// receive waits for the capture server's result.
func receive(t *testing.T, out <-chan []byte) []byte {
	t.Helper()
	select {
	case got := <-out:
		return got
	case <-time.After(waitFor):
		t.Fatal("the capture server got nothing")
		return nil
	}
}

// noReadSender is CPython's dispatcherwithsend_noread.
type noReadSender struct {
	dispatcher.DispatcherWithSend
	closes int
	errs   []error
}

func (s *noReadSender) Readable() bool        { return false }
func (s *noReadSender) HandleConnect()        {}
func (s *noReadSender) HandleClose()          { s.closes++; _ = s.Close() }
func (s *noReadSender) HandleError(err error) { s.errs = append(s.errs, err) }

// TestSend is DispatcherWithSendTests.test_send: Send twice and then "\n"
// right after Connect — no sleep: our DispatcherWithSend queues while the
// connect is in progress — and run the loop until the buffer is drained.
// The capture server gets exactly what was sent.
func TestSend(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		address, out := captureServer(t, e.fam, 10)
		data := []byte("Suppose there isn't a 16-ton weight?")
		d := &noReadSender{}
		d.Init(d, e.m)
		require.NoError(t, d.CreateSocket(e.fam.af, dispatcher.SockStream))
		require.NoError(t, d.Connect(address))
		connecting := d.Connecting()

		d.Send(data)
		d.Send(data)
		d.Send([]byte("\n"))
		if connecting {
			assert.Equal(t, 2*len(data)+1, d.Pending(), "queued while connecting")
			assert.True(t, d.Writable())
		}

		e.runUntil(func() bool { return d.Connected() && d.Pending() == 0 })
		assert.False(t, d.Writable(), "nothing queued: not writable")
		got := receive(t, out)
		assert.Equal(t, string(bytes.Repeat(data, 2))+"\n", string(got))
		assert.Empty(t, d.errs)
		assert.Zero(t, d.closes)
	})
}

// TestSendLarge: a send far larger than the socket buffers is written in
// pieces as the socket drains and arrives whole and in order.
func TestSendLarge(t *testing.T) {
	forEachAPIParallel(t, func(t *testing.T, e *env) {
		// The server reads only after the Send: a reader draining the
		// socket meanwhile could let an AF_UNIX send take it all at once.
		gate := make(chan struct{})
		address, out := captureServerAfter(t, e.fam, 64<<10, gate)
		t.Cleanup(func() { // before the server's own, should the test stop early
			select {
			case <-gate:
			default:
				close(gate)
			}
		})
		data := make([]byte, 1<<20)
		for i := range data {
			data[i] = 'a' + byte(i%26)
		}
		data[len(data)-1] = '\n'
		d := &noReadSender{}
		d.Init(d, e.m)
		require.NoError(t, d.CreateSocket(e.fam.af, dispatcher.SockStream))
		require.NoError(t, unix.SetsockoptInt(d.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 64<<10))
		require.NoError(t, d.Connect(address))
		e.runUntil(func() bool { return d.Connected() })
		d.Send(data)
		assert.Positive(t, d.Pending(), "more than the socket buffers take at once")
		close(gate)
		e.runUntil(func() bool { return d.Pending() == 0 })
		got := receive(t, out)
		assert.Equal(t, len(data), len(got))
		assert.True(t, bytes.Equal(data, got), "the data arrive whole and in order")
		assert.Empty(t, d.errs)
	})
}

// resetConn is a DispatcherWithSend with pending output whose peer resets.
type resetConn struct {
	dispatcher.DispatcherWithSend
	read   bool // HandleRead calls Recv
	closes int
	errs   []error
	events []poller.Events
}

func (c *resetConn) HandleEvents(ev poller.Events) {
	c.events = append(c.events, ev)
	c.DispatcherWithSend.HandleEvents(ev)
}
func (c *resetConn) HandleConnect() {}
func (c *resetConn) HandleRead() {
	if c.read {
		var buf [64]byte
		_, _ = c.Recv(buf[:])
	}
}
func (c *resetConn) HandleClose()          { c.closes++; _ = c.Close() }
func (c *resetConn) HandleError(err error) { c.errs = append(c.errs, err) }

// TestPeerResetWithPendingOutput is F6(b) (double-close,
// docs/failure-modes.md): the peer resets (TCP: SO_LINGER 0; AF_UNIX: closes
// with unread data) while output is queued, so read, write, error and hang-up
// are reported together and both directions fail. HandleClose runs exactly once
// and HandleError never.
func TestPeerResetWithPendingOutput(t *testing.T) {
	for _, read := range []bool{true, false} {
		name := "HandleRead reads"
		if !read {
			name = "HandleRead does not read"
		}
		t.Run(name, func(t *testing.T) {
			forEachAPIParallel(t, func(t *testing.T, e *env) {
				ln, err := net.Listen(e.fam.network(), e.fam.addr(t))
				require.NoError(t, err)
				t.Cleanup(func() { _ = ln.Close() })
				accepted := make(chan net.Conn, 1)
				go func() {
					c, err := ln.Accept()
					if err != nil {
						close(accepted)
						return
					}
					accepted <- c
				}()

				d := &resetConn{read: read}
				d.Init(d, e.m)
				require.NoError(t, d.CreateSocket(e.fam.af, dispatcher.SockStream))
				require.NoError(t, unix.SetsockoptInt(d.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 4096))
				require.NoError(t, d.Connect(ln.Addr().String()))
				e.runUntil(func() bool { return d.Connected() })
				peer, ok := <-accepted
				require.True(t, ok, "accept")
				t.Cleanup(func() { _ = peer.Close() })

				// 1 MiB: far beyond the 4 KiB send buffer and what the
				// peer, which never reads, lets its window grow to.
				d.Send(make([]byte, 1<<20))
				require.Positive(t, d.Pending(), "output must be pending")
				e.runFor(2)
				require.Positive(t, d.Pending(), "output must still be pending")
				if tcp, ok := peer.(*net.TCPConn); ok {
					require.NoError(t, tcp.SetLinger(0))
				}
				require.NoError(t, peer.Close())

				e.runUntil(func() bool { return d.closes > 0 })
				e.runFor(3)
				t.Logf("events: %v", d.events[len(d.events)-1])
				assert.Equal(t, 1, d.closes, "HandleClose calls")
				assert.Empty(t, d.errs, "no HandleError")
				assert.Equal(t, -1, d.Fd())
			})
		})
	}
}
