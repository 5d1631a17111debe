package dispatcher_test

import (
	"crypto/tls"
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

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// Idle TLS connections hold no goroutine and no buffer: after the
// handshake and one round trip, n connection pairs (our server, our
// client, one loop) leave no handshake goroutine behind. The heap per pair
// is logged beside that of crypto/tls pairs with a goroutine per side.
func TestTLSIdleConnections(t *testing.T) {
	n := testutil.Rounds(50, 2000)
	kind := looptest.Backends()[0]
	if kind == poller.Select {
		n = min(n, 200)
	}
	srvCfg, cliCfg := testutil.TLSCert(t)
	l := looptest.NewLoop(t, kind)
	m := l.Map()
	dispatcher.SetMaxConns(m, -1)
	var made []*tlsEcho
	before := heapInUse()
	srv, err := dispatcher.ServeTLS(m, "127.0.0.1:0", srvCfg, func() dispatcher.Handler {
		h := newTLSEcho(m)
		made = append(made, h)
		return h
	})
	require.NoError(t, err)
	clients := make([]*tlsEcho, n)
	for i := range clients {
		c := newTLSEcho(m)
		c.noEcho = true
		dialTLS(t, c, srv.Addr().String(), cliCfg)
		clients[i] = c
		if i%100 == 99 || i == n-1 {
			batch := clients[i/100*100 : i+1]
			testutil.RunUntil(t, l, 60*time.Second, func() bool {
				for _, c := range batch {
					if c.got < 4 {
						return false
					}
				}
				return true
			})
		}
	}
	awaitGoroutines(t, l, 0)
	ours := heapInUse() - before
	assert.Equal(t, n, len(made))
	assert.EqualValues(t, 2*n, dispatcher.Stats(m).TLSHandshakes, "both sides share the map")
	t.Logf("asyncore-go: %d idle TLS connection pairs, %d B of heap and stacks per pair", n, int(ours)/n)

	// crypto/tls with a goroutine per side, blocked in Read.
	before = heapInUse()
	ln, err := tls.Listen("tcp4", "127.0.0.1:0", srvCfg)
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c) }()
		}
	}()
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := tls.Dial("tcp4", ln.Addr().String(), cliCfg)
		require.NoError(t, err)
		_, _ = c.Write([]byte("ping"))
		_, _ = io.ReadFull(c, make([]byte, 4))
		go func() { _, _ = c.Read(make([]byte, 1)) }()
		conns[i] = c
	}
	std := heapInUse() - before
	t.Logf("crypto/tls, goroutine per side: %d B per pair (ratio ours/std %.2f)", int(std)/n, float64(ours)/float64(std))
	for _, c := range conns {
		_ = c.Close()
	}
}
