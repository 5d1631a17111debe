package dispatcher_test

import (
	"bytes"
	"crypto/tls"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
)

// BenchmarkTLSEcho: one op is a 64-byte request from our TLS client to our
// TLS server (TLS 1.3, AES-128-GCM) on one loop, its echo, and the client's
// HandleData of the reply: two encryptions and two decryptions, after the
// handshake.
func BenchmarkTLSEcho(b *testing.B) {
	req := bytes.Repeat([]byte("x"), 64)
	l, cli := tlsEchoPair(b, looptest.Backends()[0])
	want := 4
	round := func() {
		cli.Send(req)
		want += len(req)
		for cli.got < want {
			if err := l.RunOnce(-1); err != nil {
				b.Fatal(err)
			}
		}
	}
	for range 100 {
		round()
	}
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		round()
	}
}

// tlsEchoPair starts an echo server with ServeTLS (TLS 1.3, AES-128-GCM)
// and a client of ours connected to it, both on one loop, and returns once
// the client's handshake is done.
func tlsEchoPair(tb testing.TB, kind poller.Kind) (*loop.Loop, *tlsEcho) {
	tb.Helper()
	srvCfg, cliCfg := testutil.TLSCert(tb)
	srvCfg.CipherSuites = []uint16{tls.TLS_AES_128_GCM_SHA256}
	l := looptest.NewLoop(tb, kind)
	m := l.Map()
	srv, err := dispatcher.ServeTLS(m, "127.0.0.1:0", srvCfg, func() dispatcher.Handler {
		h := &dataEchoBench{}
		h.Init(h, m)
		return h
	})
	if err != nil {
		tb.Fatal(err)
	}
	cli := newTLSEcho(m)
	cli.noEcho = true
	dialTLS(tb, cli, srv.Addr().String(), cliCfg)
	testutil.RunUntil(tb, l, 30*time.Second, func() bool { return cli.conns == 1 })
	return l, cli
}

// BenchmarkTLSEchoStd is BenchmarkTLSEcho's op with crypto/tls on both
// sides and a goroutine per connection, for comparison.
func BenchmarkTLSEchoStd(b *testing.B) {
	req := bytes.Repeat([]byte("x"), 64)
	srvCfg, cliCfg := testutil.TLSCert(b)
	srvCfg.CipherSuites = []uint16{tls.TLS_AES_128_GCM_SHA256}
	ln, err := tls.Listen("tcp4", "127.0.0.1:0", srvCfg)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	c, err := tls.Dial("tcp4", ln.Addr().String(), cliCfg)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	in := make([]byte, 4096)
	round := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < len(req); {
			n, err := c.Read(in)
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
	for range 100 {
		round()
	}
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		round()
	}
}
