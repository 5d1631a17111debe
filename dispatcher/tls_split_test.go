package dispatcher_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// splitConn is a client's connection whose writes the test passes on to
// the socket itself, one byte at a time.
type splitConn struct {
	net.Conn
	writes chan []byte
	acks   chan struct{}
}

func (c *splitConn) Write(p []byte) (int, error) {
	c.writes <- bytes.Clone(p)
	<-c.acks
	return len(p), nil
}

// Records split at every byte, handshake included: the server takes each
// byte in (the loop reads it, the handshake or tls.Conn buffers it) before
// the next is sent, and still sees the whole conversation.
func TestTLSRecordsSplitAtEveryByte(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			srvCfg, cliCfg := testutil.TLSCert(t)
			cliCfg.MaxVersion, cliCfg.MinVersion = v, v
			var made []*tlsEcho
			l, addr := serveTLS(t, kind, srvCfg, &made)
			// A byte at a time is slow: no wall-clock timeout may cut it.
			dispatcher.SetTLSLimits(l.Map(), dispatcher.TLSLimits{HandshakeTimeout: time.Hour})
			raw, err := net.Dial("tcp4", addr)
			require.NoError(t, err)
			sc := &splitConn{Conn: raw, writes: make(chan []byte), acks: make(chan struct{})}
			msg := []byte("split at every byte, twice over")
			done := make(chan error, 1)
			go func() {
				c := tls.Client(sc, cliCfg)
				defer raw.Close()
				if _, err := c.Write(msg); err != nil {
					done <- err
					return
				}
				back := make([]byte, len(msg))
				if _, err := io.ReadFull(c, back); err != nil {
					done <- err
					return
				}
				if !bytes.Equal(back, msg) {
					done <- io.ErrUnexpectedEOF
					return
				}
				done <- c.Close() // close_notify, split too
			}()
			testutil.RunUntil(t, l, 10*time.Second, func() bool { return len(made) == 1 })
			h := made[0]
			sent := 0
			var cerr error
			finished := false
			for !finished {
				select {
				case p := <-sc.writes:
					for _, b := range p {
						_, err := raw.Write([]byte{b})
						require.NoError(t, err, "byte %d; server errors %v", sent, h.errs)
						sent++
						for h.Fd() >= 0 && h.Socket().Unread() > 0 {
							require.NoError(t, l.RunOnce(time.Millisecond))
						}
					}
					sc.acks <- struct{}{}
				case cerr = <-done:
					finished = true
				default:
					require.NoError(t, l.RunOnce(time.Millisecond))
				}
			}
			require.NoError(t, cerr)
			testutil.RunUntil(t, l, 10*time.Second, func() bool { return h.Fd() < 0 })
			assert.Empty(t, h.errs)
			assert.Equal(t, len(msg), h.got)
			assert.Equal(t, 1, h.closes)
			assert.Greater(t, sent, 100)
		}
	})
}
