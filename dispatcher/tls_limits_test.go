package dispatcher_test

// F11-style slowloris on the handshake (docs/failure-modes.md) and the
// handshake queue: TLS handshakes are bounded in time, in goroutines and
// in waiting connections.

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serveTLSFake is serveTLS on a loop with a fake clock.
func serveTLSFake(t *testing.T, kind poller.Kind, made *[]*tlsEcho) (*loop.Loop, *testutil.FakeClock, string) {
	t.Helper()
	l, clk := looptest.NewFakeClockLoop(t, kind)
	m := l.Map()
	srvCfg, _ := testutil.TLSCert(t)
	srv, err := dispatcher.ServeTLS(m, "127.0.0.1:0", srvCfg, func() dispatcher.Handler {
		h := newTLSEcho(m)
		*made = append(*made, h)
		return h
	})
	require.NoError(t, err)
	return l, clk, srv.Addr().String()
}

// slowClient connects and sends part of a record header, then nothing.
func slowClient(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp4", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_, err = c.Write([]byte{22, 3, 1}) // a handshake record's start
	require.NoError(t, err)
	return c
}

func TestTLSHandshakeTimeoutSlowloris(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		base := runtime.NumGoroutine()
		var made []*tlsEcho
		l, clk, addr := serveTLSFake(t, kind, &made)
		slowClient(t, addr)
		testutil.RunUntil(t, l, 10*time.Second, func() bool {
			return dispatcher.Stats(l.Map()).TLSHandshaking == 1 && made[0].Socket().Unread() == 0
		})
		h := made[0]
		clk.Advance(dispatcher.DefaultHandshakeTimeout - time.Millisecond)
		testutil.Settle(t, l)
		assert.Empty(t, h.errs, "not before HandshakeTimeout")
		assert.Equal(t, 1, handshakeGoroutines(), "the handshake goroutine waits for input")
		clk.Advance(time.Millisecond)
		testutil.RunUntil(t, l, 10*time.Second, func() bool { return h.Fd() < 0 })
		require.Len(t, h.errs, 1)
		var te *dispatcher.TLSError
		require.ErrorAs(t, h.errs[0], &te)
		assert.Equal(t, "handshake", te.Op)
		assert.ErrorIs(t, h.errs[0], dispatcher.ErrTLSHandshakeTimeout)
		assert.True(t, dispatcher.IsPeerCaused(h.errs[0]))
		st := dispatcher.Stats(l.Map())
		assert.EqualValues(t, 1, st.TLSHandshakeTimeouts)
		assert.EqualValues(t, 1, st.Timeouts)
		assert.Zero(t, st.TLSHandshaking)
		awaitGoroutines(t, l, base) // the goroutine blocked in Read was woken
	})
}

// MaxHandshakes 1, HandshakeQueue 1: of three silent connections one
// handshakes, one waits (no goroutine, not read), one is shed.
func TestTLSHandshakeQueueSheds(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		base := runtime.NumGoroutine()
		var made []*tlsEcho
		l, clk, addr := serveTLSFake(t, kind, &made)
		dispatcher.SetTLSLimits(l.Map(), dispatcher.TLSLimits{MaxHandshakes: 1, HandshakeQueue: 1})
		var clients []net.Conn
		for range 3 {
			clients = append(clients, slowClient(t, addr))
			n := len(clients)
			testutil.RunUntil(t, l, 10*time.Second, func() bool { return len(made) == n })
		}
		testutil.Settle(t, l)
		st := dispatcher.Stats(l.Map())
		assert.Equal(t, 2, st.TLSHandshaking)
		assert.EqualValues(t, 1, st.TLSHandshakesShed)
		assert.Less(t, made[2].Fd(), 0, "the third connection is shed")
		assert.Equal(t, 3, made[1].Socket().Unread(), "a waiting connection is not read")
		assert.Equal(t, 1, handshakeGoroutines(), "one handshake goroutine")
		// The shed client sees the connection closed.
		_ = clients[2].SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := clients[2].Read(make([]byte, 1))
		assert.Error(t, err)

		// The first handshake ends (its client goes away): the waiting
		// one starts and reads.
		_ = clients[0].Close()
		testutil.RunUntil(t, l, 10*time.Second, func() bool {
			return made[0].Fd() < 0 && made[1].Socket().Unread() == 0
		})
		assert.Equal(t, 1, dispatcher.Stats(l.Map()).TLSHandshaking)
		clk.Advance(dispatcher.DefaultHandshakeTimeout)
		testutil.RunUntil(t, l, 10*time.Second, func() bool { return made[1].Fd() < 0 })
		st = dispatcher.Stats(l.Map())
		assert.Zero(t, st.TLSHandshaking)
		assert.EqualValues(t, 1, st.TLSHandshakeTimeouts)
		assert.EqualValues(t, 1, st.TLSHandshakeErrors)
		awaitGoroutines(t, l, base)
	})
}

// TestTLSClientHandshakeTimeout: a client's handshake is bounded by the
// same HandshakeTimeout, counted from TLSClient (right after Connect), when
// the server accepts and then says nothing; HandleConnect never runs.
func TestTLSClientHandshakeTimeout(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		base := runtime.NumGoroutine()
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { _ = ln.Close() })
		accepted := make(chan net.Conn, 1)
		go func() {
			if c, err := ln.Accept(); err == nil {
				accepted <- c // held open, never read, never answered
			}
		}()
		l, clk := looptest.NewFakeClockLoop(t, kind)
		_, cliCfg := testutil.TLSCert(t)
		h := newTLSEcho(l.Map())
		h.noEcho = true
		dialTLS(t, h, ln.Addr().String(), cliCfg)
		c := <-accepted
		t.Cleanup(func() { _ = c.Close() })
		testutil.RunUntil(t, l, 10*time.Second, func() bool {
			return dispatcher.Stats(l.Map()).TLSHandshaking == 1 && handshakeGoroutines() == 1
		})
		clk.Advance(dispatcher.DefaultHandshakeTimeout - time.Millisecond)
		testutil.Settle(t, l)
		assert.Empty(t, h.errs, "not before HandshakeTimeout")
		assert.GreaterOrEqual(t, h.Fd(), 0)
		clk.Advance(time.Millisecond)
		testutil.RunUntil(t, l, 10*time.Second, func() bool { return h.Fd() < 0 })
		require.Len(t, h.errs, 1)
		assert.ErrorIs(t, h.errs[0], dispatcher.ErrTLSHandshakeTimeout)
		assert.Zero(t, h.conns, "HandleConnect never ran")
		st := dispatcher.Stats(l.Map())
		assert.EqualValues(t, 1, st.TLSHandshakeTimeouts)
		assert.Zero(t, st.TLSHandshaking)
		awaitGoroutines(t, l, base)
	})
}
