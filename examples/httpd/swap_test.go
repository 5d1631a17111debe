package main

// A file is checked when its request arrives and read when the output
// queue reaches it, which for a slow reader can be much later. Whatever is
// put in its place meanwhile — a FIFO, whose opening for reading waits for
// a writer, or a symbolic link to a file outside the root — must neither
// block the server nor be served.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
)

// unblockFIFOs opens, without blocking, the writing end of every FIFO in
// names that a reader has open: a server stuck opening one for reading
// returns from its open. It is a test's last resort, so that a failing
// test does not leave a loop goroutine blocked for good.
func unblockFIFOs(names []string) {
	for _, n := range names {
		if fd, err := unix.Open(n, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
			_ = unix.Close(fd)
		}
	}
}

// TestSpecialFiles: a FIFO in the root, and a symbolic link to one, are
// answered with 404 at once, and the server goes on serving.
func TestSpecialFiles(t *testing.T) {
	fx := makeRoot(t)
	fifo := filepath.Join(fx.root, "fifo")
	require.NoError(t, unix.Mkfifo(fifo, 0o644))
	require.NoError(t, os.Symlink("fifo", filepath.Join(fx.root, "link-fifo")))
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		bound, _ := testutil.Serve(t, onLoopback(fx.root, kind))
		t.Cleanup(func() { unblockFIFOs([]string{fifo}) })
		c := dialRaw(t, bound.String())
		c.send(t, get("GET", "/fifo")+get("HEAD", "/fifo")+get("GET", "/link-fifo")+get("GET", "/small.txt"))
		assert.Equal(t, http.StatusNotFound, c.read(t, "GET").StatusCode)
		assert.Equal(t, http.StatusNotFound, c.read(t, "HEAD").StatusCode)
		assert.Equal(t, http.StatusNotFound, c.read(t, "GET").StatusCode)
		assert.Equal(t, "small file\n", string(c.read(t, "GET").body))
	})
}

// TestSwapWhileDraining pipelines a 5 MiB file and then GETs of ten
// regular files on a connection with a small receive buffer, so the server
// is still writing the big reply when the ten files are replaced: the odd
// ones by FIFOs, the even ones by symbolic links to a file outside the root.
// The server must not block (another client is served), must never send
// the outside file, and must either send each reply as the file was when
// its request arrived or end the connection (a body cut short): it may not
// open ten descriptors for one connection, so it opens some files again
// later, and finds them changed.
func TestSwapWhileDraining(t *testing.T) {
	fx := makeRoot(t)
	secret := filepath.Join(filepath.Dir(fx.root), "secret.txt")
	first := true
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		// What is checked is the server's file handling, the same on every
		// backend, behind 5 MiB that cost seconds under the race detector:
		// one backend, and every backend in the long runs (testutil.Long).
		if !first && !testutil.Long() {
			t.Skip("the same code as on the first backend; every backend runs in the long runs")
		}
		first = false
		bound, _ := testutil.Serve(t, onLoopbackCache(fx.root, kind, cacheOptions{TTL: -1}))
		addr := bound.String()
		const n = 10
		var names, fifos []string
		var reqs strings.Builder
		reqs.WriteString(get("GET", "/big.bin"))
		for i := range n {
			name := filepath.Join(fx.root, fmt.Sprintf("swap%d.txt", i))
			_ = os.Remove(name) // a FIFO left by the last backend's run
			require.NoError(t, os.WriteFile(name, []byte(fmt.Sprintf("original %d\n", i)), 0o644))
			names = append(names, name)
			reqs.WriteString(get("GET", fmt.Sprintf("/swap%d.txt", i)))
		}
		t.Cleanup(func() { unblockFIFOs(fifos) })

		c := dialRaw(t, addr)
		require.NoError(t, c.Conn.(*net.TCPConn).SetReadBuffer(16<<10))
		c.send(t, reqs.String())
		// The head of the first reply: every request was read (one write,
		// one read), and 5 MiB of body keeps the server from reaching the
		// others until the client reads it.
		first, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
		require.NoError(t, err)
		for i, name := range names {
			require.NoError(t, os.Remove(name))
			if i%2 == 1 {
				require.NoError(t, unix.Mkfifo(name, 0o644))
				fifos = append(fifos, name)
			} else {
				require.NoError(t, os.Symlink(secret, name))
			}
		}
		body, err := io.ReadAll(first.Body)
		require.NoError(t, err)
		require.True(t, bytes.Equal(fx.big, body), "the big reply")

		// The server reaches the swapped files now; it must still serve
		// another client.
		other := dialRaw(t, addr)
		other.send(t, get("GET", "/small.txt"))
		assert.Equal(t, "small file\n", string(other.read(t, "GET").body), "another client is served")

		served := 0
		for i := range n {
			resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
			if err != nil {
				break // the connection ended before this reply's head
			}
			body, err := io.ReadAll(resp.Body)
			assert.NotContains(t, string(body), secretText[:8], "reply %d", i)
			if err != nil {
				assert.True(t, errors.Is(err, io.ErrUnexpectedEOF), "reply %d: %v", i, err)
				break // cut short: the file changed before it was opened
			}
			assert.Equal(t, http.StatusOK, resp.StatusCode, "reply %d", i)
			assert.Equal(t, fmt.Sprintf("original %d\n", i), string(body), "reply %d", i)
			served++
		}
		assert.GreaterOrEqual(t, served, maxHeldFiles-1, "files held open since their request are served as they were")
		t.Logf("%d of %d swapped files served as they were", served, n)
	})
}

