package chat_test

import (
	"runtime"
	"testing"
	"unsafe"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/stretchr/testify/assert"
)

// heapChat is the README's line echo handler as the heap sees it: an
// AsyncChat and nothing else.
type heapChat struct{ chat.AsyncChat }

// TestAsyncChatSize bounds what one idle AsyncChat costs on the heap before
// it holds any data: one object of the 576-byte size class. An object over
// 512 bytes that holds pointers carries an 8-byte allocation header, so the
// struct itself must stay within 568 bytes; at 576 it takes the 640-byte
// class, and the idle cell measured 127 bytes more per idle line echo
// connection (issue 14's idle target: at most 1 KiB each, its address and
// timer included). The next field belongs behind a pointer, or in the
// spare bits of one already there.
func TestAsyncChatSize(t *testing.T) {
	s := unsafe.Sizeof(chat.AsyncChat{})
	t.Logf("AsyncChat %d bytes", s)
	assert.LessOrEqual(t, s, uintptr(568))

	// Other goroutines' allocations can only add to the count: the least
	// of a few tries is the chat's own.
	const n = 1000
	objs := make([]*heapChat, n)
	perObject := uint64(1 << 62)
	for range 5 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range objs {
			objs[i] = new(heapChat)
		}
		runtime.ReadMemStats(&after)
		perObject = min(perObject, (after.TotalAlloc-before.TotalAlloc)/n)
	}
	t.Logf("%d bytes allocated per AsyncChat", perObject)
	assert.LessOrEqual(t, perObject, uint64(576))
	runtime.KeepAlive(objs)
}
