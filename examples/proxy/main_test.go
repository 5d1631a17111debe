package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
)

// onLoopback is serve on 127.0.0.1:0 in front of to, for testutil.Serve.
func onLoopback(to string, kind poller.Kind) testutil.ServeFunc {
	return func(ctx context.Context, ready func(net.Addr)) error {
		return serve(ctx, "127.0.0.1:0", to, kind, loop.DefaultGrace, ready)
	}
}

// start runs the proxy in front of to, waits until it listens, and stops it
// — checking that serve returns cleanly — when the test ends.
func start(t *testing.T, kind poller.Kind, to string) string {
	t.Helper()
	addr, _ := testutil.Serve(t, onLoopback(to, kind))
	return addr.String()
}

// backend is a Go TCP server behind the proxy. Each connection is handed to
// handle on its own goroutine; the listener and every handler are finished
// when the test ends.
func backend(t *testing.T, handle func(c *net.TCPConn)) string {
	t.Helper()
	return backendWith(t, 0, handle)
}

// backendWith is backend with the receive buffer of every accepted socket
// set to rcvbuf bytes (if not 0): the kernel then holds little on the
// backend's behalf, and a backend that does not read stops the proxy soon.
func backendWith(t *testing.T, rcvbuf int, handle func(c *net.TCPConn)) string {
	t.Helper()
	var lc net.ListenConfig
	if rcvbuf > 0 {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(60 * time.Second))
				handle(c.(*net.TCPConn))
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// echo copies everything back, then passes the EOF on. The reader and
// writer are hidden behind plain interfaces so io.Copy does not use
// TCPConn.ReadFrom, whose splice(2) keeps a cached pipe open that the
// descriptor-leak check would count.
func echo(c *net.TCPConn) {
	if _, err := io.Copy(struct{ io.Writer }{c}, struct{ io.Reader }{c}); err == nil {
		_ = c.CloseWrite()
	}
}

// setUp checks for leaked descriptors when the test ends, after the proxy
// and the backend have stopped.
func setUp(t *testing.T) {
	t.Helper()
	testutil.WarmUp(t)
	testutil.CheckFDLeaks(t) // registered first: runs after the other cleanups
}

// dial connects to the proxy; the connection is closed when the test ends.
func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(60*time.Second)))
	return c.(*net.TCPConn)
}

// waitClosed waits until the proxy has closed every client and backend
// socket by itself: each connection ends when both directions are done.
func waitClosed(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(testutil.HangGuard)
	for openSides.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	assert.Zero(t, openSides.Load(), "sockets the proxy still holds open")
}

// randomBytes returns n bytes that no bug could produce by accident.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)}).Read(b)
	return b
}

// TestForward sends random payloads of up to 2 MiB from many concurrent
// clients through the proxy to an echo backend, writing and reading at the
// same time, and compares what comes back byte for byte. Each client then
// half-closes, which must reach the backend and come back as EOF.
func TestForward(t *testing.T) {
	clients := testutil.Rounds(8, 16)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		setUp(t)
		addr := start(t, kind, backend(t, echo))

		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for i := range clients {
			wg.Go(func() {
				size := rand.IntN(2<<20) + 1
				switch i {
				case 0:
					size = 0 // connect and half-close at once
				case 1:
					size = 2 << 20
				}
				msg := randomBytes(size)
				c, err := net.Dial("tcp", addr)
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(60 * time.Second))
				werr := make(chan error, 1)
				go func() {
					_, err := c.Write(msg)
					if err == nil {
						err = c.(*net.TCPConn).CloseWrite()
					}
					werr <- err
				}()
				got, rerr := io.ReadAll(c) // up to the EOF passed on from the backend
				if err := <-werr; err != nil {
					errs <- fmt.Errorf("client %d: write: %w", i, err)
					return
				}
				if rerr != nil {
					errs <- fmt.Errorf("client %d: read: %w", i, rerr)
					return
				}
				if !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("client %d: sent %d bytes, got %d back, not the same", i, len(msg), len(got))
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			assert.NoError(t, err)
		}
		waitClosed(t)
	})
}

// TestHalfClose: the client sends a request and EOF; the backend reads to
// EOF, answers and closes; the client reads the answer and then EOF.
func TestHalfClose(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		setUp(t)
		addr := start(t, kind, backend(t, func(c *net.TCPConn) {
			req, err := io.ReadAll(c)
			if err != nil {
				return
			}
			_, _ = fmt.Fprintf(c, "got %d bytes: %s", len(req), req)
		}))

		c := dial(t, addr)
		_, err := c.Write([]byte("hello"))
		require.NoError(t, err)
		require.NoError(t, c.CloseWrite())
		reply, err := io.ReadAll(c)
		require.NoError(t, err)
		assert.Equal(t, "got 5 bytes: hello", string(reply))

		// The other way round: the backend speaks first and sends EOF, then
		// reads. The client reads to EOF and only then uploads and sends its
		// own EOF — while the proxy has stopped reading it, because the
		// backend has not started reading yet. TCP then reports the
		// client's socket as hung up with the upload still unread in it;
		// all of it must reach the backend anyway.
		upload := randomBytes(6 << 20)
		received := make(chan []byte, 1)
		release := make(chan struct{})
		peakQueued.Store(0)
		addr2 := start(t, kind, backendWith(t, 16<<10, func(c *net.TCPConn) {
			_, _ = c.Write([]byte("banner"))
			_ = c.CloseWrite()
			<-release
			data, _ := io.ReadAll(c)
			received <- data
		}))
		c2 := dial(t, addr2)
		banner, err := io.ReadAll(c2) // the backend's EOF arrives first
		require.NoError(t, err)
		assert.Equal(t, "banner", string(banner))
		werr := make(chan error, 1)
		go func() {
			_, err := c2.Write(upload)
			if err == nil {
				err = c2.CloseWrite()
			}
			werr <- err
		}()
		select {
		case err := <-werr: // everything sent, FIN included, while paused
			require.NoError(t, err)
			// The upload and the FIN sit in the kernel: wait for the
			// proxy to read up to its bound and pause, with the hang-up
			// pending behind what it has not read. (Under load the loop
			// may take a while to get there; a fixed sleep was not
			// enough.)
			deadline := time.Now().Add(testutil.HangGuard)
			for peakQueued.Load() < maxQueued && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			close(release)
		case <-time.After(5 * time.Second): // the kernel could not hold it all
			t.Log("upload did not fit in the socket buffers; releasing the backend")
			close(release)
			require.NoError(t, <-werr)
		}
		assert.GreaterOrEqual(t, peakQueued.Load(), int64(maxQueued), "the proxy should have stopped reading")
		select {
		case data := <-received:
			assert.True(t, bytes.Equal(upload, data), "upload after the backend's EOF: sent %d bytes, backend got %d", len(upload), len(data))
		case <-time.After(testutil.HangGuard):
			t.Fatal("the backend did not get the upload")
		}
		waitClosed(t)
	})
}

