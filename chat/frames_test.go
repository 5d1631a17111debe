package chat_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFramesPerRead checks that one read delivers at most FramesPerRead
// frames before the other channels are served: 20 pipelined lines with a
// cap of 4 are framed 4 at a time — 4 in the read event, 4 more in the same
// iteration's posted-functions phase, 4 per iteration after — while another
// chat's line, ready in the same iteration, is answered in that iteration.
// The replies still come out complete and in order, and the chat reads
// nothing more while a backlog waits.
func TestFramesPerRead(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		echo := func(c *testChat, frame string) { c.Push([]byte(frame + "\n")) }
		busy := newTestChat(t, e.m, chat.DelimiterString("\n"))
		busy.FramesPerRead = 4
		busy.reply = echo
		other := newTestChat(t, e.m, chat.DelimiterString("\n"))
		other.reply = echo
		busyPeer, otherPeer := e.pair(busy), e.pair(other)

		var want strings.Builder
		for i := range 20 {
			fmt.Fprintf(&want, "line %02d\n", i)
		}
		e.write(busyPeer, []byte(want.String()))
		e.write(otherPeer, []byte("hello\n"))

		// Both are readable before the first wait.
		var seen []int
		for len(busy.frames) < 20 {
			before := len(busy.frames)
			require.NoError(t, e.l.RunOnce(waitFor))
			seen = append(seen, len(busy.frames)-before)
			if len(busy.frames) < 20 {
				assert.False(t, busy.Readable(), "no reading while a backlog waits")
			}
			require.Less(t, len(seen), 40, "the backlog is not being framed")
		}
		t.Logf("frames per iteration: %v", seen)
		assert.Equal(t, []string{"hello"}, other.frames, "the other chat is served")
		for _, n := range seen {
			assert.LessOrEqual(t, n, 8, "at most two turns of FramesPerRead per iteration")
		}
		assert.True(t, busy.Readable())
		got, _ := e.readN(busyPeer, want.Len())
		assert.Equal(t, want.String(), string(got))
	})
}
