package dispatcher_test

// TLS on the loop (docs/tls.md): crypto/tls peers on goroutines over
// loopback talk to dispatchers that speak TLS on every backend.

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"runtime"
	"strings"
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

// tlsEcho echoes what it receives (HandleData) and records how it ended.
type tlsEcho struct {
	dispatcher.DispatcherWithSend
	errs   []error
	closes int
	got    int
	conns  int // HandleConnect calls
	state  tls.ConnectionState
	hasSt  bool
	noEcho bool
	// tlsAtConnect: the handshake was done when HandleConnect ran.
	tlsAtConnect bool
}

func newTLSEcho(m *loop.Map) *tlsEcho {
	h := &tlsEcho{}
	h.Init(h, m)
	return h
}

func (h *tlsEcho) HandleData(p []byte) {
	h.got += len(p)
	if !h.hasSt {
		h.state, h.hasSt = h.Socket().ConnectionState()
	}
	if !h.noEcho {
		h.Send(p)
	}
}

func (h *tlsEcho) HandleError(err error) {
	h.errs = append(h.errs, err)
	_ = h.Close()
}

func (h *tlsEcho) HandleClose() {
	h.closes++
	h.DispatcherWithSend.HandleClose()
}

func (h *tlsEcho) HandleConnect() {
	h.conns++
	_, h.tlsAtConnect = h.Socket().ConnectionState()
}

// serveTLS serves TLS echo on a fresh loop of kind; the handlers made
// are appended to *made.
func serveTLS(t *testing.T, kind poller.Kind, cfg *tls.Config, made *[]*tlsEcho) (*loop.Loop, string) {
	t.Helper()
	l := looptest.NewLoop(t, kind)
	m := l.Map()
	srv, err := dispatcher.ServeTLS(m, "127.0.0.1:0", cfg, func() dispatcher.Handler {
		h := newTLSEcho(m)
		if made != nil {
			*made = append(*made, h)
		}
		return h
	})
	require.NoError(t, err)
	return l, srv.Addr().String()
}

// handshakeGoroutines counts the goroutines running a TLS handshake (the
// engine's; other tests' and the test framework's goroutines do not count).
func handshakeGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "tlsio.(*Conn).handshake(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// awaitGoroutines waits, running l, until no handshake goroutine is left
// (they end on their own once their connection ends). base is ignored.
func awaitGoroutines(t *testing.T, l *loop.Loop, base int) {
	t.Helper()
	_ = base
	testutil.RunUntil(t, l, 10*time.Second, func() bool { return handshakeGoroutines() == 0 })
}

// tlsClient runs f on a goroutine with a crypto/tls client connection to
// addr; the result comes on the channel.
func tlsClient(addr string, cfg *tls.Config, f func(c *tls.Conn) error) <-chan error {
	done := make(chan error, 1)
	go func() {
		c, err := tls.Dial("tcp4", addr, cfg)
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		done <- f(c)
	}()
	return done
}

// wait runs l until the client's result comes.
func wait(t *testing.T, l *loop.Loop, done <-chan error) error {
	t.Helper()
	var err error
	got := false
	testutil.RunUntil(t, l, 30*time.Second, func() bool {
		select {
		case err = <-done:
			got = true
		default:
		}
		return got
	})
	return err
}

// echoRoundTrip writes data and reads it back, concurrently.
func echoRoundTrip(c *tls.Conn, data []byte) error {
	werr := make(chan error, 1)
	go func() { _, err := c.Write(data); werr <- err }()
	back := make([]byte, len(data))
	if _, err := io.ReadFull(c, back); err != nil {
		return err
	}
	if err := <-werr; err != nil {
		return err
	}
	if !bytes.Equal(back, data) {
		return errors.New("echo differs")
	}
	return nil
}

func TestTLSServerEchoVersions(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			base := runtime.NumGoroutine()
			srvCfg, cliCfg := testutil.TLSCert(t)
			cliCfg.MaxVersion, cliCfg.MinVersion = v, v
			var made []*tlsEcho
			l, addr := serveTLS(t, kind, srvCfg, &made)
			data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
			done := tlsClient(addr, cliCfg, func(c *tls.Conn) error {
				if err := echoRoundTrip(c, []byte("hello")); err != nil {
					return err
				}
				return echoRoundTrip(c, data)
			})
			require.NoError(t, wait(t, l, done))
			require.Len(t, made, 1)
			h := made[0]
			testutil.RunUntil(t, l, 10*time.Second, func() bool { return h.Fd() < 0 })
			assert.Empty(t, h.errs, "the client's close_notify is an orderly close")
			assert.Equal(t, 1, h.closes)
			assert.Equal(t, len(data)+5, h.got)
			assert.True(t, h.hasSt)
			assert.Equal(t, v, h.state.Version)
			st := dispatcher.Stats(l.Map())
			assert.EqualValues(t, 1, st.TLSHandshakes)
			assert.Zero(t, st.TLSHandshaking)
			awaitGoroutines(t, l, base)
		}
	})
}
