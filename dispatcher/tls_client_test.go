package dispatcher_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tlsPeerServer accepts n connections with crypto/tls on a goroutine; each
// reads "ping", answers "pong" and closes with close_notify. The server's
// view of each connection comes on the channel.
func tlsPeerServer(t *testing.T, cfg *tls.Config, n int) (string, <-chan tls.ConnectionState, <-chan error) {
	t.Helper()
	ln, err := tls.Listen("tcp4", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	states := make(chan tls.ConnectionState, n)
	errs := make(chan error, n)
	go func() {
		for range n {
			c, err := ln.Accept()
			if err != nil {
				errs <- err
				return
			}
			tc := c.(*tls.Conn)
			buf := make([]byte, 4)
			if _, err := io.ReadFull(tc, buf); err != nil || string(buf) != "ping" {
				errs <- errors.Join(err, errors.New("no ping: "+string(buf)))
				_ = c.Close()
				continue
			}
			states <- tc.ConnectionState()
			_, _ = tc.Write([]byte("pong"))
			_ = tc.Close()
		}
	}()
	return ln.Addr().String(), states, errs
}

// dialTLS makes a dispatcher client that connects to addr with TLS and
// sends "ping".
func dialTLS(t testing.TB, h *tlsEcho, addr string, cfg *tls.Config) {
	t.Helper()
	require.NoError(t, h.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
	require.NoError(t, h.Connect(addr))
	require.NoError(t, h.Socket().TLSClient(cfg))
	h.Send([]byte("ping"))
}

func TestTLSClientVersionsALPNAndSNI(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			base := runtime.NumGoroutine()
			srvCfg, cliCfg := testutil.TLSCert(t)
			srvCfg.NextProtos = []string{"smtp", "x-test"}
			cliCfg.NextProtos = []string{"x-test"}
			cliCfg.MaxVersion, cliCfg.MinVersion = v, v
			addr, states, errs := tlsPeerServer(t, srvCfg, 1)
			l := looptest.NewLoop(t, kind)
			h := newTLSEcho(l.Map())
			h.noEcho = true
			dialTLS(t, h, addr, cliCfg)
			assert.Zero(t, h.conns, "HandleConnect waits for the handshake")
			testutil.RunUntil(t, l, 30*time.Second, func() bool { return h.Fd() < 0 || len(errs) > 0 })
			require.Empty(t, errs)
			assert.Equal(t, 1, h.conns)
			assert.True(t, h.tlsAtConnect, "HandleConnect ran after the handshake")
			assert.Equal(t, 4, h.got)
			assert.Empty(t, h.errs, "close_notify is an orderly end")
			assert.Equal(t, 1, h.closes)
			st := <-states
			assert.Equal(t, "localhost", st.ServerName, "SNI")
			assert.Equal(t, v, st.Version)
			require.True(t, h.hasSt)
			assert.Equal(t, "x-test", h.state.NegotiatedProtocol)
			assert.Equal(t, v, h.state.Version)
			awaitGoroutines(t, l, base)
		}
	})
}

// Session tickets and resumption, both ways: a crypto/tls client resumes
// with our server, and our client resumes with a crypto/tls server.
func TestTLSResumption(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(tls.VersionName(v), func(t *testing.T) {
				srvCfg, cliCfg := testutil.TLSCert(t)
				cliCfg.MaxVersion, cliCfg.MinVersion = v, v
				cliCfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)

				// crypto/tls client -> our server.
				var made []*tlsEcho
				l, addr := serveTLS(t, kind, srvCfg, &made)
				for i := range 2 {
					var resumed bool
					done := tlsClient(addr, cliCfg, func(c *tls.Conn) error {
						// A TLS 1.3 ticket comes after the handshake: a
						// round trip makes sure it was read.
						err := echoRoundTrip(c, []byte("x"))
						resumed = c.ConnectionState().DidResume
						return err
					})
					require.NoError(t, wait(t, l, done))
					assert.Equal(t, i == 1, resumed, "connection %d", i)
					assert.Equal(t, i == 1, made[i].state.DidResume, "server side, connection %d", i)
				}

				// our client -> crypto/tls server.
				srv2, cli2 := testutil.TLSCert(t)
				cli2.MaxVersion, cli2.MinVersion = v, v
				cli2.ClientSessionCache = tls.NewLRUClientSessionCache(4)
				addr2, states, errs := tlsPeerServer(t, srv2, 2)
				for i := range 2 {
					h := newTLSEcho(l.Map())
					h.noEcho = true
					dialTLS(t, h, addr2, cli2)
					testutil.RunUntil(t, l, 30*time.Second, func() bool { return h.Fd() < 0 || len(errs) > 0 })
					require.Empty(t, errs)
					st := <-states
					assert.Equal(t, i == 1, st.DidResume, "connection %d", i)
					assert.Equal(t, i == 1, h.state.DidResume, "client side, connection %d", i)
				}
			})
		}
	})
}

// A stream cut without close_notify after the handshake is
// ErrTLSTruncated, not an EOF.
func TestTLSTruncatedIsAnError(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		srvCfg, cliCfg := testutil.TLSCert(t)
		var made []*tlsEcho
		l, addr := serveTLS(t, kind, srvCfg, &made)
		done := make(chan error, 1)
		go func() {
			raw, err := net.Dial("tcp4", addr)
			if err != nil {
				done <- err
				return
			}
			c := tls.Client(raw, cliCfg)
			err = echoRoundTrip(c, []byte("cut here"))
			_ = raw.Close() // no close_notify
			done <- err
		}()
		require.NoError(t, wait(t, l, done))
		h := made[0]
		testutil.RunUntil(t, l, 10*time.Second, func() bool { return h.Fd() < 0 })
		require.Len(t, h.errs, 1)
		assert.ErrorIs(t, h.errs[0], dispatcher.ErrTLSTruncated)
		assert.True(t, dispatcher.IsPeerCaused(h.errs[0]))
	})
}

// Alerts: a client that does not trust the certificate, and one that
// wants an ALPN protocol the server does not speak, fail the handshake;
// the server's HandleError gets a *TLSError.
func TestTLSHandshakeAlerts(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		base := runtime.NumGoroutine()
		srvCfg, _ := testutil.TLSCert(t)
		srvCfg.NextProtos = []string{"h2"}
		_, otherCli := testutil.TLSCert(t) // trusts another certificate
		_, goodCli := testutil.TLSCert(t)
		goodCli.InsecureSkipVerify = true
		goodCli.NextProtos = []string{"smtp"}
		var made []*tlsEcho
		l, addr := serveTLS(t, kind, srvCfg, &made)
		for i, cfg := range []*tls.Config{otherCli, goodCli} {
			done := tlsClient(addr, cfg, func(c *tls.Conn) error { return nil })
			err := wait(t, l, done)
			require.Error(t, err, "client %d", i)
			h := made[i]
			testutil.RunUntil(t, l, 10*time.Second, func() bool { return h.Fd() < 0 })
			require.Len(t, h.errs, 1, "client %d", i)
			var te *dispatcher.TLSError
			require.ErrorAs(t, h.errs[0], &te)
			assert.Equal(t, "handshake", te.Op)
			assert.True(t, dispatcher.IsPeerCaused(h.errs[0]))
			t.Logf("client %d: server saw %v", i, h.errs[0])
		}
		st := dispatcher.Stats(l.Map())
		assert.EqualValues(t, 2, st.TLSHandshakeErrors)
		assert.Zero(t, st.TLSHandshakes)
		assert.Zero(t, st.TLSHandshaking)
		awaitGoroutines(t, l, base)
	})
}
