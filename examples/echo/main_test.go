package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"golang.org/x/sys/unix"
)

// onLoopback is serve on 127.0.0.1:0, for testutil.Serve.
func onLoopback(kind poller.Kind, udp bool) testutil.ServeFunc {
	return func(ctx context.Context, ready func(net.Addr)) error {
		return serve(ctx, options{addr: "127.0.0.1:0", kind: kind, udp: udp, noDelay: true}, ready)
	}
}

// roundTrip writes msg and reads the same number of bytes back. The write
// runs on its own goroutine: a payload larger than the socket buffers would
// otherwise deadlock against a server that is waiting for us to read.
func roundTrip(c net.Conn, msg []byte) ([]byte, error) {
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		werr <- err
	}()
	got := make([]byte, len(msg))
	_, rerr := io.ReadFull(c, got)
	if err := <-werr; err != nil {
		return nil, err
	}
	return got, rerr
}

func TestEchoTCP(t *testing.T) {
	const clients = 10
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(rand.Uint32())
	}
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		checkFDs := testutil.FDCheck(t)
		addr, stop := testutil.Serve(t, onLoopback(kind, false))

		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for i := range clients {
			wg.Go(func() {
				c, err := net.Dial("tcp", addr.String())
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(testutil.HangGuard))
				msgs := [][]byte{
					[]byte(fmt.Sprintf("hello from client %d\n", i)),
					{0},
					bytes.Repeat([]byte{byte(i)}, 5000), // more than one read buffer
					big,
					[]byte("bye\n"),
				}
				for j, msg := range msgs {
					got, err := roundTrip(c, msg)
					if err != nil {
						errs <- fmt.Errorf("client %d, message %d: %w", i, j, err)
						return
					}
					if !bytes.Equal(got, msg) {
						errs <- fmt.Errorf("client %d, message %d: echo of %d bytes differs", i, j, len(msg))
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			assert.NoError(t, err)
		}

		// A client left connected must not keep the server from stopping:
		// CloseAll closes it.
		idle, err := net.Dial("tcp", addr.String())
		require.NoError(t, err)
		assertClosedAtStop(t, idle, "still here", stop)
		checkFDs()
	})
}

func TestEchoUDP(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		checkFDs := testutil.FDCheck(t)
		addr, stop := testutil.Serve(t, onLoopback(kind, true))

		c, err := net.Dial("udp", addr.String())
		require.NoError(t, err)
		buf := make([]byte, 65536)
		for _, msg := range []string{"one", "two", "three", string(bytes.Repeat([]byte("x"), 8000))} {
			_, err := c.Write([]byte(msg))
			require.NoError(t, err)
			require.NoError(t, c.SetReadDeadline(time.Now().Add(testutil.HangGuard)))
			n, err := c.Read(buf)
			require.NoError(t, err)
			assert.Equal(t, msg, string(buf[:n]))
		}
		require.NoError(t, c.Close())

		stop()
		checkFDs()
	})
}

// TestServeErrors checks that a context cancelled before the loop starts
// still stops it, and that set-up errors are returned, not hidden.
func TestServeErrors(t *testing.T) {
	testutil.ServeCancelled(t, onLoopback(0, false))
	assert.Error(t, serve(context.Background(), options{addr: "127.0.0.1:notaport"}, nil))
	assert.Error(t, serve(context.Background(), options{addr: testutil.BusyAddr(t)}, nil), "port in use")
}

// TestReadmeSnippet keeps the echo server shown in the top-level README.md
// honest: every line of code in it must appear in this example's main.go.
func TestReadmeSnippet(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	lines := map[string]bool{}
	for _, line := range strings.Split(string(src), "\n") {
		lines[strings.TrimSpace(line)] = true
	}

	_, after, ok := strings.Cut(string(readme), "## An echo server")
	require.True(t, ok, "README.md has no echo server section")
	_, snippet, ok := strings.Cut(after, "```go\n")
	require.True(t, ok, "no Go code block in the echo server section")
	snippet, _, ok = strings.Cut(snippet, "```")
	require.True(t, ok, "unterminated code block")

	checked := 0
	for _, line := range strings.Split(snippet, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		assert.True(t, lines[line], "README line not in main.go: %s", line)
		checked++
	}
	assert.Greater(t, checked, 15)
}

