package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
)

// startTLS runs the server with a test certificate and returns its address
// and the client configuration that trusts it.
func startTLS(t *testing.T, kind poller.Kind) (net.Addr, *tls.Config) {
	t.Helper()
	srvCfg, cliCfg := testutil.TLSCert(t)
	addr, _ := testutil.Serve(t, func(ctx context.Context, ready func(net.Addr)) error {
		return serve(ctx, "127.0.0.1:0", kind, loop.DefaultGrace, srvCfg, ready)
	})
	return addr, cliCfg
}

// dialTLS is dial over TLS.
func dialTLS(t *testing.T, addr net.Addr, cfg *tls.Config) *respClient {
	t.Helper()
	conn, err := tls.Dial("tcp", addr.String(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(testutil.HangGuard)))
	return &respClient{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// TestTLS runs commands over TLS (redis-cli --tls): single requests, a
// value larger than a TLS record, a pipeline sent in one write, and INFO.
func TestTLS(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr, cfg := startTLS(t, kind)
		rc := dialTLS(t, addr, cfg)
		assert.Equal(t, status("PONG"), rc.do("PING"))
		assert.Equal(t, status("OK"), rc.do("SET", "greeting", "hello"))
		assert.Equal(t, "hello", rc.do("GET", "greeting"))

		big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB: many records each way
		assert.Equal(t, status("OK"), rc.do("SET", "big", big))
		assert.Equal(t, big, rc.do("GET", "big"))

		const n = 1000
		var pipe bytes.Buffer
		for range n {
			pipe.Write(encode("INCR", "counter"))
		}
		rc.write(pipe.Bytes())
		for i := range n {
			require.Equal(t, int64(i+1), rc.read())
		}

		other := dialTLS(t, addr, cfg)
		assert.Equal(t, "hello", other.do("GET", "greeting"))
		info, ok := other.do("INFO").(string)
		require.True(t, ok)
		assert.Contains(t, info, "connected_clients:2")
	})
}

// TestTLSPlainClient: a plaintext request to the TLS port is not answered
// as a command; the server closes the connection.
func TestTLSPlainClient(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr, _ := startTLS(t, kind)
		got := testutil.PlainReply(t, addr.String(), []byte("PING\r\n"), len("+PONG\r\n"))
		assert.NotContains(t, got, "PONG")
	})
}

// TestTLSNoPlainRefusal: over -maxclients a plain server says so in
// Redis's words, but a TLS client would read that as a garbled handshake,
// so under TLS there is no refusal message: the connection is just closed.
func TestTLSNoPlainRefusal(t *testing.T) {
	srvCfg, _ := testutil.TLSCert(t)
	for _, cfg := range []*tls.Config{nil, srvCfg} {
		m := loop.NewMap()
		s, err := listen(m, "127.0.0.1:0", cfg)
		require.NoError(t, err)
		assert.Equal(t, cfg == nil, s.RejectMessage != nil, "TLS: %v", cfg != nil)
		require.NoError(t, s.Close())
	}
}
