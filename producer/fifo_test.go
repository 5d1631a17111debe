package producer

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// script is a producer that returns the given chunks in order and then
// empty chunks. It records how often More was called and fails the test if
// More is called again after it returned an empty chunk.
type script struct {
	t      *testing.T
	chunks []string
	calls  int
	done   bool
	closes int
}

func newScript(t *testing.T, chunks ...string) *script {
	return &script{t: t, chunks: chunks}
}

func (s *script) More() []byte {
	s.calls++
	if s.done {
		s.t.Errorf("More called after the producer returned an empty chunk")
		return nil
	}
	if len(s.chunks) == 0 {
		s.done = true
		return nil
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	if c == "" {
		s.done = true
	}
	return []byte(c)
}

// closingScript is a script that is also an io.Closer.
type closingScript struct{ *script }

func (s closingScript) Close() error {
	s.closes++
	return nil
}

// gather returns what q.Gather returns, as strings.
func gather(q *FIFO, maxBytes, maxBufs int) []string {
	var out []string
	for _, b := range q.Gather(nil, maxBytes, maxBufs) {
		out = append(out, string(b))
	}
	return out
}

// drainFIFO writes everything up to the next close marker, as a writer that
// takes all it is given would, and returns it.
func drainFIFO(t *testing.T, q *FIFO, maxBytes, maxBufs int) string {
	t.Helper()
	var out []byte
	var bufs [][]byte
	for range 10000 {
		bufs = q.Gather(bufs, maxBytes, maxBufs)
		if len(bufs) == 0 {
			return string(out)
		}
		n := 0
		for _, b := range bufs {
			out = append(out, b...)
			n += len(b)
		}
		q.Consume(n)
	}
	t.Fatal("FIFO not drained after 10000 writes")
	return ""
}

func TestFIFOZeroValue(t *testing.T) {
	var q FIFO
	assert.True(t, q.Empty())
	assert.Zero(t, q.Len())
	assert.False(t, q.AtClose())
	assert.False(t, q.PopClose())
	assert.Empty(t, q.Gather(nil, 100, 4))
	q.Consume(0)
	q.Discard()
	assert.True(t, q.Empty())
}

func TestFIFOOrder(t *testing.T) {
	var q FIFO
	q.Push([]byte("head "))
	q.PushProducer(SimpleProducer([]byte("produced "), 4))
	q.Push([]byte("tail"))
	assert.False(t, q.Empty())

	// Data, then the producer's first chunk; gathering stops there because
	// the producer's next chunk may not be asked for yet.
	assert.Equal(t, []string{"head ", "prod"}, gather(&q, 1000, 16))
	assert.Equal(t, "head produced tail", drainFIFO(t, &q, 1000, 16))
	assert.True(t, q.Empty())
	assert.Zero(t, q.Len())
}

func TestFIFOCoalesce(t *testing.T) {
	var q FIFO
	q.Push([]byte("one "))
	q.Push([]byte("two "))
	q.Push([]byte("three"))
	assert.Equal(t, []string{"one two three"}, gather(&q, 1000, 16), "a run of pushes is one buffer")

	q.PushProducer(SimpleProducer([]byte("P"), 0))
	q.Push([]byte(" four"))
	q.Push([]byte(" five"))
	assert.Equal(t, []string{"one two three", "P"}, gather(&q, 1000, 16))
	q.Consume(len("one two three") + 1)
	assert.Equal(t, []string{" four five"}, gather(&q, 1000, 16),
		"the exhausted producer is dropped and the data behind it follows")

	// A push after a partial write still joins the tail buffer.
	q.Consume(3)
	q.Push([]byte(" six"))
	assert.Equal(t, []string{"ur five six"}, gather(&q, 1000, 16))
}

func TestFIFOLen(t *testing.T) {
	var q FIFO
	q.Push([]byte("12345"))
	assert.Equal(t, 5, q.Len())

	p := newScript(t, "abcd", "efgh", "ij")
	q.PushProducer(p)
	assert.Equal(t, 5, q.Len(), "a producer's output is not counted before it is asked for")
	assert.Zero(t, p.calls)

	assert.Equal(t, []string{"12345", "abcd"}, gather(&q, 100, 16))
	assert.Equal(t, 9, q.Len(), "the current chunk is counted once fetched")
	assert.Equal(t, 1, p.calls)

	q.Consume(2)
	assert.Equal(t, 7, q.Len())
	q.Consume(4) // the rest of the data and one byte of the chunk
	assert.Equal(t, 3, q.Len())

	assert.Equal(t, []string{"bcd"}, gather(&q, 100, 16))
	assert.Equal(t, 1, p.calls, "More is not called while the chunk is unwritten")
	assert.Equal(t, 3, q.Len())
	q.Consume(3)
	assert.Zero(t, q.Len())
	assert.False(t, q.Empty(), "the producer stays until it is found exhausted")

	assert.Equal(t, []string{"efgh"}, gather(&q, 100, 16))
	assert.Equal(t, 4, q.Len())
	q.Push([]byte("xyz"))
	assert.Equal(t, 7, q.Len())
	assert.Equal(t, "efghijxyz", drainFIFO(t, &q, 100, 16))
	assert.Zero(t, q.Len())
	assert.True(t, q.Empty())
}

func TestFIFOGatherBounds(t *testing.T) {
	fill := func() *FIFO {
		q := &FIFO{}
		q.Push([]byte("aaaa"))
		q.PushProducer(SimpleProducer(nil, 0)) // separates the pushes; removed by the first Gather
		q.Push([]byte("bbbb"))
		q.PushProducer(SimpleProducer([]byte("cccc"), 0))
		q.Push([]byte("dddd"))
		return q
	}
	tests := []struct {
		name              string
		maxBytes, maxBufs int
		want              []string
	}{
		{"everything up to the producer", 100, 16, []string{"aaaa", "bbbb", "cccc"}},
		{"max bytes inside the first buffer", 3, 16, []string{"aaa"}},
		{"max bytes at a buffer boundary", 4, 16, []string{"aaaa"}},
		{"max bytes inside the second buffer", 6, 16, []string{"aaaa", "bb"}},
		{"max bytes inside the chunk", 10, 16, []string{"aaaa", "bbbb", "cc"}},
		{"one buffer", 100, 1, []string{"aaaa"}},
		{"two buffers", 100, 2, []string{"aaaa", "bbbb"}},
		{"zero bytes", 0, 16, nil},
		{"zero buffers", 100, 0, nil},
		{"negative", -1, -1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := fill()
			assert.Equal(t, tt.want, gather(q, tt.maxBytes, tt.maxBufs))
			assert.Equal(t, "aaaabbbbccccdddd", drainFIFO(t, q, 5, 2))
		})
	}
}