// TestEchoTCPLoops serves with -loops 2: clients spread over both loops are
// echoed, a client still connected at shutdown sees EOF, and no descriptor
// is left behind.
func TestEchoTCPLoops(t *testing.T) {
	checkFDs := testutil.FDCheck(t)
	addr, stop := testutil.Serve(t, func(ctx context.Context, ready func(net.Addr)) error {
		return serveLoops(ctx, options{addr: "127.0.0.1:0", loops: 2}, ready)
	})
	for i := range 20 {
		c, err := net.Dial("tcp", addr.String())
		require.NoError(t, err)
		_ = c.SetDeadline(time.Now().Add(testutil.HangGuard))
		msg := bytes.Repeat([]byte{byte('a' + i)}, 1000+i)
		got, err := roundTrip(c, msg)
		require.NoError(t, err)
		assert.Equal(t, msg, got)
		require.NoError(t, c.Close())
	}
	idle, err := net.Dial("tcp", addr.String())
	require.NoError(t, err)
	assertClosedAtStop(t, idle, "still here", stop)
	checkFDs()
}

// TestEchoLine serves -line, the README's AsyncChat line echo: each
// complete line comes back, a line split across writes is joined first,
// and a line arriving with its delimiter split still comes back whole.
func TestEchoLine(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		checkFDs := testutil.FDCheck(t)
		addr, stop := testutil.Serve(t, func(ctx context.Context, ready func(net.Addr)) error {
			return serve(ctx, options{addr: "127.0.0.1:0", kind: kind, line: true, noDelay: true}, ready)
		})
		c, err := net.Dial("tcp", addr.String())
		require.NoError(t, err)
		_ = c.SetDeadline(time.Now().Add(testutil.HangGuard))
		got, err := roundTrip(c, []byte("one\ntwo\n"))
		require.NoError(t, err)
		assert.Equal(t, "one\ntwo\n", string(got))
		_, err = c.Write([]byte("thr"))
		require.NoError(t, err)
		got, err = roundTrip(c, []byte("ee\n"))
		require.NoError(t, err)
		assert.Equal(t, "thr", string(got[:3]))
		rest := make([]byte, 3)
		_, err = io.ReadFull(c, rest)
		require.NoError(t, err)
		assert.Equal(t, "ee\n", string(rest))
		require.NoError(t, c.Close())
		stop()
		checkFDs()
	})
}

// TestListenOptions: -maxconns sets the map's cap, and -nodelay sets
// TCP_NODELAY on each accepted connection (and -nodelay=false does not).
func TestListenOptions(t *testing.T) {
	m := loop.NewMap()
	_, err := listen(m, options{addr: "127.0.0.1:0", maxConns: 7})
	require.NoError(t, err)
	assert.Equal(t, 7, dispatcher.MaxConns(m))
	t.Cleanup(func() { _ = dispatcher.CloseAll(m, true) })

	for _, on := range []bool{true, false} {
		fd, _ := testutil.TCPPair(t)
		// Go's net package sets TCP_NODELAY on what it accepts: start from off.
		require.NoError(t, unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 0))
		s := &echoServer{noDelay: on}
		s.Init(s, m)
		s.HandleAccepted(fd, nil)
		v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
		require.NoError(t, err)
		assert.Equal(t, on, v != 0, "TCP_NODELAY with -nodelay=%v", on)
	}
}

// assertClosedAtStop checks what a client still connected when the server
// stops sees: its message echoed while the server runs, then, after stop, a
// clean end of stream (io.EOF; over TLS that means close_notify came, where
// a cut stream reads io.ErrUnexpectedEOF), never a hang.
func assertClosedAtStop(t *testing.T, idle net.Conn, msg string, stop func()) {
	t.Helper()
	got, err := roundTrip(idle, []byte(msg))
	require.NoError(t, err)
	assert.Equal(t, msg, string(got))
	stop()
	_ = idle.SetReadDeadline(time.Now().Add(testutil.HangGuard))
	n, err := idle.Read(make([]byte, 1))
	assert.Equal(t, 0, n)
	assert.ErrorIs(t, err, io.EOF, "the server should end open connections cleanly on shutdown")
	require.NoError(t, idle.Close())
}
