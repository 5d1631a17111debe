package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
)

// TestGracefulShutdown cancels serve's context with two connections open:
// one idle, and one whose backend has sent an 8 MiB reply, then EOF, that
// the proxy is still passing to a client with a small receive buffer. The
// idle one is closed at once; the busy one gets the whole reply, then EOF;
// the listener refuses new connections; and serve returns once the
// connections have closed — the grace period is longer than the test's
// hang guard, so only the map emptying can end it.
func TestGracefulShutdown(t *testing.T) {
	reply := randomBytes(8 << 20)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		setUp(t)
		to := backend(t, func(c *net.TCPConn) {
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				switch {
				case err != nil:
					return
				case line == "big\n":
					_, _ = c.Write(reply)
					return // and close
				default:
					_, _ = c.Write([]byte(line))
				}
			}
		})
		addr, stop := testutil.Serve(t, func(ctx context.Context, ready func(net.Addr)) error {
			return serve(ctx, "127.0.0.1:0", to, kind, 2*testutil.HangGuard, ready)
		})

		idle := dial(t, addr.String())
		_, err := idle.Write([]byte("ping\n"))
		require.NoError(t, err)
		got := make([]byte, 5)
		_, err = io.ReadFull(idle, got)
		require.NoError(t, err)
		require.Equal(t, "ping\n", string(got))

		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			}); err != nil {
				return err
			}
			return serr
		}}
		nc, err := d.Dial("tcp", addr.String())
		require.NoError(t, err)
		busy := nc.(*net.TCPConn)
		defer busy.Close()
		require.NoError(t, busy.SetDeadline(time.Now().Add(testutil.HangGuard)))
		_, err = busy.Write([]byte("big\n"))
		require.NoError(t, err)
		first := make([]byte, 1)
		_, err = io.ReadFull(busy, first) // the reply is on its way
		require.NoError(t, err)

		stopped := make(chan struct{})
		go func() { defer close(stopped); stop() }()
		// The idle connection has nothing in flight: its EOF says the
		// shutdown has begun.
		n, err := idle.Read(got)
		assert.Equal(t, 0, n)
		require.ErrorIs(t, err, io.EOF, "an idle connection is closed")

		rest, err := io.ReadAll(busy)
		require.NoError(t, err, "the reply was cut after %d bytes", 1+len(rest))
		assert.True(t, bytes.Equal(reply, append(first, rest...)), "the reply differs (%d of %d bytes)", 1+len(rest), len(reply))

		if c, err := net.Dial("tcp", addr.String()); err == nil {
			_ = c.Close()
			t.Fatal("a connection was accepted after the shutdown began")
		}
		require.NoError(t, busy.Close())
		require.NoError(t, idle.Close())
		<-stopped // testutil.Serve's stop fails the test if serve hangs
	})
}