func TestFIFOGatherDoesNotAskProducerBeyondBounds(t *testing.T) {
	var q FIFO
	q.Push([]byte("data"))
	p := newScript(t, "chunk")
	q.PushProducer(p)

	assert.Equal(t, []string{"data"}, gather(&q, 4, 16))
	assert.Equal(t, []string{"data"}, gather(&q, 100, 1))
	assert.Zero(t, p.calls, "More is only called when some of its chunk can be gathered")
}

func TestFIFOGatherClipsCapacity(t *testing.T) {
	var q FIFO
	q.Push([]byte("abcdef"))
	bufs := q.Gather(nil, 3, 1)
	require.Len(t, bufs, 1)
	assert.Equal(t, 3, cap(bufs[0]))
	_ = append(bufs[0], "XYZ"...)
	assert.Equal(t, "abcdef", drainFIFO(t, &q, 100, 4), "an append to a gathered slice cannot write into the queue")
}

func TestFIFOPartialConsume(t *testing.T) {
	var q FIFO
	q.Push([]byte("0123456789"))
	p := newScript(t, "abcdefghij", "KLM")
	q.PushProducer(p)

	assert.Equal(t, []string{"0123456789", "abcdefghij"}, gather(&q, 100, 16))
	q.Consume(4) // in the middle of the data buffer
	assert.Equal(t, []string{"456789", "abcdefghij"}, gather(&q, 100, 16))
	q.Consume(8) // past the data, into the chunk
	assert.Equal(t, []string{"cdefghij"}, gather(&q, 100, 16))
	q.Consume(0)
	q.Consume(5) // in the middle of the chunk
	assert.Equal(t, []string{"hij"}, gather(&q, 100, 16))
	assert.Equal(t, 1, p.calls, "the chunk is not replaced before it has been written")
	q.Consume(3)
	assert.Equal(t, []string{"KLM"}, gather(&q, 100, 16))
	assert.Equal(t, 2, p.calls)
	q.Consume(3)
	assert.Empty(t, gather(&q, 100, 16))
	assert.True(t, q.Empty())
}

