package main

// Smaller behaviours: the redirect of a directory named without its
// slash, requests ended by bare LF, and /_stats as an opt-in.

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
)

// TestDirectoryRedirect: a directory named without its trailing slash is
// answered with 301 to the name with the slash (keeping the query), as
// nginx and Apache do, so that relative links in its index.html resolve
// inside it. The connection stays open.
func TestDirectoryRedirect(t *testing.T) {
	fx := makeRoot(t)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		bound, _ := testutil.Serve(t, onLoopback(fx.root, kind))
		c := dialRaw(t, bound.String())
		for _, tc := range []struct{ method, target, location string }{
			{"GET", "/sub", "/sub/"},
			{"HEAD", "/sub", "/sub/"},
			{"GET", "/sub?a=1&b", "/sub/?a=1&b"},
			{"GET", "/a%20b", "/a%20b/"},
			{"GET", "/noindex", "/noindex/"},
			{"GET", "http://test/sub", "/sub/"},
			{"GET", "/sub?next=http://x/y", "/sub/?next=http://x/y"},
		} {
			c.send(t, get(tc.method, tc.target))
			r := c.read(t, tc.method)
			assert.Equal(t, http.StatusMovedPermanently, r.StatusCode, tc.target)
			assert.Equal(t, tc.location, r.Header.Get("Location"), tc.target)
			assert.False(t, r.Close, tc.target)
		}
		c.send(t, get("GET", "/sub/"))
		assert.Equal(t, "<h1>sub</h1>\n", string(c.read(t, "GET").body))
	})
}

// TestBareLF: a request whose lines end in LF alone is accepted, as nginx
// and Go's net/http accept it (RFC 9112 §2.2 allows a recipient to), also
// pipelined and mixed with CRLF; a bare CR is still refused.
func TestBareLF(t *testing.T) {
	fx := makeRoot(t)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		bound, _ := testutil.Serve(t, onLoopback(fx.root, kind))
		c := dialRaw(t, bound.String())
		c.send(t, "GET /small.txt HTTP/1.1\nHost: x\n\n"+
			"GET /sub/data.json HTTP/1.1\r\nHost: x\n\r\n"+
			"POST /echo HTTP/1.1\nHost: x\nContent-Length: 4\n\nping"+
			"\nGET /index.html HTTP/1.1\nHost: x\n\n")
		assert.Equal(t, "small file\n", string(c.read(t, "GET").body))
		assert.Equal(t, `{"a": 1}`, string(c.read(t, "GET").body))
		assert.Equal(t, "ping", string(c.read(t, "POST").body))
		assert.Equal(t, "<h1>home</h1>\n", string(c.read(t, "GET").body))

		c = dialRaw(t, bound.String())
		c.send(t, "GET / HTTP/1.1\nHost: x\nX-A: a\rb\n\n")
		r := c.read(t, "GET")
		assert.Equal(t, http.StatusBadRequest, r.StatusCode)
		assert.True(t, c.closed(t))
	})
}

// TestStatsOptIn: /_stats answers only with -stats, however its path is
// spelled; without it the path is an ordinary file name (404 here).
func TestStatsOptIn(t *testing.T) {
	fx := makeRoot(t)
	off := func(ctx context.Context, ready func(net.Addr)) error {
		return serve(ctx, "127.0.0.1:0", fx.root, 0, options{cache: defaultCacheOptions}, ready)
	}
	bound, _ := testutil.Serve(t, off)
	c := dialRaw(t, bound.String())
	for _, target := range []string{"/_stats", "//_stats", "/%5f%73tats", "/./_stats", "http://x/_stats"} {
		c.send(t, get("GET", target))
		r := c.read(t, "GET")
		assert.Equal(t, http.StatusNotFound, r.StatusCode, target)
		assert.NotContains(t, string(r.body), "BytesIn", target)
	}

	on := func(ctx context.Context, ready func(net.Addr)) error {
		return serve(ctx, "127.0.0.1:0", fx.root, 0, options{cache: defaultCacheOptions, stats: true}, ready)
	}
	bound, _ = testutil.Serve(t, on)
	c = dialRaw(t, bound.String())
	c.send(t, get("GET", "/_stats"))
	r := c.read(t, "GET")
	assert.Equal(t, http.StatusOK, r.StatusCode)
	assert.Contains(t, string(r.body), "BytesIn")
}

// TestHeadTimeout: a head begun and never finished — one line, then
// nothing, so no chat frame is under way — is answered with 408 once the
// head timeout has passed (not before), and the connection is closed.
func TestHeadTimeout(t *testing.T) {
	fx := makeRoot(t)
	const timeout = 300 * time.Millisecond
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		run := func(ctx context.Context, ready func(net.Addr)) error {
			return serve(ctx, "127.0.0.1:0", fx.root, kind, options{cache: defaultCacheOptions, headTimeout: timeout}, ready)
		}
		bound, _ := testutil.Serve(t, run)
		c := dialRaw(t, bound.String())
		start := time.Now()
		c.send(t, "GET /small.txt HTTP/1.1\r\nHost: x\r\n")
		r := c.read(t, "GET")
		assert.GreaterOrEqual(t, time.Since(start), timeout, "408 before the timeout")
		assert.Equal(t, http.StatusRequestTimeout, r.StatusCode)
		assert.True(t, r.Close, "Connection: close")
		assert.True(t, c.closed(t))
	})
}