// TestSymlinkPolicy: symbolic links that stay in the root are followed,
// relative or absolute, through directories and "..", as before the walk
// replaced filepath.EvalSymlinks; links that leave it, and link loops, are
// a 404.
func TestSymlinkPolicy(t *testing.T) {
	fx := makeRoot(t)
	real, err := filepath.EvalSymlinks(fx.root)
	require.NoError(t, err)
	for name, target := range map[string]string{
		"abs-in":      filepath.Join(real, "small.txt"),
		"abs-dir":     filepath.Join(real, "sub"),
		"sub/up":      "../small.txt",
		"sub/updir":   "..",
		"rel-dir":     "sub",
		"loop1":       "loop2",
		"loop2":       "loop1",
		"sub/out":     "../../secret.txt",
		"abs-outside": filepath.Join(filepath.Dir(real), "secret.txt"),
		"abs-prefix":  real + "x/secret.txt",
	} {
		require.NoError(t, os.Symlink(target, filepath.Join(fx.root, filepath.FromSlash(name))))
	}
	require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(real), "rootx"), nil, 0o644))
	bound, _ := testutil.Serve(t, onLoopbackCache(fx.root, 0, cacheOptions{TTL: -1}))
	c := dialRaw(t, bound.String())
	for _, tc := range []struct {
		target string
		status int
		body   string
	}{
		{"/abs-in", 200, "small file\n"},
		{"/abs-dir/data.json", 200, `{"a": 1}`},
		{"/abs-dir/", 200, "<h1>sub</h1>\n"},
		{"/sub/up", 200, "small file\n"},
		{"/sub/updir/small.txt", 200, "small file\n"},
		{"/rel-dir/data.json", 200, `{"a": 1}`},
		{"/loop1", 404, ""},
		{"/sub/out", 404, ""},
		{"/abs-outside", 404, ""},
		{"/abs-prefix", 404, ""},
	} {
		c.send(t, get("GET", tc.target))
		r := c.read(t, "GET")
		assert.Equal(t, tc.status, r.StatusCode, tc.target)
		if tc.status == 200 {
			assert.Equal(t, tc.body, string(r.body), tc.target)
		}
		assert.NotContains(t, string(r.body), secretText[:8], tc.target)
	}
}

// TestPipelinedFilesDescriptors: a client that pipelines 200 GETs of a
// 1 MiB file (5 MiB in the long runs, testutil.Long) and reads slowly makes
// the server hold at most maxHeldFiles descriptors for it, not one per
// request; every reply is still complete. 200 MiB of replies are far more
// than the socket buffers take either way.
func TestPipelinedFilesDescriptors(t *testing.T) {
	fx := makeRoot(t)
	if !testutil.Long() {
		fx.big = fx.big[:1<<20]
		require.NoError(t, os.WriteFile(filepath.Join(fx.root, "big.bin"), fx.big, 0o644))
	}
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.WarmUp(t)
		bound, _ := testutil.Serve(t, onLoopbackCache(fx.root, kind, cacheOptions{TTL: -1}))
		base := testutil.OpenFDs()
		c := dialRaw(t, bound.String())
		require.NoError(t, c.Conn.(*net.TCPConn).SetReadBuffer(16<<10))
		const n = 200
		c.send(t, strings.Repeat(get("GET", "/big.bin"), n))
		// The first head: every request has been read and answered.
		first, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
		require.NoError(t, err)
		held := testutil.OpenFDs() - base
		t.Logf("%d descriptors more while %d replies of %d bytes are queued", held, n, len(fx.big))
		assert.LessOrEqual(t, held, maxHeldFiles+2, "descriptors (the client's and the server's sockets included)")
		body, err := io.ReadAll(first.Body)
		require.NoError(t, err)
		require.True(t, bytes.Equal(fx.big, body))
		for i := 1; i < 3; i++ {
			r := c.read(t, "GET")
			require.NoError(t, r.err)
			require.True(t, bytes.Equal(fx.big, r.body), "reply %d", i)
		}
	})
}
