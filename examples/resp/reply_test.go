package main

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/poller"
)

// TestHugeReplyBounded asks for one reply far larger than the chat's
// OutLimit — an MGET that names a 1 MiB value 300 times, 300 MiB of reply
// for 3 KiB of request — and checks that the server does not build it:
// the connection is closed once what is queued goes past OutLimit, as the
// chat closes any client over it, and the server has allocated far less
// than the reply's size. Another client is served meanwhile and after.
func TestHugeReplyBounded(t *testing.T) {
	const (
		times    = 300
		maxAlloc = 3 * chat.DefaultOutLimit
	)
	val := strings.Repeat("m", 1<<20)
	testutil.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr := start(t, kind)
		other := dial(t, addr)
		send(t, other, encode("SET", "m", val))
		require.Equal(t, status("OK"), other.read())

		args := append([]string{"MGET"}, strings.Split(strings.Repeat("m ", times), " ")[:times]...)
		before := testutil.Allocated()
		rc := dial(t, addr)
		rc.write(encode(args...))
		got, err := io.Copy(io.Discard, rc.r)
		grew := testutil.Allocated() - before
		t.Logf("%d bytes received before the close, %d bytes allocated", got, grew)
		assert.NoError(t, err, "the server should close the connection")
		assert.Less(t, got, int64(times<<20), "the whole reply was sent")
		assert.Less(t, grew, uint64(maxAlloc), "bytes allocated for one oversized reply")
		info, _ := other.do("INFO", "stats").(string)
		assert.Contains(t, info, "\r\nlimit_disconnections:1\r\n")
		assert.Equal(t, status("PONG"), other.do("PING"))
	})
}
