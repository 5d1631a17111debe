package chat_test

import (
	"testing"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
)

// relayChat records its lines; its first line makes it run the other
// chat's read event from inside FoundTerminator, as a proxy reading its
// other side does.
type relayChat struct {
	chat.AsyncChat
	lines []string
	other *relayChat
	held  bool // not watched for reading: only a nested read takes its input
}

func (r *relayChat) Readable() bool { return !r.held && r.AsyncChat.Readable() }

func (r *relayChat) FoundTerminator() {
	r.lines = append(r.lines, string(r.TakeData()))
	if o := r.other; o != nil {
		r.other = nil
		o.HandleEvents(poller.Read)
	}
}

// TestNestedReadKeepsInput: both chats read into the loop's buffer; the
// nested read, made while the outer chat is still framing the rest of its
// input, must land elsewhere, or the outer chat frames the inner one's
// bytes.
func TestNestedReadKeepsInput(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := looptest.NewLoop(t, kind)
		inner := &relayChat{held: true}
		inner.Init(inner, l.Map())
		inner.SetTerminator(chat.DelimiterString("\n"))
		innerPeer := testutil.AdoptPair(t, inner.Adopt)
		outer := &relayChat{other: inner}
		outer.Init(outer, l.Map())
		outer.SetTerminator(chat.DelimiterString("\n"))
		outerPeer := testutil.AdoptPair(t, outer.Adopt)

		testutil.Write(t, innerPeer, "INNER-LINE-ONE\nINNER-LINE-TWO\n")
		testutil.Write(t, outerPeer, "a\nouter-second\nouter-third\n")
		testutil.RunUntil(t, l, 0, func() bool { return len(outer.lines) == 3 && len(inner.lines) == 2 })
		assert.Equal(t, []string{"a", "outer-second", "outer-third"}, outer.lines)
		assert.Equal(t, []string{"INNER-LINE-ONE", "INNER-LINE-TWO"}, inner.lines)
	})
}
