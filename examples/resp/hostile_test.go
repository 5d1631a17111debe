package main

// F9 (announced-length, docs/failure-modes.md) at the level of a real protocol:
// lengths a client announces must not decide what the server allocates.

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
)

// TestHugeLengthFields sends requests whose count or length fields claim
// up to a trillion elements or bytes. Each is refused with a protocol error
// and the connection closed, or — for a length the server would accept —
// waited for, without ever allocating what was claimed: the process
// allocates less than 1 MiB per request. Another client's PING is answered
// after each, and while the server waits for a claimed body.
func TestHugeLengthFields(t *testing.T) {
	const maxAlloc = 1 << 20
	refused := []struct {
		name, in, want string
	}{
		{"a trillion arguments", "*1000000000000\r\n", "invalid multibulk length"},
		{"a trillion-byte argument", "*1\r\n$999999999999\r\n", "invalid bulk length"},
		{"a 2 GB SET value", "*2\r\n$3\r\nSET\r\n$2000000000\r\n", "invalid bulk length"},
		{"a value at proto-max-bulk-len", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$" + strconv.Itoa(maxBulk) + "\r\n", "invalid bulk length"},
	}
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr := start(t, kind)
		other := dial(t, addr)
		require.Equal(t, status("PONG"), other.do("PING"))
		// Warm up: the first connections' buffers, the pools.
		for range 3 {
			protocolError(t, addr, []byte(refused[0].in))
		}

		for _, tc := range refused {
			t.Run(tc.name, func(t *testing.T) {
				before := testutil.Allocated()
				got := protocolError(t, addr, []byte(tc.in))
				grew := testutil.Allocated() - before
				assert.Equal(t, "-ERR Protocol error: "+tc.want+"\r\n", got)
				assert.Less(t, grew, uint64(maxAlloc), "bytes allocated for %q", tc.in)
				assert.Equal(t, status("PONG"), other.do("PING"), "another client")
				t.Logf("%d bytes allocated", grew)
			})
		}

		t.Run("a trillion-byte inline command", func(t *testing.T) {
			// Without '*' the line is an inline command: the name of an
			// unknown one, not a length; the connection stays usable.
			rc := dial(t, addr)
			before := testutil.Allocated()
			rc.write([]byte("$999999999999\r\n"))
			reply := rc.read()
			grew := testutil.Allocated() - before
			require.IsType(t, respError(""), reply)
			assert.True(t, strings.HasPrefix(string(reply.(respError)), "ERR unknown command '$999999999999'"), "%v", reply)
			assert.Less(t, grew, uint64(maxAlloc))
			assert.Equal(t, status("PONG"), rc.do("PING"))
			assert.Equal(t, status("PONG"), other.do("PING"), "another client")
		})

		t.Run("a claimed value that never comes", func(t *testing.T) {
			// 8 MB less one is within MaxMessage: the server waits for the
			// value, holding only what has arrived.
			rc := dial(t, addr)
			before := testutil.Allocated()
			rc.write([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$" + strconv.Itoa(maxMessage-3) + "\r\nabc"))
			// The request is readable before the first PING is sent, so
			// the batch that answers that PING, or the one before, reads
			// it too; by the second answer it has been handled.
			assert.Equal(t, status("PONG"), other.do("PING"), "another client")
			assert.Equal(t, status("PONG"), other.do("PING"), "another client")
			grew := testutil.Allocated() - before
			assert.Less(t, grew, uint64(maxAlloc), "bytes allocated while waiting for the value")
			t.Logf("%d bytes allocated while waiting", grew)
			require.NoError(t, rc.conn.Close())
			assert.Equal(t, status("PONG"), other.do("PING"), "another client")
		})
	})
}
