package main

// Pipelined GETs of cached files. A reply that repeats a cached body must
// not copy it: a client that pipelines hundreds of GETs of a 64 KiB file
// must get all its replies (not a connection closed for too much queued
// output), and clients that pipeline and never read must not make the
// server hold a copy of the body per request.

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
)

// floodRoot is a document root with a 65,536-byte file (c64.bin, the
// largest the default cache keeps) and a 60,000-byte one (c60.bin).
func floodRoot(t *testing.T) (root string, c64, c60 []byte) {
	t.Helper()
	root = t.TempDir()
	c64 = make([]byte, 65536)
	c60 = make([]byte, 60000)
	_, _ = rand.Read(c64)
	_, _ = rand.Read(c60)
	require.NoError(t, os.WriteFile(filepath.Join(root, "c64.bin"), c64, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "c60.bin"), c60, 0o644))
	return root, c64, c60
}

// TestPipelinedCachedGETs: 600 pipelined GETs of a cached 64 KiB file, in
// one write, are all answered in full. Copied into the output queue, their
// bodies came to 39 MB, over the chat's OutLimit (32 MiB): the connection
// was closed before anything was sent.
func TestPipelinedCachedGETs(t *testing.T) {
	root, c64, _ := floodRoot(t)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		bound, _ := testutil.Serve(t, onLoopback(root, kind))
		c := dialRaw(t, bound.String())
		require.NoError(t, c.SetDeadline(time.Now().Add(60*time.Second)))
		const n = 600
		reqs := strings.Repeat("GET /c64.bin HTTP/1.1\r\nHost: x\r\n\r\n", n)
		go func() { _, _ = io.WriteString(c, reqs) }()
		for i := range n {
			resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
			require.NoError(t, err, "reply %d of %d", i+1, n)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err, "body %d of %d", i+1, n)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.True(t, bytes.Equal(c64, body), "body %d of %d: %d bytes", i+1, n, len(body))
		}
	})
}

// TestPipelineFloodMemory: clients that each write 500 pipelined GETs of a
// cached 60,000-byte file and never read make the server queue 500 replies
// per connection. What those replies hold in memory (the loop's
// OutBuffered, which counts the bytes queued) must stay within the chat's
// high-water mark plus one reply per connection — the body is queued by
// reference, not copied per reply — and another client is still served.
func TestPipelineFloodMemory(t *testing.T) {
	root, _, c60 := floodRoot(t)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		bound, _ := testutil.Serve(t, onLoopback(root, kind))
		addr := bound.String()
		const conns, reqs = 2, 500
		flood := strings.Repeat("GET /c60.bin HTTP/1.1\r\nHost: x\r\n\r\n", reqs)
		for range conns {
			c := dialRaw(t, addr)
			c.send(t, flood)
		}

		honest := dialRaw(t, addr)
		stats := func() loop.Stats {
			t.Helper()
			honest.send(t, get("GET", "/_stats"))
			r := honest.read(t, "GET")
			require.Equal(t, http.StatusOK, r.StatusCode)
			var st loop.Stats
			require.NoError(t, json.Unmarshal(r.body, &st))
			return st
		}
		// Wait for the server to have read every flooding request: the
		// bytes it received include them (and the stats requests).
		var st loop.Stats
		for deadline := time.Now().Add(20 * time.Second); ; {
			st = stats()
			if st.BytesIn >= uint64(conns*len(flood)) || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond) // polling a counter, not synchronising
		}
		require.GreaterOrEqual(t, st.BytesIn, uint64(conns*len(flood)), "the server read the flood")
		most := conns * (chat.DefaultOutHighWater + len(c60) + 4096)
		assert.LessOrEqual(t, st.OutBuffered, most, "bytes queued for %d never-reading clients", conns)
		t.Logf("%d bytes queued for %d clients × %d pipelined GETs", st.OutBuffered, conns, reqs)

		honest.send(t, get("GET", "/c60.bin"))
		r := honest.read(t, "GET")
		assert.Equal(t, http.StatusOK, r.StatusCode)
		assert.True(t, bytes.Equal(c60, r.body), "another client gets the file")
	})
}