func TestFIFOCloseMarker(t *testing.T) {
	// asynchat: push(b'bye'); close_when_done(); push(b'after') sends bye
	// and then closes; b'after' is never sent.
	var q FIFO
	q.Push([]byte("bye"))
	q.PushClose()
	q.Push([]byte("after"))

	assert.False(t, q.AtClose())
	assert.False(t, q.PopClose(), "the marker is not at the head yet")
	assert.Equal(t, []string{"bye"}, gather(&q, 100, 16), "gathering stops at the marker")
	q.Consume(2)
	assert.False(t, q.AtClose())
	assert.Equal(t, []string{"e"}, gather(&q, 100, 16))
	q.Consume(1)

	assert.True(t, q.AtClose(), "everything before the marker has been consumed")
	assert.Empty(t, gather(&q, 100, 16), "nothing behind the marker is gathered")
	assert.True(t, q.AtClose())
	assert.Equal(t, 5, q.Len(), "what is behind the marker is still held")
	assert.False(t, q.Empty())

	assert.True(t, q.PopClose())
	assert.False(t, q.AtClose())
	assert.Equal(t, "after", drainFIFO(t, &q, 100, 16))
	assert.True(t, q.Empty())
}

func TestFIFOCloseMarkerAlone(t *testing.T) {
	var q FIFO
	q.PushClose()
	assert.False(t, q.Empty(), "a marker alone keeps the channel writable, as None does in asynchat")
	assert.True(t, q.AtClose())
	assert.Zero(t, q.Len())
	assert.True(t, q.PopClose())
	assert.True(t, q.Empty())
}

func TestFIFOCloseAfterExhaustedProducer(t *testing.T) {
	var q FIFO
	p := newScript(t, "last")
	q.PushProducer(p)
	q.PushClose()

	assert.Equal(t, []string{"last"}, gather(&q, 100, 16))
	q.Consume(4)
	assert.False(t, q.AtClose(), "the producer is not known to be exhausted yet")
	assert.Empty(t, gather(&q, 100, 16), "Gather finds the producer exhausted and stops at the marker")
	assert.True(t, q.AtClose())
	assert.Equal(t, 2, p.calls)
}

func TestFIFOPushesAfterCloseStayBehind(t *testing.T) {
	var q FIFO
	q.Push([]byte("before"))
	q.PushClose()
	q.Push([]byte("after1"))
	q.PushProducer(SimpleProducer([]byte("after2"), 0))
	q.Push([]byte("after3"))

	assert.Equal(t, "before", drainFIFO(t, &q, 100, 16))
	assert.True(t, q.AtClose())
	assert.Equal(t, 12, q.Len(), "pushed data behind the marker is held; the producer has not been asked")
	require.True(t, q.PopClose())
	assert.Equal(t, "after1after2after3", drainFIFO(t, &q, 100, 16))
}

func TestFIFOProducerEmptyChunkEarly(t *testing.T) {
	// asynchat (C14): a producer yielding "a", "", "b" followed by
	// push(b'X') sends only "a" and "X": the early empty chunk ends it.
	var q FIFO
	p := newScript(t, "a", "", "b")
	q.PushProducer(p)
	q.Push([]byte("X"))
	assert.Equal(t, "aX", drainFIFO(t, &q, 100, 16))
	assert.Equal(t, 2, p.calls, "More is not called after the empty chunk")
	assert.True(t, q.Empty())
}

