package chat_test

import (
	"testing"
	"unsafe"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/stretchr/testify/assert"
)

// TestAsyncChatSize bounds what one idle AsyncChat costs before it holds
// any data: 576 bytes is a Go allocation size class, and a byte over it
// costs 64 more per connection (issue 14's idle target: at most 1 KiB per
// idle README-style line echo, its address and timer included). One word
// of the class is left: the next field after that belongs behind a pointer.
func TestAsyncChatSize(t *testing.T) {
	s := unsafe.Sizeof(chat.AsyncChat{})
	t.Logf("AsyncChat %d bytes", s)
	assert.LessOrEqual(t, s, uintptr(576))
}
