package chat_test

import (
	"bytes"
	"strings"
	"testing"
	"unsafe"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lendChat records, for each frame, what TakeData returned and whether it
// pointed into the input being framed; with skipOdd it leaves every odd
// frame in the collector, so that it joins the next one.
type lendChat struct {
	chat.AsyncChat
	input   []byte
	frames  []string
	lent    []bool
	skipOdd bool
	n       int
}

func (h *lendChat) FoundTerminator() {
	h.n++
	if h.skipOdd && h.n%2 == 1 {
		return
	}
	d := h.TakeData()
	h.frames = append(h.frames, string(d))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(d)))
	base := uintptr(unsafe.Pointer(unsafe.SliceData(h.input)))
	h.lent = append(h.lent, len(d) > 0 && p >= base && p < base+uintptr(len(h.input)))
}

func newLendChat(t *testing.T, input string) (*lendChat, func()) {
	l := looptest.NewLoop(t, looptest.Backends()[0])
	h := &lendChat{input: []byte(input)}
	h.Init(h, l.Map())
	h.SetTerminator(chat.DelimiterString("\n"))
	testutil.AdoptPair(t, h.Adopt)
	return h, func() {
		require.NoError(t, l.Post(func() { h.FrameForBench(h.input) }))
		require.NoError(t, l.RunOnce(0))
	}
}

// TestTakeDataLendsWholeLine: a line that begins and ends in the same read
// reaches TakeData where it lies, without a copy into the collector; only
// a line split across reads is copied.
func TestTakeDataLendsWholeLine(t *testing.T) {
	long1, long2 := strings.Repeat("a", 4095), strings.Repeat("b", 1500)
	h, run := newLendChat(t, long1+"\n"+long2+"\nshort\n")
	run()
	assert.Equal(t, []string{long1, long2, "short"}, h.frames)
	assert.Equal(t, []bool{true, true, false}, h.lent, "each whole long line is lent, not copied; a short one is copied")
}

// TestLentLinesJoin: a handler that leaves a frame in the default
// collector gets it joined with the next one, as asynchat's _get_data
// joins what collect_incoming_data gathered.
func TestLentLinesJoin(t *testing.T) {
	a, b := strings.Repeat("a", 2000), strings.Repeat("b", 3000)
	h, run := newLendChat(t, a+"\n"+b+"\nd\n"+b+"\n")
	h.skipOdd = true
	run()
	assert.Equal(t, []string{a + b, "d" + b}, h.frames)
}

// scratchCollector passes the default collector a copy of each piece in
// its own scratch buffer, which it then overwrites: the default collector
// must copy what it did not get from the chat itself.
type scratchCollector struct {
	lendChat
	scratch []byte
}

func (s *scratchCollector) CollectIncomingData(data []byte) {
	s.scratch = append(s.scratch[:0], bytes.ToUpper(data)...)
	s.AsyncChat.CollectIncomingData(s.scratch)
	for i := range s.scratch {
		s.scratch[i] = '!'
	}
}

func TestDefaultCollectorCopiesForeignData(t *testing.T) {
	l := looptest.NewLoop(t, looptest.Backends()[0])
	s := &scratchCollector{}
	abc, def := strings.Repeat("abc", 700), strings.Repeat("def", 700)
	s.input = []byte(abc + "\n" + def + "\n")
	s.Init(s, l.Map())
	s.SetTerminator(chat.DelimiterString("\n"))
	testutil.AdoptPair(t, s.Adopt)
	require.NoError(t, l.Post(func() { s.FrameForBench(s.input) }))
	require.NoError(t, l.RunOnce(0))
	assert.Equal(t, []string{strings.ToUpper(abc), strings.ToUpper(def)}, s.frames)
}

// TestLongLineEchoAcrossReads: the README's line echo over a socket, with
// long lines that arrive whole, split across writes (so across reads), and
// framed a frame per turn (FramesPerRead 1, so the rest of a read waits in
// the chat as a backlog): every line comes back intact and in order.
func TestLongLineEchoAcrossReads(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := looptest.NewLoop(t, kind)
		h := &lineEcho{}
		h.Init(h, l.Map())
		h.FramesPerRead = 1
		h.SetTerminator(chat.DelimiterString("\n"))
		peer := testutil.AdoptPair(t, h.Adopt)

		var want strings.Builder
		for i, n := range []int{1500, 4095, 3000, 1024, 2048} {
			want.WriteString(strings.Repeat(string(rune('a'+i)), n) + "\n")
		}
		all := want.String()
		var got []byte
		buf := make([]byte, 64<<10)
		for _, part := range []string{all[:2000], all[2000:7000], all[7000:7001], all[7001:]} {
			testutil.Write(t, peer, part)
			for range 3 { // a read, then the postponed frames
				require.NoError(t, l.RunOnce(0))
			}
			more, _, err := testutil.ReadReady(peer, buf)
			require.NoError(t, err)
			got = append(got, more...)
		}
		testutil.RunUntil(t, l, 0, func() bool {
			more, _, err := testutil.ReadReady(peer, buf)
			require.NoError(t, err)
			got = append(got, more...)
			return len(got) >= len(all)
		})
		assert.Equal(t, all, string(got))
	})
}