func TestFIFOExhaustedProducerDoesNotLoseNextItem(t *testing.T) {
	// asynchat §4.9: with a falsy producer at the head, its removal and the
	// "exhausted" removal both run, so the queue [FalsyProd(), b'NEXT',
	// b'LAST'] sends only b'LAST'. Here nothing after an exhausted
	// producer may be lost, wherever it stands.
	tests := []struct {
		name  string
		build func(q *FIFO)
		want  string
	}{
		{"empty producer at the head", func(q *FIFO) {
			q.PushProducer(newScript(t))
			q.Push([]byte("NEXT"))
			q.PushProducer(SimpleProducer([]byte("LAST"), 0))
		}, "NEXTLAST"},
		{"empty chunk at once", func(q *FIFO) {
			q.PushProducer(newScript(t, ""))
			q.PushProducer(newScript(t, "NEXT"))
			q.PushProducer(newScript(t, "LAST"))
		}, "NEXTLAST"},
		{"two empty producers in a row", func(q *FIFO) {
			q.PushProducer(newScript(t))
			q.PushProducer(SimpleProducer(nil, 0))
			q.Push([]byte("NEXT"))
		}, "NEXT"},
		{"empty producer between data", func(q *FIFO) {
			q.Push([]byte("A"))
			q.PushProducer(newScript(t))
			q.Push([]byte("B"))
			q.PushProducer(newScript(t))
			q.Push([]byte("C"))
		}, "ABC"},
		{"empty producer before a marker", func(q *FIFO) {
			q.Push([]byte("A"))
			q.PushProducer(newScript(t))
			q.PushClose()
			q.Push([]byte("B"))
		}, "A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, maxBufs := range []int{1, 2, 16} {
				var q FIFO
				tt.build(&q)
				assert.Equal(t, tt.want, drainFIFO(t, &q, 100, maxBufs), "maxBufs %d", maxBufs)
			}
		})
	}

	// An exhausted producer in the middle of one Gather is removed without
	// disturbing the buffers gathered before it.
	var q FIFO
	q.Push([]byte("A"))
	q.PushProducer(newScript(t))
	q.Push([]byte("B"))
	assert.Equal(t, []string{"A", "B"}, gather(&q, 100, 16))
	assert.Equal(t, []string{"A", "B"}, gather(&q, 100, 16), "a second Gather sees the same")
	q.Consume(2)
	assert.True(t, q.Empty())
}

func TestFIFODiscard(t *testing.T) {
	var q FIFO
	q.Push([]byte("data"))
	c1 := closingScript{newScript(t, "abc", "def")}
	c2 := closingScript{newScript(t, "ghi")}
	plain := newScript(t, "jkl")
	q.PushProducer(c1)
	q.PushClose()
	q.PushProducer(plain)
	q.PushProducer(c2)
	assert.Equal(t, []string{"data", "abc"}, gather(&q, 100, 16))

	q.Discard()
	assert.True(t, q.Empty())
	assert.Zero(t, q.Len())
	assert.False(t, q.AtClose())
	assert.Equal(t, 1, c1.closes, "a producer with a current chunk is closed")
	assert.Equal(t, 1, c2.closes, "a producer not yet asked is closed")
	assert.Empty(t, gather(&q, 100, 16))

	// The queue is usable afterwards.
	q.Push([]byte("again"))
	assert.Equal(t, "again", drainFIFO(t, &q, 100, 16))
}

func TestFIFODiscardClosesReader(t *testing.T) {
	c := &countingCloser{Reader: strings.NewReader("abcdefgh")}
	var q FIFO
	q.PushProducer(ReaderProducer(c, 4))
	assert.Equal(t, []string{"abcd"}, gather(&q, 100, 16))
	q.Discard()
	assert.Equal(t, 1, c.closes)
}

func TestFIFONilProducer(t *testing.T) {
	var q FIFO
	q.PushProducer(nil)
	assert.True(t, q.Empty())
	q.Push(nil)
	q.Push([]byte{})
	assert.True(t, q.Empty(), "an empty push queues nothing")
}

func TestFIFOReaderProducerZeroCopy(t *testing.T) {
	p := ReaderProducer(strings.NewReader("abcdefgh"), 4)
	var q FIFO
	q.PushProducer(p)
	bufs := q.Gather(nil, 100, 16)
	require.Len(t, bufs, 1)
	assert.Same(t, &p.buf[0], &bufs[0][0], "the chunk is gathered where the producer read it")
}

// TestFIFOPushShared: shared data is gathered where it lies, never copied,
// never appended to and never recycled; it counts in Len; data pushed
// around it is copied as usual, in order.
func TestFIFOPushShared(t *testing.T) {
	body := []byte("shared body")
	var q FIFO
	q.Push([]byte("head;"))
	q.PushShared(body)
	q.Push([]byte(";tail"))
	q.PushShared(nil) // nothing
	assert.Equal(t, len("head;shared body;tail"), q.Len())
	bufs := q.Gather(nil, 100, 16)
	require.Len(t, bufs, 3)
	assert.Same(t, &body[0], &bufs[1][0], "gathered by reference")
	assert.Equal(t, len(bufs[1]), cap(bufs[1]), "no spare capacity to append into")

	q.Consume(len("head;sha"))
	assert.Equal(t, []string{"red body", ";tail"}, gather(&q, 100, 16))
	assert.Equal(t, "red body;tail", drainFIFO(t, &q, 100, 16))
	assert.Equal(t, "shared body", string(body), "the shared data is not written to")
	assert.Zero(t, q.Len())

	// Emptied, the shared item is not kept as a buffer for later pushes.
	q.PushShared(body[:6])
	q.Push([]byte("XXXXXX"))
	assert.Equal(t, "sharedXXXXXX", drainFIFO(t, &q, 100, 16))
	q.Push([]byte("YYYYYYYYYYYY"))
	assert.Equal(t, "shared body", string(body))
	q.PushShared(body)
	q.Discard()
	assert.True(t, q.Empty())
	assert.Equal(t, "shared body", string(body))

	scratch := make([][]byte, 0, 1)
	allocs := testing.AllocsPerRun(100, func() {
		q.PushShared(body)
		q.Consume(len(q.Gather(scratch, 100, 1)[0]))
	})
	assert.Zero(t, allocs)
}

