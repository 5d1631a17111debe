package chat_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// allocated runs f and returns the bytes it allocated.
func allocated(f func()) uint64 {
	before := testutil.Allocated()
	f()
	return testutil.Allocated() - before
}

// TestPushSharedNoCopy: one cached 64 KiB body pushed by reference as the
// reply to 16 requests, to a peer that is not reading yet, allocates far
// less than one copy of the body (Push would copy it 16 times, 1 MiB);
// then the peer reads all 16 bodies, intact and in order, each behind its
// own copied header.
func TestPushSharedNoCopy(t *testing.T) {
	const n = 16
	body := pattern(64 << 10)
	forEachBackend(t, func(t *testing.T, e *env) {
		c := &pushChat{}
		c.Init(c, e.m)
		c.Logger = quiet
		peer := e.pair(c)
		setSndbuf(t, c.Fd(), 4096)
		heads := make([][]byte, n)
		var want bytes.Buffer
		for i := range n {
			heads[i] = []byte{'#', byte('0' + i%10), '\n'}
			want.Write(heads[i])
			want.Write(body)
		}
		grew := allocated(func() {
			for i := range n {
				c.Push(heads[i])
				c.PushShared(body)
			}
		})
		assert.Less(t, grew, uint64(len(body)), "allocated %d bytes for %d shared bodies", grew, n)
		assert.Greater(t, c.Pending(), want.Len()-64<<10, "shared bytes count in Pending")
		// The 4 KiB buffer was there to keep the bodies queued while they
		// were pushed and measured; draining 1 MiB through it would take
		// hundreds of loop turns for nothing the test checks.
		setSndbuf(t, c.Fd(), 256<<10)
		c.CloseWhenDone()
		got := e.readAll(peer)
		assert.True(t, bytes.Equal(want.Bytes(), got), "got %d bytes, want %d", len(got), want.Len())
		assert.Empty(t, c.errs)
		t.Logf("%d bodies of %d bytes queued with %d bytes allocated", n, len(body), grew)
	})
}

// TestPipelineSharedReplies: TestPipelineOverOutLimit with every reply
// pushed by reference from a cache. Shared bytes count as queued output
// for the flow control, so the queue still stops at OutHighWater plus one
// reply, and everything arrives.
func TestPipelineSharedReplies(t *testing.T) {
	const (
		n         = 64 // 1 MiB of replies, four times OutLimit
		size      = 16 << 10
		highWater = 64 << 10
	)
	cache := make([][]byte, n)
	for i := range cache {
		cache[i] = bulkReply(i, size)
	}
	forEachBackendParallel(t, func(t *testing.T, e *env) {
		c := newBulkChat(e, size)
		c.OutHighWater = highWater
		c.OutLimit = 256 << 10
		c.push = func(c *bulkChat, reply []byte) { c.PushShared(cache[c.frames-1]) }
		cli := adoptTCP(t, c)
		setSndbuf(t, c.Fd(), 16<<10) // the kernel must not absorb the queue
		r := await(e, pipeline(cli, n, true, -1))
		require.NoError(t, r.err)
		assert.NoError(t, checkReplies(r.data, n, size))
		assert.Empty(t, c.errs)
		assert.LessOrEqual(t, c.peak, highWater+size, "queue peak %d", c.peak)
		e.runUntil(func() bool { return c.Fd() < 0 })
	})
}

// TestPushString: strings, short and long, mixed with Push, PushShared and
// a producer, arrive in order; a long string is queued without a copy.
func TestPushString(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 4096) // 64 KiB
	forEachBackend(t, func(t *testing.T, e *env) {
		c := &pushChat{}
		c.Init(c, e.m)
		c.Logger = quiet
		peer := e.pair(c)
		setSndbuf(t, c.Fd(), 4096)
		var want strings.Builder
		c.PushString("+OK\r\n")
		want.WriteString("+OK\r\n")
		grew := allocated(func() {
			for range 16 {
				c.PushString(long)
			}
		})
		for range 16 {
			want.WriteString(long)
		}
		assert.Less(t, grew, uint64(len(long)), "allocated %d bytes for 16 long strings", grew)
		setSndbuf(t, c.Fd(), 256<<10) // measured: drain the rest in fewer turns
		c.PushString("")
		c.Push([]byte("push;"))
		c.PushString("string;")
		c.PushShared([]byte("shared;"))
		c.PushWithProducer(producer.SimpleProducer([]byte("produced;"), 3))
		c.PushString("end\r\n")
		want.WriteString("push;string;shared;produced;end\r\n")
		c.CloseWhenDone()
		got := e.readAll(peer)
		assert.Equal(t, want.Len(), len(got))
		assert.True(t, want.String() == string(got), "the bytes differ")
		assert.Empty(t, c.errs)
	})
}

// TestPushSharedWrittenAtOnce: on an idle connection PushShared writes what
// the socket takes at once, as Push does, and queues only the rest.
func TestPushSharedWrittenAtOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := &pushChat{}
		c.Init(c, e.m)
		c.Logger = quiet
		peer := e.pair(c)
		c.PushShared([]byte("hello\n"))
		assert.Zero(t, c.Pending())
		buf := make([]byte, 16)
		n, err := unix.Read(peer, buf)
		require.NoError(t, err)
		assert.Equal(t, "hello\n", string(buf[:n]))
	})
}
