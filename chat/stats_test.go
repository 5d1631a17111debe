package chat_test

import (
	"bytes"
	"testing"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/stretchr/testify/assert"
)

// collectChat uses the default collector and never takes its data, so a
// partial line stays buffered.
type collectChat struct {
	chat.AsyncChat
}

func (c *collectChat) FoundTerminator() {}

// TestChannelStats checks the chat's ChannelStats and the loop's buffer
// gauges: a partial line is InBuffered, output the socket could not take is
// OutBuffered, and both are summed by the loop's Stats.
func TestChannelStats(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := &collectChat{}
		c.Init(c, e.m)
		c.Logger = quiet
		c.SetTerminator(chat.DelimiterString("\r\n"))
		peer := e.pair(c)
		setSndbuf(t, c.Fd(), 4096)

		e.write(peer, []byte("partial line"))
		e.runUntil(func() bool { return c.ChannelStats().BytesIn == 12 })
		assert.Equal(t, 12, c.ChannelStats().InBuffered)

		big := bytes.Repeat([]byte("y"), 1<<20)
		c.Push(big)
		cs := c.ChannelStats()
		assert.Positive(t, cs.OutBuffered)
		assert.Equal(t, len(big), cs.OutBuffered+int(cs.BytesOut), "queued + written = pushed")

		st := e.l.Stats()
		assert.Equal(t, 12, st.InBuffered)
		assert.Equal(t, cs.OutBuffered, st.OutBuffered)
		assert.EqualValues(t, 12, st.BytesIn)
		assert.Equal(t, cs.BytesOut, st.BytesOut)
	})
}
