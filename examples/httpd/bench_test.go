package main

// Benchmarks of the request→reply path of a cached GET, in process: a
// connection on one end of a socketpair, the loop run by hand. They report
// allocations per request (the target for a cached GET is none) and the
// time per request, system calls included; wrk against the binary is the
// end-to-end measure (see bench/README.md).

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/loop"
)

// benchIndex is the file the benchmarks GET: the harness's index.html.
const benchIndex = "<!doctype html>\n<title>asyncore-go</title>\n<h1>It works.</h1>\n"

// benchRequest is what wrk sends for GET /.
const benchRequest = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"

// benchConn is a cached-file server with one connection, whose client end
// is peer.
type benchConn struct {
	l    *loop.Loop
	peer int
	buf  []byte
}

func newBenchConn(b testing.TB) *benchConn {
	root := b.TempDir()
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte(benchIndex), 0o644); err != nil {
		b.Fatal(err)
	}
	real, err := resolveRoot(root)
	if err != nil {
		b.Fatal(err)
	}
	m := loop.NewMap()
	l, err := loop.New(loop.Options{Map: m})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := newServer(real, options{cache: defaultCacheOptions})
	if err != nil {
		b.Fatal(err)
	}
	srv.Init(srv, m)
	fds, err := testutil.NewSocketpair()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = unix.Close(fds[1])
		_ = dispatcher.CloseAll(m, true)
		_ = l.Close()
		_ = unix.Close(srv.rootFD)
	})
	srv.HandleAccepted(fds[0], nil)
	return &benchConn{l: l, peer: fds[1], buf: make([]byte, 256<<10)}
}

// exchange writes req (k requests) and runs the loop until k replies have
// come back, each ended by the body of benchIndex.
func (c *benchConn) exchange(b testing.TB, req []byte, k int) {
	for len(req) > 0 {
		n, err := unix.Write(c.peer, req)
		if err != nil {
			b.Fatal(err)
		}
		req = req[n:]
	}
	for got := 0; got < k; {
		if err := c.l.RunOnce(0); err != nil {
			b.Fatal(err)
		}
		for {
			n, err := unix.Read(c.peer, c.buf)
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			if err != nil || n == 0 {
				b.Fatalf("read: %d, %v", n, err)
			}
			got += bytes.Count(c.buf[:n], []byte("</h1>\n"))
		}
	}
}

// TestCachedGETAllocs: answering a GET of a cached file allocates
// nothing, plain or pipelined, whether the request names the file as wrk
// does ("/"), with a query string (pipeline.lua), by its own name, or
// with the header fields a browser sends. Allocation counts do not depend
// on timing; the race detector's instrumentation allocates, so the test
// does not run under it.
func TestCachedGETAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, tc := range []struct{ name, req string }{
		{"wrk", benchRequest},
		{"query", "GET /?pipelined=12 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"},
		{"name", "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"browser", "GET /index.html?v=3 HTTP/1.1\r\nHost: example.org\r\nUser-Agent: Mozilla/5.0\r\n" +
			"Accept: text/html,*/*;q=0.8\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n"},
		{"http10", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"},
	} {
		for _, k := range []int{1, 16} {
			c := newBenchConn(t)
			req := []byte(strings.Repeat(tc.req, k))
			c.exchange(t, req, k) // fills the cache, grows the buffers
			if n := testing.AllocsPerRun(50, func() { c.exchange(t, req, k) }); n != 0 {
				t.Errorf("%s ×%d: %.1f allocations per batch of requests, want 0", tc.name, k, n)
			}
		}
	}
}

// BenchmarkCachedGET: one op is one GET / of a cached 62-byte file answered,
// sent one request per write (as plain wrk does) or 16 per write (as
// pipeline.lua does).
func BenchmarkCachedGET(b *testing.B) {
	for _, k := range []int{1, 16} {
		name := "plain"
		if k > 1 {
			name = "pipelined16"
		}
		b.Run(name, func(b *testing.B) {
			c := newBenchConn(b)
			req := []byte(strings.Repeat(benchRequest, k))
			c.exchange(b, req, k) // fills the cache, grows the buffers
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += k {
				c.exchange(b, req, k)
			}
		})
	}
}
