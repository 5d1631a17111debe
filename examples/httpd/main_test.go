package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
)

// onLoopback is serve on 127.0.0.1:0 with root and the default cache, for
// testutil.Serve.
func onLoopback(root string, kind poller.Kind) testutil.ServeFunc {
	return onLoopbackCache(root, kind, defaultCacheOptions)
}

// onLoopbackCache is onLoopback with the cache configured by cache.
func onLoopbackCache(root string, kind poller.Kind, cache cacheOptions) testutil.ServeFunc {
	return func(ctx context.Context, ready func(net.Addr)) error {
		return serve(ctx, "127.0.0.1:0", root, kind, options{cache: cache, stats: true}, ready)
	}
}

// The files every test serves. The modification time has a fractional
// second, which Last-Modified and If-Modified-Since must drop.
var (
	mtime      = time.Date(2024, 5, 6, 7, 8, 9, 500_000_000, time.UTC)
	mtimeHTTP  = "Mon, 06 May 2024 07:08:09 GMT"
	secretText = "the contents of a file outside the root"
)

type fixture struct {
	root string
	big  []byte // big.bin: 5 MiB of random bytes
}

// makeRoot builds a document root, with a secret file beside it that no
// request may reach.
func makeRoot(t *testing.T) fixture {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	big := make([]byte, 5<<20)
	_, _ = rand.Read(big)
	files := map[string][]byte{
		"index.html":       []byte("<h1>home</h1>\n"),
		"small.txt":        []byte("small file\n"),
		"empty.txt":        nil,
		"big.bin":          big,
		"sub/index.html":   []byte("<h1>sub</h1>\n"),
		"sub/data.json":    []byte(`{"a": 1}`),
		"noindex/file.css": []byte("body {}\n"),
		"a b/c%d.txt":      []byte("odd name\n"),
	}
	for name, data := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, data, 0o644))
		require.NoError(t, os.Chtimes(p, mtime, mtime))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret.txt"), []byte(secretText), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(root, "link-out")))
	require.NoError(t, os.Symlink(filepath.Join(dir, "."), filepath.Join(root, "dir-out")))
	require.NoError(t, os.Symlink("small.txt", filepath.Join(root, "link-in")))
	return fixture{root: root, big: big}
}

// response is a parsed reply with its body read.
type response struct {
	*http.Response
	body []byte
	err  error // from reading the body
}

// rawConn is a plain TCP connection for what net/http will not send:
// pipelined and malformed requests.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(testutil.HangGuard)))
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

func (c *rawConn) send(t *testing.T, raw string) {
	t.Helper()
	_, err := io.WriteString(c, raw)
	require.NoError(t, err)
}

// read reads one reply to a request with the given method.
func (c *rawConn) read(t *testing.T, method string) response {
	t.Helper()
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	require.NoError(t, err, "reading the reply to %s", method)
	body, err := io.ReadAll(resp.Body)
	return response{Response: resp, body: body, err: err}
}

// closed reports whether the server has closed the connection: EOF with
// nothing more to read.
func (c *rawConn) closed(t *testing.T) bool {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(testutil.HangGuard)))
	n, err := c.br.Read(make([]byte, 1))
	return n == 0 && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err))
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(op.Err.Error(), "connection reset")
}

// get is a request line with the Host field, and extra lines as given.
func get(method, target string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: test\r\n", method, target)
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// TestHTTPD runs the server-level tests on every backend with the default
// cache, so that the small files come from memory, and once more on the
// default backend without it, so that every file is read from disk.
//
// Only the first backend and the run without the cache serve the 5 MiB
// big.bin; the other backends serve one just over maxBody (what the echo
// and 413 checks need) unless the long runs are on (testutil.Long): the
// large-file paths are the same on every backend, and each 5 MiB reply
// costs much under the race detector. The body-race check, which needs a
// reply larger than the socket buffers can hold, runs where big.bin is
// full size.
func TestHTTPD(t *testing.T) {
	fx := makeRoot(t)
	small := fx
	if !testutil.Long() {
		small = makeRoot(t)
		small.big = small.big[:maxBody+1]
		p := filepath.Join(small.root, "big.bin")
		require.NoError(t, os.WriteFile(p, small.big, 0o644))
		require.NoError(t, os.Chtimes(p, mtime, mtime))
	}
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		if kind == looptest.Backends()[0] {
			testHTTPD(t, fx, kind, defaultCacheOptions)
		} else {
			testHTTPD(t, small, kind, defaultCacheOptions)
		}
	})
	t.Run("nocache", func(t *testing.T) {
		testHTTPD(t, fx, 0, cacheOptions{TTL: -1})
	})
}