func TestFIFOManyItems(t *testing.T) {
	// Enough items to make the head index pass the compaction threshold,
	// with exhausted producers removed from the middle of gathers.
	for _, maxBufs := range []int{1, 3} {
		var q FIFO
		var want bytes.Buffer
		for i := range 500 {
			s := []byte{byte('a' + i%26)}
			switch i % 4 {
			case 0:
				q.Push(s)
			case 1:
				q.PushProducer(SimpleProducer(s, 0))
			case 2:
				q.PushProducer(newScript(t))
				continue
			case 3:
				q.PushProducer(newScript(t, string(s), string(s)))
				want.Write(s)
			}
			want.Write(s)
		}
		var got []byte
		var bufs [][]byte
		for {
			bufs = q.Gather(bufs, 2, maxBufs)
			if len(bufs) == 0 {
				break
			}
			got = append(got, bufs[0]...)
			q.Consume(len(bufs[0]))
		}
		assert.Equal(t, want.String(), string(got), "maxBufs %d", maxBufs)
		assert.True(t, q.Empty())
	}
}

func TestFIFOTailBufferBounded(t *testing.T) {
	// A writer that keeps up with the pushes but never empties the queue
	// (it always takes a little less than there is) must not make the tail
	// buffer grow for ever.
	var q FIFO
	msg := bytes.Repeat([]byte("m"), 100)
	var bufs [][]byte
	for range 100000 {
		q.Push(msg)
		bufs = q.Gather(bufs, 1<<20, 4)
		q.Consume(q.Len() - 50)
	}
	require.Equal(t, 50, q.Len())
	require.Len(t, q.items, 1)
	assert.LessOrEqual(t, cap(q.items[0].buf), 4096)
}

// TestFIFOLargeBufferReleased: a drained queue holds no buffer, however
// much went through it: an idle connection keeps no output memory.
func TestFIFOLargeBufferReleased(t *testing.T) {
	var q FIFO
	q.Push(make([]byte, 1<<20))
	drainFIFO(t, &q, 1<<20, 4)
	assertHoldsNoBuffer(t, &q)

	q.Push(make([]byte, 1000))
	drainFIFO(t, &q, 1<<20, 4)
	assertHoldsNoBuffer(t, &q)
}

// assertHoldsNoBuffer checks that a drained queue keeps no output buffer,
// not even in a slot of its item array past the end.
func assertHoldsNoBuffer(t *testing.T, q *FIFO) {
	t.Helper()
	for i, it := range q.items[:cap(q.items)] {
		assert.Zero(t, cap(it.buf), "a drained queue holds no buffer (slot %d)", i)
	}
}

// TestFIFOLargeRepliesAllocs: a pipeline's replies pushed one after another
// — sixteen 4 KiB lines, 64 KiB in all, written with one gathered write —
// allocate nothing once warmed up. Growing one buffer for them allocated at
// every doubling, and the grown buffer was too large to keep.
func TestFIFOLargeRepliesAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops buffers at random")
	}
	var q FIFO
	line := bytes.Repeat([]byte("l"), 4096)
	bufs := make([][]byte, 0, 64)
	burst := func() {
		for range 16 {
			q.Push(line)
		}
		bufs = q.Gather(bufs, 1<<20, 64)
		n := 0
		for _, b := range bufs {
			n += len(b)
		}
		q.Consume(n)
	}
	burst()
	require.True(t, q.Empty())
	assert.Zero(t, testing.AllocsPerRun(100, burst))
}

func TestFIFOConsumeMisuse(t *testing.T) {
	var q FIFO
	assert.Panics(t, func() { q.Consume(-1) })
	assert.Panics(t, func() { q.Consume(1) }, "nothing queued")

	q.Push([]byte("ab"))
	q.PushClose()
	q.Push([]byte("cd"))
	assert.Panics(t, func() { q.Consume(3) }, "past a close marker")

	var r FIFO
	r.PushProducer(SimpleProducer([]byte("ab"), 0))
	assert.Panics(t, func() { r.Consume(1) }, "a producer that was not asked")
}

