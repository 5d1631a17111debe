package main

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
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

// TestGracefulShutdown cancels serve's context while a client that sends
// without reading has a backlog of echo queued in the server (at least
// maxPending bytes: the server has stopped reading). The client must get
// the echo of everything the server read, then a clean EOF; the listener
// must refuse new connections; and serve must return once the connection
// has closed — the grace period is longer than the test's hang guard, so
// only the map emptying can end it.
func TestGracefulShutdown(t *testing.T) {
	sent := make([]byte, 16<<20)
	for i := range sent {
		sent[i] = byte(rand.Uint32())
	}
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr, stop := testutil.Serve(t, func(ctx context.Context, ready func(net.Addr)) error {
			return serve(ctx, options{addr: "127.0.0.1:0", kind: kind, grace: 2 * testutil.HangGuard}, ready)
		})
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
			if err != nil {
				return err
			}
			return serr
		}}
		idle, err := net.Dial("tcp", addr.String())
		require.NoError(t, err)
		defer idle.Close()
		require.NoError(t, idle.SetDeadline(time.Now().Add(testutil.HangGuard)))
		got, err := roundTrip(idle, []byte("idle"))
		require.NoError(t, err)
		require.Equal(t, "idle", string(got))
		nc, err := d.Dial("tcp", addr.String())
		require.NoError(t, err)
		c := nc.(*net.TCPConn)
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(testutil.HangGuard)))
		written := make(chan struct{})
		go func() {
			defer close(written)
			_, _ = c.Write(sent) // fails once the server has closed; what it read is echoed
		}()

		// Wait until the server stops reading: it then holds maxPending
		// bytes of echo or more that the client has not read. A window
		// that closes for a moment only says the server is slower than
		// the client right now (a busy machine), so it must stay closed
		// for stableFor polls in a row.
		const stableFor = 50
		for deadline, stable := time.Now().Add(testutil.HangGuard), 0; stable < stableFor; {
			closed, ok, err := peerWindowClosed(c)
			require.NoError(t, err)
			if !ok {
				t.Skip("needs TCP_INFO to see the server stop reading")
			}
			if closed {
				stable++
			} else {
				stable = 0
			}
			require.True(t, time.Now().Before(deadline), "the server never stopped reading")
			time.Sleep(time.Millisecond) // polling for the event, not standing in for it
		}

		stopped := make(chan struct{})
		go func() { defer close(stopped); stop() }()
		// The idle client has nothing queued: its EOF says the shutdown
		// has begun, before the slow reader reads anything.
		n, err := idle.Read(make([]byte, 1))
		require.Equal(t, 0, n)
		require.ErrorIs(t, err, io.EOF, "an idle client is closed")
		got, err = io.ReadAll(c)
		require.NoError(t, err, "the echo must end in a clean EOF, after %d bytes", len(got))
		assert.GreaterOrEqual(t, len(got), maxPending, "the echo queued at shutdown was dropped")
		assert.True(t, bytes.Equal(sent[:len(got)], got), "the echo is not what was sent")

		// The listener closed before the connection did.
		if c2, err := net.Dial("tcp", addr.String()); err == nil {
			_ = c2.SetReadDeadline(time.Now().Add(testutil.HangGuard))
			_, rerr := c2.Read(make([]byte, 1))
			_ = c2.Close()
			t.Fatalf("a connection was accepted after the shutdown began (read: %v)", rerr)
		}
		require.NoError(t, c.Close())
		<-written
		<-stopped // testutil.Serve's stop fails the test if serve hangs
	})
}
