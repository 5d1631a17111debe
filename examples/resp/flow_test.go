package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
)

// forFirstBackend runs f on the first backend only, and on every backend in
// the long runs (testutil.Long). It is for the tests that move values of
// the largest size the server takes: what they check (framing, flow
// control, sharing and releasing buffers) is the server's and the chat's
// code above the poller, the same on every backend, and each run costs
// seconds under the race detector.
func forFirstBackend(t *testing.T, f func(t *testing.T, kind poller.Kind)) {
	t.Helper()
	first := true
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		if !first && !testutil.Long() {
			t.Skip("the same code as on the first backend; every backend runs in the long runs")
		}
		first = false
		f(t, kind)
	})
}

// TestPipelinedLargeGets sends five GETs of the largest value the server
// stores in one write. Their replies together are over the chat's
// OutLimit, but each is under it: all five must arrive, as redis-server
// delivers them, because the server frames the next request only once the
// replies queued before it have drained below the high-water mark.
func TestPipelinedLargeGets(t *testing.T) {
	const gets = 5
	val := strings.Repeat("v", maxMessage-3) + "!"
	require.Greater(t, gets*len(val), chat.DefaultOutLimit, "the replies together must be over OutLimit")
	forFirstBackend(t, func(t *testing.T, kind poller.Kind) {
		addr := start(t, kind)
		rc := dial(t, addr)
		send(t, rc, encode("SET", "big", val))
		require.Equal(t, status("OK"), rc.read())

		rc.write([]byte(strings.Repeat(string(encode("GET", "big")), gets)))
		for i := range gets {
			got := rc.read()
			require.True(t, got == val, "reply %d: %.40v", i, got)
		}
		assert.Equal(t, status("PONG"), rc.do("PING"))
	})
}

// TestUnreadPipelineBounded has a client pipeline GETs of a 16 KiB value
// and not read the replies: 4,000 of them, 64 MiB of replies, twice the
// chat's OutLimit. While it does not read, what the server queues for it
// (CLIENT LIST's omem, asked on another connection) must stay within the
// chat's OutHighWater and one reply — the server stops taking requests
// from a client that does not take its replies — and the connection must
// stay open. Once the client reads, every reply arrives, in order.
func TestUnreadPipelineBounded(t *testing.T) {
	const (
		gets    = 4000
		samples = 50
	)
	val := strings.Repeat("u", 16<<10)
	reply := len("$" + strconv.Itoa(len(val)) + "\r\n" + val + "\r\n")
	bound := chat.DefaultOutHighWater + reply
	forFirstBackend(t, func(t *testing.T, kind poller.Kind) {
		addr := start(t, kind)
		observer := dial(t, addr)
		require.Equal(t, status("OK"), observer.do("SET", "u", val))

		flood := dial(t, addr)
		id, ok := flood.do("CLIENT", "ID").(int64)
		require.True(t, ok)
		send(t, flood, []byte(strings.Repeat(string(encode("GET", "u")), gets)))

		// Wait until the server has queued output it cannot write: the
		// client's socket buffers are full. The count bounds a server that
		// never queues that much (a test that would otherwise spin).
		for polls := 0; ; polls++ {
			require.Less(t, polls, 100_000, "the server never queued more than half the high-water mark")
			omem := clientField(t, observer, id, "omem")
			require.LessOrEqual(t, omem, bound, "bytes queued for a client that does not read")
			if omem > chat.DefaultOutHighWater/2 {
				break
			}
		}
		for range samples {
			omem := clientField(t, observer, id, "omem")
			require.LessOrEqual(t, omem, bound, "bytes queued for a client that does not read")
		}
		info, _ := observer.do("INFO", "stats").(string)
		assert.Contains(t, info, "\r\nlimit_disconnections:0\r\n")

		for i := range gets {
			got := flood.read()
			require.True(t, got == val, "reply %d: %.40v", i, got)
		}
		assert.Equal(t, status("PONG"), flood.do("PING"))
	})
}
