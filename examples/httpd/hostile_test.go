package main

// F9 (announced-length) and F8 (unbounded-line, docs/failure-modes.md) at the
// level of a real protocol: a length the client announces, or a header line
// without end, must not decide what the server allocates.

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
)

// TestHugeContentLength: a Content-Length of 10^15 is refused with 413 and
// a header line longer than the server's limit, still being sent, with
// 431; either way the connection is closed after the reply, the process
// allocates less than 1 MiB for it (the long line's own bytes included),
// and a keep-alive client of the same server is served before, between and
// after.
func TestHugeContentLength(t *testing.T) {
	const maxAlloc = 1 << 20
	fx := makeRoot(t)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		bound, _ := testutil.Serve(t, onLoopback(fx.root, kind))
		addr := bound.String()
		other := dialRaw(t, addr)
		served := func() {
			t.Helper()
			other.send(t, get("GET", "/small.txt"))
			r := other.read(t, "GET")
			assert.Equal(t, http.StatusOK, r.StatusCode, "another client")
			assert.Equal(t, "small file\n", string(r.body), "another client")
		}
		served()
		// Warm up: the first connections' buffers, the pools.
		for range 3 {
			c := dialRaw(t, addr)
			c.send(t, get("POST", "/echo", "Content-Length: 1000000000000000"))
			c.read(t, "POST")
		}

		t.Run("Content-Length 10^15", func(t *testing.T) {
			c := dialRaw(t, addr)
			before := testutil.Allocated()
			c.send(t, get("POST", "/echo", "Content-Length: 1000000000000000"))
			r := c.read(t, "POST")
			grew := testutil.Allocated() - before
			assert.Equal(t, http.StatusRequestEntityTooLarge, r.StatusCode)
			assert.True(t, r.Close, "Connection: close")
			assert.True(t, c.closed(t), "the server should close after 413")
			assert.Less(t, grew, uint64(maxAlloc), "bytes allocated")
			t.Logf("%d bytes allocated", grew)
			served()
		})

		t.Run("header line over the limit", func(t *testing.T) {
			c := dialRaw(t, addr)
			line := "GET / HTTP/1.1\r\nHost: test\r\nX-Long: " + strings.Repeat("b", 4*maxHead)
			before := testutil.Allocated()
			// The line has no end, and the server stops reading it: write
			// on a goroutine, whose write fails once the server closes.
			wrote := make(chan error, 1)
			go func() {
				_, err := io.WriteString(c, line)
				wrote <- err
			}()
			r := c.read(t, "GET")
			assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, r.StatusCode)
			assert.True(t, r.Close, "Connection: close")
			assert.Equal(t, fmt.Sprintf("%d %s\n", r.StatusCode, http.StatusText(r.StatusCode)), string(r.body))
			assert.True(t, c.closed(t), "the server should close after 431")
			<-wrote
			grew := testutil.Allocated() - before
			assert.Less(t, grew, uint64(maxAlloc), "bytes allocated, the line included")
			t.Logf("%d bytes allocated for a %d KiB line", grew, len(line)>>10)
			served()
		})
		served()
		require.NoError(t, other.Close())
	})
}
