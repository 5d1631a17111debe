package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
)

// TestEchoTLS serves with -tls-cert and -tls-key, in both modes and on two
// loops: crypto/tls clients get every byte back, including a payload far
// larger than a TLS record and the loop's read buffer, a client still
// connected at shutdown gets close_notify (io.EOF, not a truncation), and no
// descriptor is left behind.
func TestEchoTLS(t *testing.T) {
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(rand.Uint32())
	}
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		for _, mode := range []struct {
			name  string
			line  bool
			loops int
		}{{"bytes", false, 1}, {"line", true, 1}, {"loops", false, 2}} {
			t.Run(mode.name, func(t *testing.T) {
				checkFDs := testutil.FDCheck(t)
				srvCfg, cliCfg := testutil.TLSCert(t)
				opt := options{addr: "127.0.0.1:0", kind: kind, line: mode.line, loops: mode.loops, noDelay: true, tls: srvCfg}
				addr, stop := testutil.Serve(t, func(ctx context.Context, ready func(net.Addr)) error {
					if opt.loops > 1 {
						return serveLoops(ctx, opt, ready)
					}
					return serve(ctx, opt, ready)
				})
				// Each ends with "\n" for the line echo; big has many.
				msgs := [][]byte{[]byte("hello over TLS\n"), append(bytes.Repeat([]byte("x"), 20000), '\n'), append(bytes.Clone(big), '\n')}
				const clients = 4
				var wg sync.WaitGroup
				errs := make(chan error, clients)
				for i := range clients {
					wg.Go(func() {
						c, err := tls.Dial("tcp", addr.String(), cliCfg)
						if err != nil {
							errs <- fmt.Errorf("client %d: %w", i, err)
							return
						}
						defer c.Close()
						_ = c.SetDeadline(time.Now().Add(testutil.HangGuard))
						if v := c.ConnectionState().Version; v < tls.VersionTLS12 {
							errs <- fmt.Errorf("client %d: TLS version %x", i, v)
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

				// A client left connected is closed at shutdown with
				// close_notify: crypto/tls reports io.EOF, where a cut
				// stream would be io.ErrUnexpectedEOF.
				idle, err := tls.Dial("tcp", addr.String(), cliCfg)
				require.NoError(t, err)
				assertClosedAtStop(t, idle, "still here\n", stop)
				checkFDs()
			})
		}
	})
}

// TestEchoTLSPlainClient: a client that does not speak TLS to a TLS port
// never gets its bytes echoed; the server closes the connection.
func TestEchoTLSPlainClient(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		srvCfg, _ := testutil.TLSCert(t)
		addr, _ := testutil.Serve(t, func(ctx context.Context, ready func(net.Addr)) error {
			return serve(ctx, options{addr: "127.0.0.1:0", kind: kind, noDelay: true, tls: srvCfg}, ready)
		})
		msg := "GET / HTTP/1.0\r\n\r\n"
		got := testutil.PlainReply(t, addr.String(), []byte(msg), len(msg))
		assert.NotContains(t, got, msg, "plaintext was echoed on a TLS port")
	})
}
