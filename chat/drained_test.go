package chat_test

import (
	"bytes"
	"testing"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// drainChat counts HandleDrained calls and checks that each comes with
// nothing queued; next, if set, runs inside HandleDrained.
type drainChat struct {
	chat.AsyncChat
	t       *testing.T
	drained int
	next    func(c *drainChat)
	frames  int
}

func newDrainChat(t *testing.T, e *env) *drainChat {
	c := &drainChat{t: t}
	c.Init(c, e.m)
	c.Logger = quiet
	c.SetTerminator(chat.DelimiterString("\n"))
	return c
}

func (c *drainChat) HandleDrained() {
	c.drained++
	if c.Pending() != 0 || c.Writable() {
		c.t.Errorf("HandleDrained with %d bytes queued (Writable %v)", c.Pending(), c.Writable())
	}
	if c.next != nil {
		c.next(c)
	}
}

func (c *drainChat) FoundTerminator() {
	c.TakeData()
	c.frames++
	c.Push([]byte("+OK\n"))
}

// TestHandleDrained: an AsyncChat whose embedding type has HandleDrained
// hears once each time its queued output has all been written: after a
// large Push the peer reads, after the replies to a read, after a
// producer ends. A Push written at once queued nothing and calls nothing;
// a CloseWhenDone or DiscardBuffers is not a drain.
func TestHandleDrained(t *testing.T) {
	// 256 KiB is 64 times the 4 KiB send buffer the subtests set: plenty
	// to stay queued, without pushing megabytes through it.
	big := pattern(256 << 10)
	forEachBackendParallel(t, func(t *testing.T, e *env) {
		e.run("large push", func(t *testing.T, e *env) {
			c := newDrainChat(t, e)
			peer := e.pair(c)
			setSndbuf(t, c.Fd(), 4096)
			c.Push(big)
			require.Positive(t, c.Pending())
			got, _ := e.readN(peer, len(big))
			assert.True(t, bytes.Equal(big, got))
			e.runUntil(func() bool { return c.drained > 0 })
			e.runFor(5)
			assert.Equal(t, 1, c.drained)
			_ = c.Close()
		})
		e.run("written at once", func(t *testing.T, e *env) {
			c := newDrainChat(t, e)
			peer := e.pair(c)
			c.Push([]byte("hello\n"))
			assert.Zero(t, c.Pending())
			got, _ := e.readN(peer, 6)
			assert.Equal(t, "hello\n", string(got))
			e.runFor(5)
			assert.Zero(t, c.drained, "nothing was queued")
			_ = c.Close()
		})
		e.run("replies to a read", func(t *testing.T, e *env) {
			c := newDrainChat(t, e)
			peer := e.pair(c)
			e.write(peer, []byte("a\nb\nc\n"))
			got, _ := e.readN(peer, 12)
			assert.Equal(t, "+OK\n+OK\n+OK\n", string(got))
			e.runUntil(func() bool { return c.drained > 0 })
			assert.Equal(t, 1, c.drained, "one drain for the replies of one read")
			_ = c.Close()
		})
		e.run("producer", func(t *testing.T, e *env) {
			c := newDrainChat(t, e)
			peer := e.pair(c)
			setSndbuf(t, c.Fd(), 4096)
			c.PushWithProducer(producer.SimpleProducer(big, 65536))
			got, _ := e.readN(peer, len(big))
			assert.True(t, bytes.Equal(big, got))
			e.runUntil(func() bool { return c.drained > 0 })
			e.runFor(5)
			assert.Equal(t, 1, c.drained)
			_ = c.Close()
		})
		e.run("chained", func(t *testing.T, e *env) {
			// The use it is for: push the next block once the last is out.
			const blocks = 8
			c := newDrainChat(t, e)
			peer := e.pair(c)
			setSndbuf(t, c.Fd(), 4096)
			sent := 1
			c.next = func(c *drainChat) {
				if sent < blocks {
					sent++
					c.Push(big[:64<<10])
				}
			}
			c.Push(big[:64<<10])
			got, _ := e.readN(peer, blocks*64<<10)
			assert.Equal(t, blocks*64<<10, len(got))
			assert.Equal(t, blocks, sent)
			_ = c.Close()
		})
		e.run("not when closing", func(t *testing.T, e *env) {
			c := newDrainChat(t, e)
			peer := e.pair(c)
			setSndbuf(t, c.Fd(), 4096)
			c.Push(big)
			c.CloseWhenDone()
			got := e.readAll(peer)
			assert.Equal(t, len(big), len(got))
			e.runUntil(func() bool { return c.Fd() < 0 })
			assert.Zero(t, c.drained)
		})
		e.run("not when discarded", func(t *testing.T, e *env) {
			c := newDrainChat(t, e)
			_ = e.pair(c)
			setSndbuf(t, c.Fd(), 4096)
			c.Push(big)
			c.DiscardBuffers()
			e.runFor(5)
			assert.Zero(t, c.drained)
			_ = c.Close()
		})
	})
}
