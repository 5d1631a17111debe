package chat_test

import (
	"slices"
	"testing"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// peekChat records what PeekInput and FoundTerminator receive, in order.
type peekChat struct {
	chat.AsyncChat
	events []string
}

func (h *peekChat) PeekInput(data []byte) { h.events = append(h.events, "peek "+string(data)) }

func (h *peekChat) FoundTerminator() { h.events = append(h.events, "frame "+string(h.TakeData())) }

// TestPeekInput: an InputPeeker sees each read whole — after a partial
// delimiter kept from the read before — before its first frame is
// delivered, and once only when FramesPerRead holds frames back.
func TestPeekInput(t *testing.T) {
	for _, kind := range looptest.Backends() {
		t.Run(kind.String(), func(t *testing.T) {
			l := looptest.NewLoop(t, kind)
			h := &peekChat{}
			h.Init(h, l.Map())
			h.SetTerminator(chat.DelimiterString("\r\n"))
			h.FramesPerRead = 1
			peer := testutil.AdoptPair(t, h.Adopt)
			seen := func(e string) func() bool { return func() bool { return slices.Contains(h.events, e) } }

			_, err := unix.Write(peer, []byte("a\r\nb\r\nc\r"))
			require.NoError(t, err)
			testutil.RunUntil(t, l, testutil.HangGuard, seen("frame b"))
			_, err = unix.Write(peer, []byte("\nd\r\n"))
			require.NoError(t, err)
			testutil.RunUntil(t, l, testutil.HangGuard, seen("frame d"))
			assert.Equal(t, []string{"peek a\r\nb\r\nc\r", "frame a", "frame b", "peek \r\nd\r\n", "frame c", "frame d"}, h.events)
		})
	}
}