func TestFIFOAllocs(t *testing.T) {
	var q FIFO
	msg := bytes.Repeat([]byte("x"), 100)
	bufs := make([][]byte, 0, 16)
	cycle := func() {
		q.Push(msg)
		bufs = q.Gather(bufs, 65536, 16)
		q.Consume(len(bufs[0]))
	}
	cycle() // warm up: the first buffer is allocated here
	assert.Zero(t, testing.AllocsPerRun(1000, cycle))

	// A burst of pushes written in one go is also free once warmed up.
	burst := func() {
		for range 16 {
			q.Push(msg)
		}
		bufs = q.Gather(bufs, 65536, 16)
		q.Consume(q.Len())
	}
	burst()
	assert.Zero(t, testing.AllocsPerRun(1000, burst))

	// So is a producer over a slice, once the item slice has grown.
	data := bytes.Repeat([]byte("y"), 1000)
	var sp Simple
	prod := func() {
		sp = Simple{data: data, size: 512}
		q.PushProducer(&sp)
		for bufs = q.Gather(bufs, 65536, 16); len(bufs) > 0; bufs = q.Gather(bufs, 65536, 16) {
			q.Consume(len(bufs[0]))
		}
	}
	prod()
	assert.Zero(t, testing.AllocsPerRun(1000, prod))
}

func BenchmarkFIFOPushGather(b *testing.B) {
	var q FIFO
	msg := bytes.Repeat([]byte("x"), 100)
	bufs := make([][]byte, 0, 16)
	b.ReportAllocs()
	b.SetBytes(16 * int64(len(msg)))
	for b.Loop() {
		for range 16 {
			q.Push(msg)
		}
		bufs = q.Gather(bufs, 65536, 16)
		n := 0
		for _, buf := range bufs {
			n += len(buf)
		}
		q.Consume(n)
	}
}

// failingProducer yields its chunks and then ends with an error.
type failingProducer struct {
	chunks [][]byte
	err    error
}

func (p *failingProducer) More() []byte {
	if len(p.chunks) == 0 {
		return nil
	}
	c := p.chunks[0]
	p.chunks = p.chunks[1:]
	return c
}

func (p *failingProducer) Err() error {
	if len(p.chunks) == 0 {
		return p.err
	}
	return nil
}

// TestFIFOProducerError: a producer that ends with an error stops the
// queue. What was queued before it, and its own chunks, are written — even
// across short writes — the items behind it never are, and Err reports the
// failure until Discard.
func TestFIFOProducerError(t *testing.T) {
	var q FIFO
	boom := errors.New("disk on fire")
	q.Push([]byte("head|"))
	q.PushProducer(&failingProducer{chunks: [][]byte{[]byte("part")}, err: boom})
	q.Push([]byte("|next reply"))

	var out []byte
	var bufs [][]byte
	for {
		bufs = q.Gather(bufs, 1<<20, 16)
		if len(bufs) == 0 {
			break
		}
		out = append(out, bufs[0][0]) // a one-byte write each time
		q.Consume(1)
	}
	assert.Equal(t, "head|part", string(out))
	assert.ErrorIs(t, q.Err(), boom)
	assert.True(t, q.AtClose(), "the failed producer became a close marker")
	assert.False(t, q.Empty(), "the items behind the failure stay queued")
	q.Discard()
	assert.NoError(t, q.Err())
	assert.True(t, q.Empty())
}

// TestFIFOEmptyHoldsNoItems: a queue that has written everything it held
// keeps no item array — an idle connection's queue costs its struct alone —
// and filling it again allocates nothing.
func TestFIFOEmptyHoldsNoItems(t *testing.T) {
	var q FIFO
	var bufs [][]byte
	roundTrip := func() {
		q.Push([]byte("+OK\r\n"))
		bufs = q.Gather(bufs, 1<<20, 4)
		q.Consume(q.Len())
	}
	roundTrip()
	assert.Zero(t, cap(q.items), "an empty queue holds no item array")
	assert.Zero(t, testing.AllocsPerRun(100, roundTrip))

	q.Push([]byte("a"))
	q.PushShared([]byte("b"))
	q.Discard()
	assert.Zero(t, cap(q.items), "nor does a discarded one")
}
