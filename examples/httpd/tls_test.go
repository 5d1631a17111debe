package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"golang.org/x/sys/unix"
)

// TestHTTPS serves HTTPS (-tls-cert, -tls-key) and runs testClient's
// requests with net/http's client over it: keep-alive, bodies both ways,
// files larger than a TLS record. ALPN settles on http/1.1, and a client
// left connected at shutdown gets close_notify.
func TestHTTPS(t *testing.T) {
	fx := makeRoot(t)
	fx.big = fx.big[:maxBody+1] // more than a record and a read buffer; see TestHTTPD
	p := filepath.Join(fx.root, "big.bin")
	require.NoError(t, os.WriteFile(p, fx.big, 0o644))
	require.NoError(t, os.Chtimes(p, mtime, mtime))

	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		checkFDs := testutil.FDCheck(t)
		srvCfg, cliCfg := testutil.TLSCert(t)
		srvCfg.NextProtos = []string{"http/1.1"} // what main asks tlsflags for
		bound, stop := testutil.Serve(t, func(ctx context.Context, ready func(net.Addr)) error {
			return serve(ctx, "127.0.0.1:0", fx.root, kind, options{cache: defaultCacheOptions, stats: true, tls: srvCfg}, ready)
		})
		base := "https://" + bound.String()
		cliCfg.NextProtos = []string{"h2", "http/1.1"} // as browsers offer
		tr := &http.Transport{TLSClientConfig: cliCfg, MaxIdleConnsPerHost: 4, DisableCompression: true, ExpectContinueTimeout: 5 * time.Second}
		client := &http.Client{Transport: tr, Timeout: testutil.HangGuard}

		resp, err := client.Get(base + "/small.txt")
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		require.NotNil(t, resp.TLS)
		assert.Equal(t, "http/1.1", resp.TLS.NegotiatedProtocol)
		assert.Equal(t, 1, resp.ProtoMajor)

		t.Run("client", func(t *testing.T) { testClient(t, client, base, fx) })

		// A client left connected is closed at shutdown with close_notify.
		idle, err := tls.Dial("tcp", bound.String(), cliCfg)
		require.NoError(t, err)
		_ = idle.SetDeadline(time.Now().Add(testutil.HangGuard))
		_, err = idle.Write([]byte(get("GET", "/small.txt")))
		require.NoError(t, err)
		buf := make([]byte, 1)
		_, err = io.ReadFull(idle, buf) // the reply has begun: the request was read
		require.NoError(t, err)
		tr.CloseIdleConnections()
		stop()
		_, err = io.Copy(io.Discard, idle)
		assert.NoError(t, err, "io.Copy returns nil at close_notify (io.EOF), an error at a cut stream")
		require.NoError(t, idle.Close())
		checkFDs()
	})
}

// TestHTTPSPlainClient: a plain HTTP request to the HTTPS port gets no HTTP
// reply; the server closes the connection.
func TestHTTPSPlainClient(t *testing.T) {
	fx := makeRoot(t)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		srvCfg, _ := testutil.TLSCert(t)
		bound, _ := testutil.Serve(t, func(ctx context.Context, ready func(net.Addr)) error {
			return serve(ctx, "127.0.0.1:0", fx.root, kind, options{cache: defaultCacheOptions, tls: srvCfg}, ready)
		})
		got := testutil.PlainReply(t, bound.String(), []byte(get("GET", "/small.txt")), len("HTTP/1.1"))
		assert.NotContains(t, got, "HTTP/1.1")
	})
}

// TestHTTPSNoPlainRefusal: over the connection cap a plain server answers
// 503, but an HTTPS client would read that as a garbled handshake, so under
// TLS there is no refusal message: the connection is just closed.
func TestHTTPSNoPlainRefusal(t *testing.T) {
	fx := makeRoot(t)
	root, err := resolveRoot(fx.root)
	require.NoError(t, err)
	srvCfg, _ := testutil.TLSCert(t)
	for _, cfg := range []*tls.Config{nil, srvCfg} {
		s, err := listen(loop.NewMap(), "127.0.0.1:0", root, options{cache: defaultCacheOptions, tls: cfg})
		require.NoError(t, err)
		assert.Equal(t, cfg == nil, s.RejectMessage != nil, "TLS: %v", cfg != nil)
		require.NoError(t, s.Close())
		require.NoError(t, unix.Close(s.rootFD))
	}
}
