package main

import (
	"bufio"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/poller"
)

// clientField reads one numeric field of connection id's line in CLIENT
// LIST, asked on rc, or fails the test.
func clientField(t *testing.T, rc *respClient, id int64, field string) int {
	t.Helper()
	list, ok := rc.do("CLIENT", "LIST").(string)
	require.True(t, ok, "CLIENT LIST")
	sc := bufio.NewScanner(strings.NewReader(list))
	prefix := "id=" + strconv.FormatInt(id, 10) + " "
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), prefix) {
			continue
		}
		for _, kv := range strings.Fields(sc.Text()) {
			if v, ok := strings.CutPrefix(kv, field+"="); ok {
				n, err := strconv.Atoi(v)
				require.NoError(t, err, "%s", kv)
				return n
			}
		}
		require.Failf(t, "no field", "%s in %q", field, sc.Text())
	}
	require.Failf(t, "no client", "id %d in %q", id, list)
	return 0
}

// manyArgs is a DEL of n-1 empty keys: n arguments, each as small as an
// argument can be.
func manyArgs(n int) []byte {
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(n) + "\r\n$3\r\nDEL\r\n")
	b.WriteString(strings.Repeat("$0\r\n\r\n", n-1))
	return []byte(b.String())
}

// TestLargeRequestReleased sends requests that make a connection's buffers
// grow — 100,000 arguments (4 MB of bookkeeping: the effect of a million,
// at a tenth of the time under the race detector), a value of several MiB, a long inline
// command, a reply of several MiB — and checks, in CLIENT LIST's tot-mem,
// that once each is answered the connection keeps no more than a small
// bound, whichever buffer grew: one large request does not pin its memory
// for the life of an idle connection.
func TestLargeRequestReleased(t *testing.T) {
	const kept = 512 << 10 // what an idle connection may keep, at most
	big := strings.Repeat("v", 6<<20)
	requests := []struct {
		name string
		req  []byte
		want any
	}{
		{"100,000 arguments", manyArgs(100_000), int64(0)},
		{"a large value", encode("SET", "big", big), status("OK")},
		{"a long inline command", []byte("ECHO " + strings.Repeat("i", maxLine-16) + "\r\n"), strings.Repeat("i", maxLine-16)},
		{"a large reply", encode("GET", "big"), big},
		{"a large MGET", encode(append([]string{"MGET"}, strings.Split(strings.Repeat("k ", 20_000), " ")[:20_000]...)...), nil},
	}
	forFirstBackend(t, func(t *testing.T, kind poller.Kind) {
		addr := start(t, kind)
		rc := dial(t, addr)
		id, ok := rc.do("CLIENT", "ID").(int64)
		require.True(t, ok)
		idle := clientField(t, rc, id, "tot-mem")
		t.Logf("idle: tot-mem=%d", idle)
		for _, tc := range requests {
			send(t, rc, tc.req)
			got := rc.read()
			if tc.want == nil {
				assert.Len(t, got, 20_000, "%s", tc.name)
			} else {
				assert.True(t, tc.want == got, "%s: reply %.40v", tc.name, got)
			}
			mem := clientField(t, rc, id, "tot-mem")
			t.Logf("after %s: tot-mem=%d", tc.name, mem)
			assert.LessOrEqual(t, mem, kept, "bytes kept after %s", tc.name)
		}
	})
}

// TestQueryBufferLimit runs the server with -client-query-buffer-limit
// 1 MiB: a request whose arguments, with their bookkeeping, would take
// more — many small arguments or one large one — is a protocol error, and
// one within the limit is served.
func TestQueryBufferLimit(t *testing.T) {
	saved := *maxRequest
	*maxRequest = 1 << 20
	t.Cleanup(func() { *maxRequest = saved })
	addr := start(t, 0)

	const tooLarge = "-ERR Protocol error: request too large\r\n"
	assert.Equal(t, tooLarge, protocolError(t, addr, manyArgs(maxArgs)))
	assert.Equal(t, tooLarge, protocolError(t, addr, encode("SET", "k", strings.Repeat("v", 1<<20))))

	rc := dial(t, addr)
	keys := strings.Split(strings.Repeat("k ", 20_000), " ")[:20_000] // 800 KB of bookkeeping
	assert.Equal(t, int64(0), rc.do(append([]string{"DEL"}, keys...)...))
	assert.Equal(t, status("OK"), rc.do("SET", "k", strings.Repeat("v", 1<<19)))
}
