package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
)

// TestGracefulShutdown cancels serve's context while the reply to a GET of
// an 8 MiB value is still being written to a client with a small receive
// buffer. The client must get the whole reply, then EOF; an idle client
// gets EOF; the listener refuses new connections; and serve returns once
// the connections have closed — the grace period is longer than the
// test's hang guard, so only the map emptying can end it.
func TestGracefulShutdown(t *testing.T) {
	value := strings.Repeat("v", maxMessage-16)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr, stop := testutil.Serve(t, func(ctx context.Context, ready func(net.Addr)) error {
			return serve(ctx, "127.0.0.1:0", kind, 2*testutil.HangGuard, nil, ready)
		})
		idle := dial(t, addr)
		require.Equal(t, status("OK"), idle.do("SET", "big", value))

		d := net.Dialer{Control: func(_, _ string, raw syscall.RawConn) error {
			return raw.Control(func(fd uintptr) {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
			})
		}}
		conn, err := d.Dial("tcp", addr.String())
		require.NoError(t, err)
		defer conn.Close()
		require.NoError(t, conn.SetDeadline(time.Now().Add(testutil.HangGuard)))
		r := bufio.NewReader(conn)
		_, err = conn.Write(encode("GET", "big"))
		require.NoError(t, err)
		head, err := r.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "$"+strconv.Itoa(len(value))+"\r\n", head)
		// The GET has been answered and most of its reply is queued in the
		// server: the kernel's buffers hold far less than 8 MiB here.

		stopped := make(chan struct{})
		go func() { defer close(stopped); stop() }()
		// The idle client has nothing queued: its EOF says the shutdown
		// has begun, before the slow reader reads on.
		_, err = idle.r.ReadByte()
		require.ErrorIs(t, err, io.EOF, "an idle client is closed")
		got := make([]byte, len(value)+2)
		n, err := io.ReadFull(r, got)
		require.NoError(t, err, "the reply was cut after %d of %d bytes", n, len(got))
		assert.True(t, bytes.Equal([]byte(value+"\r\n"), got), "the reply differs")
		n, err = r.Read(make([]byte, 1))
		assert.Equal(t, 0, n)
		assert.ErrorIs(t, err, io.EOF, "the connection must close after the reply")

		if c2, err := net.Dial("tcp", addr.String()); err == nil {
			_ = c2.Close()
			t.Fatal("a connection was accepted after the shutdown began")
		}
		require.NoError(t, conn.Close())
		require.NoError(t, idle.conn.Close())
		<-stopped // testutil.Serve's stop fails the test if serve hangs
	})
}
