package dispatcher

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestWithSendBufferStaysBounded: a connection whose output never fully
// drains (the peer reads, but never enough to empty the queue) must not keep
// every byte it ever sent: the queue's buffer is compacted once more than
// half of it has gone (producer.FIFO), so the memory it holds follows what
// is pending, not what has passed. Measured as the live heap after a GC.
func TestWithSendBufferStaysBounded(t *testing.T) {
	pair, err := testutil.NewSocketpair()
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Close(pair[1]) })
	d := &DispatcherWithSend{}
	d.Init(d, loop.NewMap())
	require.NoError(t, d.Adopt(pair[0]))
	t.Cleanup(func() { _ = d.Close() })

	chunk := bytes.Repeat([]byte("x"), 16<<10)
	sink := make([]byte, 64<<10)
	const total = 64 << 20
	const target = 256 << 10 // keep about this much queued
	sent, maxPending := 0, 0
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for sent < total {
		for d.Pending() < target && sent < total {
			d.Send(chunk)
			sent += len(chunk)
		}
		maxPending = max(maxPending, d.Pending())
		_, _ = unix.Read(pair[1], sink) // the peer drains a little
		d.HandleWrite()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	// A queue that kept every byte would hold total (64 MiB); one that
	// follows the pending bytes holds a few times maxPending. The bound
	// leaves room for whatever else the test binary allocates meanwhile.
	assert.Less(t, grown, int64(16<<20),
		"the queue must follow the pending bytes (at most %d), not the %d sent: the live heap grew by %d", maxPending, total, grown)
	runtime.KeepAlive(d)
}