// TestConnectRefused: with nothing listening at the backend address the
// client is closed at once, on the refusal, not by the 60s connect timeout:
// the read gives up after half that.
func TestConnectRefused(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		setUp(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		closed := ln.Addr().String()
		require.NoError(t, ln.Close())
		addr := start(t, kind, closed)

		for range 3 {
			c := dial(t, addr)
			require.NoError(t, c.SetReadDeadline(time.Now().Add(dispatcher.DefaultConnectTimeout/2)))
			n, err := c.Read(make([]byte, 1))
			assert.Equal(t, 0, n)
			assert.ErrorIs(t, err, io.EOF)
			require.NoError(t, c.Close())
		}
		waitClosed(t)
	})
}

// TestBackPressure: a client sends 20 MiB to a backend that does not read
// at first and then reads slowly. The proxy must stop reading the client
// instead of queueing: what it holds stays near maxQueued. Every byte still
// arrives, in order.
func TestBackPressure(t *testing.T) {
	const total = 20 << 20
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		setUp(t)
		peakQueued.Store(0)
		full := make(chan struct{})
		addr := start(t, kind, backend(t, func(c *net.TCPConn) {
			<-full // not a byte read until the proxy has had to hold back
			h := sha256.New()
			buf := make([]byte, 16<<10)
			n := 0
			for {
				m, err := c.Read(buf)
				h.Write(buf[:m])
				n += m
				if err != nil {
					break
				}
				time.Sleep(50 * time.Microsecond)
			}
			_, _ = fmt.Fprintf(c, "%d %x", n, h.Sum(nil))
		}))

		data := randomBytes(total)
		want := fmt.Sprintf("%d %x", total, sha256.Sum256(data))
		c := dial(t, addr)
		werr := make(chan error, 1)
		go func() {
			_, err := c.Write(data)
			if err == nil {
				err = c.CloseWrite()
			}
			werr <- err
		}()

		deadline := time.Now().Add(testutil.HangGuard)
		for peakQueued.Load() < maxQueued && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		close(full)
		require.GreaterOrEqual(t, peakQueued.Load(), int64(maxQueued), "the proxy never had maxQueued bytes queued")

		reply, err := io.ReadAll(c)
		require.NoError(t, err)
		require.NoError(t, <-werr)
		assert.Equal(t, want, string(reply), "byte count and SHA-256 seen by the backend")
		peak := peakQueued.Load()
		assert.LessOrEqual(t, peak, int64(maxQueued+chat.DefaultBufferSize), "bytes queued in the proxy at most")
		t.Logf("peak queued in the proxy: %d KiB for a %d MiB transfer", peak>>10, total>>20)
		waitClosed(t)
	})
}

// TestShutdown: stopping the proxy closes connections still open.
func TestShutdown(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		setUp(t)
		addr, stop := testutil.Serve(t, onLoopback(backend(t, echo), kind))

		c := dial(t, addr.String())
		_, err := c.Write([]byte("ping"))
		require.NoError(t, err)
		got := make([]byte, 4)
		_, err = io.ReadFull(c, got)
		require.NoError(t, err)
		assert.Equal(t, "ping", string(got))

		stop()
		n, err := c.Read(got)
		assert.Equal(t, 0, n)
		assert.ErrorIs(t, err, io.EOF)
		assert.Zero(t, openSides.Load())
	})
}

// TestServeErrors: bad addresses are reported, not hidden.
func TestServeErrors(t *testing.T) {
	ctx := context.Background()
	assert.Error(t, serve(ctx, "127.0.0.1:0", "127.0.0.1:notaport", 0, loop.DefaultGrace, nil))
	assert.Error(t, serve(ctx, "127.0.0.1:0", ":7007", 0, loop.DefaultGrace, nil), "no host")
	assert.Error(t, serve(ctx, "127.0.0.1:0", "127.0.0.1:0", 0, loop.DefaultGrace, nil), "no port")
	assert.Error(t, serve(ctx, "127.0.0.1:notaport", "127.0.0.1:7007", 0, loop.DefaultGrace, nil))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	assert.Error(t, serve(ctx, ln.Addr().String(), "127.0.0.1:7007", 0, loop.DefaultGrace, nil), "port in use")
}
