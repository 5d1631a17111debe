package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
)

// TestGracefulShutdown cancels serve's context with three keep-alive
// connections open: one idle, one whose reply (5 MiB) is still being
// written to a small receive buffer, and one in the middle of a request
// head. The idle one is closed; the slow reader gets its whole reply, then
// EOF; the request being received is answered with "Connection: close",
// then EOF; the listener refuses new connections; and serve returns once
// the connections have closed — the grace period is longer than the
// test's hang guard, so only the map emptying can end it.
func TestGracefulShutdown(t *testing.T) {
	fx := makeRoot(t)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr, stop := testutil.Serve(t, func(ctx context.Context, ready func(net.Addr)) error {
			return serve(ctx, "127.0.0.1:0", fx.root, kind, options{cache: defaultCacheOptions, grace: 2 * testutil.HangGuard}, ready)
		})
		open := func(d *net.Dialer) (net.Conn, *bufio.Reader) {
			c, err := d.Dial("tcp", addr.String())
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			require.NoError(t, c.SetDeadline(time.Now().Add(testutil.HangGuard)))
			return c, bufio.NewReader(c)
		}
		get := func(c net.Conn, r *bufio.Reader, path string) *http.Response {
			_, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: test\r\n\r\n")
			require.NoError(t, err)
			resp, err := http.ReadResponse(r, nil)
			require.NoError(t, err)
			return resp
		}

		idle, idleR := open(&net.Dialer{})
		resp := get(idle, idleR, "/small.txt")
		_, _ = io.Copy(io.Discard, resp.Body)
		require.False(t, resp.Close, "keep-alive")

		slow, slowR := open(&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			}); err != nil {
				return err
			}
			return serr
		}})
		_, err := io.WriteString(slow, "GET /big.bin HTTP/1.1\r\nHost: test\r\n\r\n")
		require.NoError(t, err)
		status, err := slowR.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "HTTP/1.1 200 OK\r\n", status) // the reply is queued

		// A request, and the start of the next one's head in the same
		// write: once the first is answered, the server has read both.
		mid, midR := open(&net.Dialer{})
		_, err = io.WriteString(mid, "GET /small.txt HTTP/1.1\r\nHost: test\r\n\r\nGET /index.html HTTP/1.1\r\n")
		require.NoError(t, err)
		resp, err = http.ReadResponse(midR, nil)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)

		stopped := make(chan struct{})
		go func() { defer close(stopped); stop() }()
		// The idle connection has nothing queued: its EOF says the
		// shutdown has begun.
		n, err := idleR.Read(make([]byte, 1))
		assert.Equal(t, 0, n)
		require.ErrorIs(t, err, io.EOF, "an idle keep-alive connection is closed")

		// The request under way is answered, with Connection: close.
		_, err = io.WriteString(mid, "Host: test\r\n\r\n")
		require.NoError(t, err)
		resp, err = http.ReadResponse(midR, nil)
		require.NoError(t, err, "the request being received was not answered")
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "<h1>home</h1>\n", string(body))
		assert.True(t, resp.Close, "the reply during shutdown must say Connection: close")
		n, err = midR.Read(make([]byte, 1))
		assert.Equal(t, 0, n)
		assert.ErrorIs(t, err, io.EOF)

		// The reply being written is finished.
		resp, err = http.ReadResponse(bufio.NewReader(io.MultiReader(bytes.NewReader([]byte(status)), slowR)), nil)
		require.NoError(t, err)
		body, err = io.ReadAll(resp.Body)
		require.NoError(t, err, "the reply was cut after %d bytes", len(body))
		assert.True(t, bytes.Equal(fx.big, body), "the reply differs")
		n, err = slowR.Read(make([]byte, 1))
		assert.Equal(t, 0, n)
		assert.ErrorIs(t, err, io.EOF)

		if c, err := net.Dial("tcp", addr.String()); err == nil {
			_ = c.Close()
			t.Fatal("a connection was accepted after the shutdown began")
		}
		for _, c := range []net.Conn{idle, slow, mid} {
			require.NoError(t, c.Close())
		}
		<-stopped // testutil.Serve's stop fails the test if serve hangs
	})
}