func testHTTPD(t *testing.T, fx fixture, kind poller.Kind, cache cacheOptions) {
	checkFDs := testutil.FDCheck(t)
	bound, stop := testutil.Serve(t, onLoopbackCache(fx.root, kind, cache))
	addr := bound.String()
	base := "http://" + addr

	// One keep-alive client for the whole backend: requests reuse its
	// connections.
	tr := &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true, ExpectContinueTimeout: 5 * time.Second}
	client := &http.Client{Transport: tr, Timeout: testutil.HangGuard}

	t.Run("client", func(t *testing.T) { testClient(t, client, base, fx) })
	t.Run("raw", func(t *testing.T) { testRaw(t, addr, fx) })
	t.Run("body-race", func(t *testing.T) {
		if len(fx.big) < 5<<20 {
			t.Skip("needs the 5 MiB big.bin: see TestHTTPD")
		}
		testBodyRace(t, addr, fx)
	})
	t.Run("stats", func(t *testing.T) { testStats(t, client, base) })

	// A client left connected must not keep the server from stopping.
	idle := dialRaw(t, addr)
	idle.send(t, get("GET", "/small.txt"))
	assert.Equal(t, http.StatusOK, idle.read(t, "GET").StatusCode)

	tr.CloseIdleConnections()
	stop()
	assert.True(t, idle.closed(t), "the server should close open connections on shutdown")
	require.NoError(t, idle.Close())
	checkFDs()
}

// testClient talks to the server with net/http's client, over keep-alive
// connections.
func testClient(t *testing.T, client *http.Client, base string, fx fixture) {
	do := func(t *testing.T, method, path string, body io.Reader, hdr ...string) response {
		t.Helper()
		req, err := http.NewRequest(method, base+path, body)
		require.NoError(t, err)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		require.NoError(t, err, "%s %s", method, path)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return response{Response: resp, body: data}
	}

	t.Run("GET", func(t *testing.T) {
		for _, tc := range []struct {
			path, file, ctype string
		}{
			{"/", "index.html", "text/html; charset=utf-8"},
			{"/index.html", "index.html", "text/html; charset=utf-8"},
			{"/small.txt", "small.txt", "text/plain; charset=utf-8"},
			{"/empty.txt", "empty.txt", "text/plain; charset=utf-8"},
			{"/sub/", "sub/index.html", "text/html; charset=utf-8"},
			{"/sub", "sub/index.html", "text/html; charset=utf-8"},
			{"/sub/data.json", "sub/data.json", "application/json"},
			{"/a%20b/c%25d.txt?x=1", "a b/c%d.txt", "text/plain; charset=utf-8"},
			{"/link-in", "small.txt", "text/plain; charset=utf-8"},
			{"/big.bin", "big.bin", "application/octet-stream"},
		} {
			t.Run(tc.path, func(t *testing.T) {
				want, err := os.ReadFile(filepath.Join(fx.root, filepath.FromSlash(tc.file)))
				require.NoError(t, err)
				before := time.Now().Truncate(time.Second) // Date has whole seconds
				r := do(t, "GET", tc.path, nil)
				after := time.Now()
				assert.Equal(t, http.StatusOK, r.StatusCode)
				assert.True(t, bytes.Equal(want, r.body), "body of %s: got %d bytes, want %d", tc.path, len(r.body), len(want))
				assert.Equal(t, int64(len(want)), r.ContentLength)
				assert.Equal(t, tc.ctype, r.Header.Get("Content-Type"))
				assert.Equal(t, mtimeHTTP, r.Header.Get("Last-Modified"))
				assert.Equal(t, "asyncore-go", r.Header.Get("Server"))
				date, err := http.ParseTime(r.Header.Get("Date"))
				assert.NoError(t, err)
				assert.False(t, date.Before(before) || date.After(after), "Date %v outside the request's %v to %v", date, before, after)
			})
		}
	})

	t.Run("keep-alive", func(t *testing.T) {
		var reused []bool
		for range 3 {
			trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) }}
			req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", base+"/small.txt", nil)
			require.NoError(t, err)
			resp, err := client.Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			require.NoError(t, resp.Body.Close())
		}
		assert.Equal(t, []bool{true, true}, reused[1:], "connections reused")
	})

	t.Run("HEAD", func(t *testing.T) {
		r := do(t, "HEAD", "/big.bin", nil)
		assert.Equal(t, http.StatusOK, r.StatusCode)
		assert.Equal(t, strconv.Itoa(len(fx.big)), r.Header.Get("Content-Length"))
		assert.Empty(t, r.body)
		r = do(t, "HEAD", "/missing", nil)
		assert.Equal(t, http.StatusNotFound, r.StatusCode)
		assert.Empty(t, r.body)
	})

	t.Run("If-Modified-Since", func(t *testing.T) {
		for _, tc := range []struct {
			since string
			want  int
		}{
			{mtimeHTTP, http.StatusNotModified}, // the same second: not modified
			{mtime.Add(time.Hour).Format(http.TimeFormat), http.StatusNotModified},
			{mtime.Add(-time.Second).Format(http.TimeFormat), http.StatusOK},
			{"not a date", http.StatusOK},
		} {
			r := do(t, "GET", "/small.txt", nil, "If-Modified-Since", tc.since)
			assert.Equal(t, tc.want, r.StatusCode, "If-Modified-Since: %s", tc.since)
			if tc.want == http.StatusNotModified {
				assert.Empty(t, r.body)
				assert.Equal(t, mtimeHTTP, r.Header.Get("Last-Modified"))
			}
		}
	})

	t.Run("404", func(t *testing.T) {
		for _, p := range []string{"/missing", "/sub/missing.txt", "/noindex/", "/small.txt/", "/link-out", "/dir-out/secret.txt"} {
			r := do(t, "GET", p, nil)
			assert.Equal(t, http.StatusNotFound, r.StatusCode, p)
			assert.Equal(t, "404 Not Found\n", string(r.body), p)
		}
	})

	t.Run("405", func(t *testing.T) {
		for _, tc := range []struct{ method, path, allow string }{
			{"DELETE", "/small.txt", "GET, HEAD"},
			{"PUT", "/", "GET, HEAD"},
			{"POST", "/small.txt", "GET, HEAD"},
			{"GET", "/echo", "POST"},
		} {
			r := do(t, tc.method, tc.path, strings.NewReader("x"))
			assert.Equal(t, http.StatusMethodNotAllowed, r.StatusCode, "%s %s", tc.method, tc.path)
			assert.Equal(t, tc.allow, r.Header.Get("Allow"))
		}
	})

	t.Run("echo", func(t *testing.T) {
		for _, n := range []int{0, 1, 5000, 300 << 10, maxBody} {
			body := fx.big[:n]
			r := do(t, "POST", "/echo", bytes.NewReader(body), "Content-Type", "application/x-test")
			assert.Equal(t, http.StatusOK, r.StatusCode)
			assert.True(t, bytes.Equal(body, r.body), "echo of %d bytes: got %d", n, len(r.body))
			assert.Equal(t, "application/x-test", r.Header.Get("Content-Type"))
		}
		// With "Expect: 100-continue" the client waits for the go-ahead.
		r := do(t, "POST", "/echo", strings.NewReader("after continue"), "Expect", "100-continue")
		assert.Equal(t, "after continue", string(r.body))
	})

	t.Run("413", func(t *testing.T) {
		// The client waits for 100 Continue, gets 413 instead, and never
		// sends the body.
		r := do(t, "POST", "/echo", bytes.NewReader(fx.big[:maxBody+1]), "Expect", "100-continue")
		assert.Equal(t, http.StatusRequestEntityTooLarge, r.StatusCode)
		assert.True(t, r.Close, "Connection: close")
	})
}

// testRaw sends what net/http's client would not: pipelined, malformed and
// hostile requests.
func testRaw(t *testing.T, addr string, fx fixture) {
	t.Run("pipelining", func(t *testing.T) {
		c := dialRaw(t, addr)
		// Four requests, one with a body, in one write.
		c.send(t, get("GET", "/small.txt")+
			"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\n\r\nping"+
			get("HEAD", "/index.html")+
			get("GET", "/sub/"))
		for _, want := range []struct{ method, body string }{
			{"GET", "small file\n"},
			{"POST", "ping"},
			{"HEAD", ""},
			{"GET", "<h1>sub</h1>\n"},
		} {
			r := c.read(t, want.method)
			assert.Equal(t, http.StatusOK, r.StatusCode)
			assert.Equal(t, want.body, string(r.body))
		}

		// Many at once, interleaving small and large replies.
		var reqs strings.Builder
		n := testutil.Rounds(20, 50)
		for i := range n {
			if i%10 == 0 {
				reqs.WriteString(get("GET", "/big.bin"))
			} else {
				reqs.WriteString(get("GET", "/small.txt?"+strconv.Itoa(i)))
			}
		}
		go func() { _, _ = io.WriteString(c, reqs.String()) }()
		for i := range n {
			r := c.read(t, "GET")
			require.NoError(t, r.err)
			if i%10 == 0 {
				assert.True(t, bytes.Equal(fx.big, r.body), "reply %d", i)
			} else {
				assert.Equal(t, "small file\n", string(r.body), "reply %d", i)
			}
		}
		// Stray empty lines between requests are ignored.
		c.send(t, "\r\n"+get("GET", "/small.txt"))
		assert.Equal(t, "small file\n", string(c.read(t, "GET").body))
	})

	t.Run("errors", func(t *testing.T) {
		long := strings.Repeat("a", maxTarget+1)
		for _, tc := range []struct {
			name, req string
			want      int
		}{
			{"garbage", "GARBAGE\r\n\r\n", 400},
			{"HTTP/0.9", "GET /\r\n\r\n", 400},
			{"two spaces", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
			{"bad version", "GET / HTTP/one\r\nHost: x\r\n\r\n", 400},
			{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
			{"two Hosts", get("GET", "/", "Host: again"), 400},
			{"no colon", get("GET", "/", "Bad Header"), 400},
			{"space before colon", get("GET", "/", "Bad : x"), 400},
			{"folded", get("GET", "/", "X-A: a", " folded"), 400},
			{"bare CR", get("GET", "/", "X-A: a\rb"), 400},
			{"bad length", get("POST", "/echo", "Content-Length: ten"), 400},
			{"negative length", get("POST", "/echo", "Content-Length: -1"), 400},
			{"two lengths", get("POST", "/echo", "Content-Length: 1", "Content-Length: 2"), 400},
			{"asterisk", get("OPTIONS", "*"), 400},
			{"414", get("GET", "/"+long), 414},
			{"431", get("GET", "/", "X-Long: "+strings.Repeat("b", maxHead)), 431},
			{"431 many fields", get("GET", "/", strings.Repeat("X-Many: field\r\n", 6000)[:6000*15-2]), 431},
			{"505 HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
			{"505 HTTP/1.2", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505},
			{"501 chunked", get("POST", "/echo", "Transfer-Encoding: chunked"), 501},
			{"413", get("POST", "/echo", "Content-Length: "+strconv.Itoa(maxBody+1)), 413},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := dialRaw(t, addr)
				// Something follows the bad request: it must not be answered.
				c.send(t, tc.req+get("GET", "/small.txt"))
				r := c.read(t, "GET")
				assert.Equal(t, tc.want, r.StatusCode)
				assert.True(t, r.Close, "Connection: close")
				assert.Equal(t, fmt.Sprintf("%d %s\n", tc.want, http.StatusText(tc.want)), string(r.body))
				assert.True(t, c.closed(t), "the server should close after %d", tc.want)
			})
		}
	})

	t.Run("traversal", func(t *testing.T) {
		for _, target := range []string{
			"/../secret.txt",
			"/%2e%2e/secret.txt",
			"/%2E%2E%2Fsecret.txt",
			"/sub/../../secret.txt",
			"/sub/%2e%2e/%2e%2e/secret.txt",
			"/..%2fsecret.txt",
			"/./../secret.txt",
			"http://test/../secret.txt",
			"/link-out",
			"/dir-out/secret.txt",
			"//secret.txt",
			"/%00/secret.txt",
			"/..",
			"..",
		} {
			c := dialRaw(t, addr)
			c.send(t, get("GET", target))
			r := c.read(t, "GET")
			assert.Contains(t, []int{400, 404}, r.StatusCode, target)
			assert.NotContains(t, string(r.body), secretText, target)
		}
	})

	t.Run("Connection: close", func(t *testing.T) {
		c := dialRaw(t, addr)
		c.send(t, get("GET", "/small.txt", "Connection: close"))
		r := c.read(t, "GET")
		assert.Equal(t, "small file\n", string(r.body))
		assert.True(t, r.Close, "Connection: close")
		assert.True(t, c.closed(t))

		// Also when the reply is a large file: it is written in full first.
		c = dialRaw(t, addr)
		c.send(t, get("GET", "/big.bin", "Connection: Keep-Alive, close"))
		r = c.read(t, "GET")
		assert.NoError(t, r.err)
		assert.True(t, bytes.Equal(fx.big, r.body))
		assert.True(t, c.closed(t))
	})

	t.Run("HTTP/1.0", func(t *testing.T) {
		// No keep-alive: the server closes after the reply. No Host needed.
		c := dialRaw(t, addr)
		c.send(t, "GET /small.txt HTTP/1.0\r\n\r\n")
		r := c.read(t, "GET")
		assert.Equal(t, "small file\n", string(r.body))
		assert.True(t, c.closed(t))

		// With keep-alive, as ab -k asks: the reply says so and the
		// connection serves a second request.
		c = dialRaw(t, addr)
		for range 2 {
			c.send(t, "GET /small.txt HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
			r = c.read(t, "GET")
			assert.Equal(t, "small file\n", string(r.body))
			assert.Equal(t, "keep-alive", r.Header.Get("Connection"))
		}
	})

	t.Run("half-close", func(t *testing.T) {
		// A client that shuts down its sending side after its requests
		// (nc -N) still gets every reply.
		c := dialRaw(t, addr)
		c.send(t, get("GET", "/big.bin")+get("GET", "/small.txt"))
		require.NoError(t, c.Conn.(*net.TCPConn).CloseWrite())
		assert.True(t, bytes.Equal(fx.big, c.read(t, "GET").body))
		assert.Equal(t, "small file\n", string(c.read(t, "GET").body))
		assert.True(t, c.closed(t))
	})
}

// testBodyRace changes files between the request and the reading of their
// body, which is done only when the output queue reaches them. A file that
// grew is sent at the announced length; one that shrank ends the connection
// after what it still has.
func testBodyRace(t *testing.T, addr string, fx fixture) {
	grow := filepath.Join(fx.root, "grow.txt")
	shrink := filepath.Join(fx.root, "shrink.txt")
	original := bytes.Repeat([]byte("0123456789"), 10000)
	require.NoError(t, os.WriteFile(grow, original, 0o644))
	require.NoError(t, os.WriteFile(shrink, original, 0o644))
	defer os.Remove(grow)
	defer os.Remove(shrink)

	c := dialRaw(t, addr)
	// A fixed receive buffer turns off its autotuning: the socket buffers
	// on both sides cannot hold the 5 MiB that the server must write before
	// it opens the next file.
	require.NoError(t, c.Conn.(*net.TCPConn).SetReadBuffer(64<<10))
	c.send(t, get("GET", "/big.bin")+get("GET", "/grow.txt")+get("GET", "/shrink.txt"))
	// The head of the first reply proves all three requests were parsed
	// (they came in one read), and 5 MiB of body in the way keeps the
	// server from opening the other files until we read it.
	first, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
	require.NoError(t, err)
	f, err := os.OpenFile(grow, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("extra bytes that were not announced")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.Truncate(shrink, 10))

	body, err := io.ReadAll(first.Body)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(fx.big, body))
	r := c.read(t, "GET")
	assert.NoError(t, r.err)
	assert.Equal(t, original, r.body, "a file that grew is sent at its announced length")
	r = c.read(t, "GET")
	assert.Equal(t, int64(len(original)), r.ContentLength)
	assert.ErrorIs(t, r.err, io.ErrUnexpectedEOF, "a file that shrank ends the connection")
	assert.Equal(t, original[:10], r.body)
}

// TestServeErrors checks that set-up errors are returned, not hidden, and
// that a context cancelled before the loop starts still stops it.
func TestServeErrors(t *testing.T) {
	root := t.TempDir()
	testutil.ServeCancelled(t, onLoopback(root, 0))

	assert.Error(t, serve(context.Background(), "127.0.0.1:notaport", root, 0, options{cache: defaultCacheOptions}, nil))
	assert.Error(t, serve(context.Background(), "127.0.0.1:0", filepath.Join(root, "missing"), 0, options{cache: defaultCacheOptions}, nil))
	file := filepath.Join(root, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	assert.Error(t, serve(context.Background(), "127.0.0.1:0", file, 0, options{cache: defaultCacheOptions}, nil), "root is a file")
	assert.Error(t, serve(context.Background(), testutil.BusyAddr(t), root, 0, options{cache: defaultCacheOptions}, nil), "port in use")
}

// TestParseRequest covers the parser on its own, including what the
// server-level tests cannot see.
func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		name, head string
		status     int
		check      func(t *testing.T, r request)
	}{
		{"minimal 1.1", "GET / HTTP/1.1\r\nHost: x", 0, func(t *testing.T, r request) {
			assert.Equal(t, "GET", r.method)
			assert.Equal(t, "/", string(r.path))
			assert.Equal(t, 1, r.minor)
			assert.True(t, r.keepAlive)
		}},
		{"1.0 closes", "GET /a HTTP/1.0", 0, func(t *testing.T, r request) {
			assert.False(t, r.keepAlive)
		}},
		{"1.0 keep-alive", "GET /a HTTP/1.0\r\nconnection: Keep-Alive", 0, func(t *testing.T, r request) {
			assert.True(t, r.keepAlive)
		}},
		{"close token", "GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade,  CLOSE ", 0, func(t *testing.T, r request) {
			assert.False(t, r.keepAlive)
		}},
		{"leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: x", 0, func(t *testing.T, r request) {
			assert.Equal(t, "GET", r.method)
		}},
		{"only empty lines", "\r\n", 0, func(t *testing.T, r request) {
			assert.Empty(t, r.method)
		}},
		{"fields", "POST /e?q=1 HTTP/1.1\r\nHOST:x\r\ncontent-length:\t12 \r\nContent-Length: 12\r\nContent-Type: text/x\r\nExpect: 100-Continue\r\nIf-Modified-Since: " + mtimeHTTP, 0,
			func(t *testing.T, r request) {
				assert.Equal(t, "/e", string(r.path))
				assert.Equal(t, "/e?q=1", string(r.target))
				assert.Equal(t, int64(12), r.contentLength)
				assert.Equal(t, "text/x", r.contentType)
				assert.True(t, r.expectContinue)
				assert.True(t, r.ifModifiedSince.Equal(mtime.Truncate(time.Second)))
			}},
		{"absolute form", "GET http://x/a/./b/?y HTTP/1.1\r\nHost: x", 0, func(t *testing.T, r request) {
			assert.Equal(t, "/a/b/", string(r.path))
		}},
		{"escaped", "GET /a%20b/%41 HTTP/1.1\r\nHost: x", 0, func(t *testing.T, r request) {
			assert.Equal(t, "/a b/A", string(r.path))
		}},
		{"bad escape", "GET /%zz HTTP/1.1\r\nHost: x", 400, nil},
		{"plus length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1", 400, nil},
		{"lowercase method is a token", "get / HTTP/1.1\r\nHost: x", 0, nil},
		{"method not a token", "G(T / HTTP/1.1\r\nHost: x", 400, nil},
		{"space in target", "GET /a b HTTP/1.1\r\nHost: x", 400, nil},
		{"bare LF in field", "GET / HTTP/1.1\r\nHost: x\nX: y", 400, nil},
		{"NUL in field", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b", 400, nil},
		{"version case", "GET / http/1.1\r\nHost: x", 400, nil},
		{"HTTP/10.0", "GET / HTTP/10.0\r\nHost: x", 400, nil},
		{"HTTP/3.0", "GET / HTTP/3.0\r\nHost: x", 505, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, status := parseRequest([]byte(tc.head))
			assert.Equal(t, tc.status, status)
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// testStats reads GET /_stats twice: the JSON is the loop's Stats and the
// map's connection counters, and the counters move by what the requests in
// between did.
func testStats(t *testing.T, client *http.Client, base string) {
	read := func() statsReply {
		t.Helper()
		resp, err := client.Get(base + "/_stats")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		var st statsReply
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
		return st
	}
	before := read()
	resp, err := client.Get(base + "/small.txt")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	after := read()
	assert.Positive(t, after.Conns)
	assert.Positive(t, after.Accepted)
	assert.Greater(t, after.BytesIn, before.BytesIn)
	assert.Greater(t, after.BytesOut, before.BytesOut)
	assert.Greater(t, after.Events, before.Events)
	assert.Zero(t, after.Panics)
}

// TestTargetPathBytes: the fast path for clean targets (a view of the
// head) gives what targetPath gives, on the edges of "clean".
func TestTargetPathBytes(t *testing.T) {
	for _, target := range []string{
		"/", "/a", "/a/", "/a/b", "/a/b/", "/?", "/?x=/../y", "/a?b", "/.a", "/a.", "/..a", "/a..", "/...",
		"/.", "/./", "/..", "/../", "/a/.", "/a/./b", "/a/..", "//", "/a//b", "//a", "/a%2fb", "/%2e%2e/",
		"http://h/a", "*", "a", "", "/a\x00b",
	} {
		want, wantOK := targetPath(target)
		got, ok := targetPathBytes([]byte(target))
		assert.Equal(t, wantOK, ok, target)
		if ok {
			assert.Equal(t, want, string(got), target)
		}
	}
}
