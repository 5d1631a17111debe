package chat_test

// Unit tests of AsyncChat over real socketpairs, on every backend: framing
// and terminator switching, the default collector, the output queue
// (ordering, CloseWhenDone, connect-then-push) and the predicates. The
// helpers at the top are shared by the other test files of the package.

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/asyncore-go/asyncore/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// waitFor bounds every wait for a condition; generous, because a loaded CI
// box with the race detector is slow, and a passing test never waits it out.
const waitFor = testutil.HangGuard

// quiet swallows the library's logging (the default HandleError logs at
// error level), so expected errors do not clutter the test output.
var quiet = slog.New(slog.DiscardHandler)

// env is one backend's loop and map, with helpers that drive the loop.
type env struct {
	t    *testing.T
	kind poller.Kind
	l    *loop.Loop
	m    *loop.Map
}

// forEachBackend runs f once per poller backend, each time with a fresh loop
// and a descriptor-leak check.
func forEachBackend(t *testing.T, f func(t *testing.T, e *env)) {
	t.Helper()
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l := looptest.NewLoop(t, kind)
		f(t, &env{t: t, kind: kind, l: l, m: l.Map()})
	})
}

// forEachBackendParallel is forEachBackend with the backends' subtests run
// in parallel with each other, for tests that mostly wait on sockets
// (slow readers, small send buffers, lingering closes): each subtest has its
// own loop, map and sockets, so they share nothing. The descriptor-leak
// check covers all backends at once, from before the first subtest starts
// to after the last one ends, because a per-subtest count would see its
// siblings' sockets. The parent is not parallel with other tests, so nothing
// else opens descriptors meanwhile. Not for tests that measure the heap,
// allocations or anything else process-wide.
func forEachBackendParallel(t *testing.T, f func(t *testing.T, e *env)) {
	t.Helper()
	testutil.CheckFDLeaks(t)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		t.Parallel()
		l := looptest.NewLoop(t, kind)
		f(t, &env{t: t, kind: kind, l: l, m: l.Map()})
	})
}

// run runs f as a subtest over the same loop, with an env whose helpers
// report to the subtest and whose clean-ups run when the subtest ends.
func (e *env) run(name string, f func(t *testing.T, e *env)) {
	e.t.Helper()
	e.t.Run(name, func(t *testing.T) {
		sub := *e
		sub.t = t
		f(t, &sub)
	})
}

// runUntil drives the loop until cond holds, failing after waitFor.
func (e *env) runUntil(cond func() bool) {
	e.t.Helper()
	testutil.RunUntil(e.t, e.l, waitFor, cond)
}

// runFor runs n iterations without blocking, to show that something does
// not happen.
func (e *env) runFor(n int) {
	e.t.Helper()
	testutil.RunFor(e.t, e.l, n, 0)
}

// adopter is what the helpers need of a chat: the embedded dispatcher's
// Adopt.
type adopter interface {
	Adopt(fd int) error
}

// pair connects c to one end of a fresh socketpair and returns the other
// end, the peer, which the test drives with raw reads and writes in its own
// goroutine. The chat owns its end (the loop's clean-up closes it); the peer
// is closed when the test ends.
func (e *env) pair(c adopter) int {
	e.t.Helper()
	return testutil.AdoptPair(e.t, c.Adopt)
}

// write writes all of data to the peer fd, running the loop whenever the
// socket is full so that the chat can make room.
func (e *env) write(fd int, data []byte) {
	e.t.Helper()
	deadline := time.Now().Add(waitFor)
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			require.True(e.t, time.Now().Before(deadline), "the chat does not read")
			require.NoError(e.t, e.l.RunOnce(time.Millisecond))
			continue
		}
		require.NoError(e.t, err)
		data = data[n:]
	}
}

// readSome reads what the peer fd has now, without blocking: the bytes, and
// whether it saw EOF.
func readSome(t testing.TB, fd int, buf []byte) ([]byte, bool) {
	t.Helper()
	got, eof, err := testutil.ReadReady(fd, buf)
	require.NoError(t, err)
	return got, eof
}

// readN runs the loop and reads from the peer fd until it has want bytes or
// EOF; it returns what it read and whether EOF came.
func (e *env) readN(fd int, want int) ([]byte, bool) {
	e.t.Helper()
	var got []byte
	eof := false
	buf := make([]byte, 64<<10)
	e.runUntil(func() bool {
		b, end := readSome(e.t, fd, buf)
		got = append(got, b...)
		eof = eof || end
		return eof || len(got) >= want
	})
	return got, eof
}

// readAll runs the loop and reads from the peer fd until EOF.
func (e *env) readAll(fd int) []byte {
	e.t.Helper()
	got, _ := e.readN(fd, int(^uint(0)>>1))
	return got
}

// testChat records everything an AsyncChat does: every piece given to
// CollectIncomingData, the frames, the terminator seen inside each
// FoundTerminator, errors and closes. script lists the terminators
// FoundTerminator switches to, one per call; reply, if set, runs after a
// frame is recorded.
type testChat struct {
	chat.AsyncChat
	t      testing.TB
	pieces []string
	cur    []byte
	frames []string
	terms  []chat.Terminator
	script []chat.Terminator
	reply  func(c *testChat, frame string)
	errs   []error
	closes int
	// onError, if set, replaces the default HandleError after the error
	// is recorded.
	onError func(c *testChat, err error)
}

func newTestChat(t testing.TB, m *loop.Map, term chat.Terminator) *testChat {
	c := &testChat{t: t}
	c.Init(c, m)
	c.Logger = quiet
	c.SetTerminator(term)
	return c
}

func (c *testChat) CollectIncomingData(data []byte) {
	if len(data) == 0 {
		c.t.Errorf("CollectIncomingData got an empty piece")
	}
	c.pieces = append(c.pieces, string(data))
	c.cur = append(c.cur, data...)
}

func (c *testChat) FoundTerminator() {
	frame := string(c.cur)
	c.cur = c.cur[:0]
	c.frames = append(c.frames, frame)
	c.terms = append(c.terms, c.Terminator())
	if len(c.script) > 0 {
		c.SetTerminator(c.script[0])
		c.script = c.script[1:]
	}
	if c.reply != nil {
		c.reply(c, frame)
	}
}

func (c *testChat) HandleError(err error) {
	c.errs = append(c.errs, err)
	if c.onError != nil {
		c.onError(c, err)
		return
	}
	c.AsyncChat.HandleError(err)
}

func (c *testChat) HandleClose() {
	c.closes++
	c.AsyncChat.HandleClose()
}

func (c *testChat) closed() bool { return c.Fd() < 0 }

// takeChat uses the default collector: FoundTerminator takes the frame with
// TakeData, records it and, if reply is set, answers it.
type takeChat struct {
	chat.AsyncChat
	frames []string
	errs   []error
	reply  func(c *takeChat, frame []byte)
}

func newTakeChat(m *loop.Map, term chat.Terminator) *takeChat {
	c := &takeChat{}
	c.Init(c, m)
	c.Logger = quiet
	c.SetTerminator(term)
	return c
}

func (c *takeChat) FoundTerminator() {
	data := c.TakeData()
	c.frames = append(c.frames, string(data))
	if c.reply != nil {
		c.reply(c, data)
	}
}

func (c *takeChat) HandleError(err error) {
	c.errs = append(c.errs, err)
	c.AsyncChat.HandleError(err)
}

// pattern returns n bytes that differ from their neighbours' and from any
// shifted copy of themselves, so that a lost, repeated or reordered piece
// shows up.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8 + i>>16)
	}
	return b
}

// TestTerminatorSwitch: a header delimiter, then Length(3) set in
// FoundTerminator, then the delimiter again, on input that all arrives
// before the first switch — the rest of the buffer is framed by the new
// terminator (docs/asyncore-compat.md#handle-read-framing). It runs at every
// read size from one byte to the whole input in one read.
func TestTerminatorSwitch(t *testing.T) {
	input := []byte("HDR\r\nabcdefXY\r\n")
	forEachBackend(t, func(t *testing.T, e *env) {
		for size := 1; size <= len(input); size++ {
			e.run(fmt.Sprintf("read=%d", size), func(t *testing.T, e *env) {
				c := newTestChat(t, e.m, chat.DelimiterString("\r\n"))
				c.InBufferSize = size
				c.script = []chat.Terminator{chat.Length(3), chat.DelimiterString("\r\n")}
				peer := e.pair(c)
				e.write(peer, input)
				e.runUntil(func() bool { return len(c.frames) == 3 })
				assert.Equal(t, []string{"HDR", "abc", "defXY"}, c.frames)
				require.Len(t, c.terms, 3)
				assert.True(t, c.terms[0].Equal(chat.DelimiterString("\r\n")), "inside the first FoundTerminator: %v", c.terms[0])
				assert.True(t, c.terms[1].Equal(chat.Length(0)), "a fired length reads back as Length(0): %v", c.terms[1])
				assert.True(t, c.terms[2].Equal(chat.DelimiterString("\r\n")), "%v", c.terms[2])
				if size >= len(input) {
					assert.Equal(t, []string{"HDR", "abc", "defXY"}, c.pieces, "one read: one piece per frame")
				}
				if size == 1 {
					assert.Equal(t, strings.Split("HDRabcdefXY", ""), c.pieces, "one byte per read: one piece per byte, no delimiter bytes")
				}
				assert.Empty(t, c.errs)
				_ = c.Close()
			})
		}
	})
}

// TestTerminatorCountsDown: Terminator reads back a length terminator as
// the bytes still to come, and Length(0) once it has fired, after which
// everything is collected (docs/asyncore-compat.md#handle-read-framing, numeric
// terminator 5).
func TestTerminatorCountsDown(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := newTestChat(t, e.m, chat.Length(5))
		peer := e.pair(c)

		e.write(peer, []byte("abc"))
		e.runUntil(func() bool { return len(c.cur) == 3 })
		n, ok := c.Terminator().Len()
		assert.True(t, ok)
		assert.Equal(t, 2, n, "5 - 3 bytes still to come")

		e.write(peer, []byte("defgh"))
		e.runUntil(func() bool { return len(c.frames) == 1 && len(c.cur) == 3 })
		assert.Equal(t, []string{"abcde"}, c.frames)
		assert.True(t, c.terms[0].Equal(chat.Length(0)), "inside FoundTerminator: %v", c.terms[0])
		assert.True(t, c.Terminator().Equal(chat.Length(0)), "after: %v", c.Terminator())
		assert.True(t, c.Terminator().IsNone())

		e.write(peer, []byte("ij"))
		e.runUntil(func() bool { return len(c.cur) == 5 })
		assert.Equal(t, "fghij", string(c.cur), "Length(0) collects everything")
		assert.Equal(t, []string{"abc", "de", "fgh", "ij"}, c.pieces)
		assert.Len(t, c.frames, 1, "Length(0) never fires")
	})
}

// TestDefaultCollector: without a CollectIncomingData override the frames
// gather in the default collector and TakeData empties it; empty lines give
// empty frames, and TakeData outside FoundTerminator returns the unfinished
// frame.
func TestDefaultCollector(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := newTakeChat(e.m, chat.DelimiterString("\n"))
		peer := e.pair(c)
		e.write(peer, []byte("one\ntwo\n\nthree\nfo"))
		e.runUntil(func() bool { return len(c.frames) == 4 })
		e.runFor(3)
		assert.Equal(t, []string{"one", "two", "", "three"}, c.frames)
		assert.Equal(t, "fo", string(c.TakeData()), "the unfinished frame")
		assert.Empty(t, c.TakeData(), "TakeData empties the collector")
		e.write(peer, []byte("ur\n"))
		e.runUntil(func() bool { return len(c.frames) == 5 })
		assert.Equal(t, "ur", c.frames[4], "what TakeData took is gone from the frame")
		assert.Empty(t, c.errs)
	})
}

// TestCollectNeverEmpty: leading, adjacent and trailing delimiters at every
// read size never reach CollectIncomingData as empty pieces (testChat fails
// the test if they do), and give empty frames.
func TestCollectNeverEmpty(t *testing.T) {
	input := []byte("\r\n\r\nab\r\n\r\nc\r\n")
	forEachBackend(t, func(t *testing.T, e *env) {
		for size := 1; size <= len(input); size++ {
			c := newTestChat(t, e.m, chat.DelimiterString("\r\n"))
			c.InBufferSize = size
			peer := e.pair(c)
			e.write(peer, input)
			e.runUntil(func() bool { return len(c.frames) == 5 })
			assert.Equal(t, []string{"", "", "ab", "", "c"}, c.frames, "read=%d", size)
			_ = c.Close()
		}
	})
}

// TestDiscardBuffers is asynchat's discard_buffers: the collected data, a
// partial delimiter and the queued output all go. As in asynchat, the "\r"
// that was waiting for its "\n" is lost, so the next frame begins with
// "\n" (checked against CPython 3.11).
func TestDiscardBuffers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := newTakeChat(e.m, chat.DelimiterString("\r\n"))
		peer := e.pair(c)

		e.write(peer, []byte("abc\r"))
		e.runFor(3)
		big := pattern(8 << 20)
		c.Push(big) // more than the socketpair holds: the rest is queued
		require.Positive(t, c.Pending())
		require.True(t, c.Writable())

		c.DiscardBuffers()
		assert.Zero(t, c.Pending())
		assert.False(t, c.Writable(), "nothing queued any more")
		assert.Empty(t, c.TakeData())

		c.Push([]byte("after\n"))
		var got []byte
		buf := make([]byte, 64<<10)
		e.runUntil(func() bool {
			b, _ := readSome(t, peer, buf)
			got = append(got, b...)
			return bytes.HasSuffix(got, []byte("after\n"))
		})
		sent := got[:len(got)-len("after\n")]
		assert.Equal(t, big[:len(sent)], sent, "what was written before the discard, then the new push")
		assert.Less(t, len(sent), len(big))

		e.write(peer, []byte("\nxyz\r\n"))
		e.runUntil(func() bool { return len(c.frames) == 1 })
		assert.Equal(t, []string{"\nxyz"}, c.frames)
	})
}

// TestPredicates: Readable is true (until the output is over OutHighWater);
// Writable is asynchat's "producer_fifo or not connected".
func TestPredicates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := newTakeChat(e.m, chat.DelimiterString("\n"))
		assert.True(t, c.Readable())
		assert.True(t, c.Writable(), "not connected: writable, as in asynchat")

		peer := e.pair(c)
		assert.True(t, c.Readable())
		assert.False(t, c.Writable(), "connected, nothing queued")

		c.OutHighWater = 64 << 10
		want := pattern(1 << 20) // more than the socket and OutHighWater hold
		c.Push(want)
		assert.True(t, c.Writable(), "output queued")
		assert.False(t, c.Readable(), "over OutHighWater: stop reading")

		got, _ := e.readN(peer, len(want))
		assert.Equal(t, want, got)
		e.runUntil(func() bool { return !c.Writable() })
		assert.True(t, c.Readable(), "drained: reading again")
		assert.Zero(t, c.Pending())
	})
}

// TestPushOrder: Push, PushWithProducer and Push again reach the peer in
// that order whether the socket takes them at once, is full, or the pushes
// happen inside FoundTerminator (where they are written together after the
// input is handled).
func TestPushOrder(t *testing.T) {
	sequence := func(c interface {
		Push([]byte)
		PushWithProducer(producer.Producer)
	}) {
		c.Push([]byte("a"))
		c.PushWithProducer(producer.SimpleProducer([]byte("bcd"), 1))
		c.Push([]byte("e"))
	}
	forEachBackend(t, func(t *testing.T, e *env) {
		e.run("idle", func(t *testing.T, e *env) {
			c := newTakeChat(e.m, chat.DelimiterString("\n"))
			peer := e.pair(c)
			sequence(&c.AsyncChat)
			got, _ := e.readN(peer, 5)
			assert.Equal(t, "abcde", string(got))
		})
		e.run("full", func(t *testing.T, e *env) {
			c := newTakeChat(e.m, chat.DelimiterString("\n"))
			peer := e.pair(c)
			big := pattern(1 << 20)
			c.Push(big)
			require.Positive(t, c.Pending(), "the socket is full")
			sequence(&c.AsyncChat)
			got, _ := e.readN(peer, len(big)+5)
			require.Len(t, got, len(big)+5)
			assert.Equal(t, big, got[:len(big)])
			assert.Equal(t, "abcde", string(got[len(big):]))
		})
		e.run("in FoundTerminator", func(t *testing.T, e *env) {
			c := newTakeChat(e.m, chat.DelimiterString("\n"))
			c.reply = func(c *takeChat, frame []byte) {
				sequence(&c.AsyncChat)
				c.Push(append(frame, '\n'))
			}
			peer := e.pair(c)
			e.write(peer, []byte("x\ny\n"))
			got, _ := e.readN(peer, 14)
			assert.Equal(t, "abcdex\nabcdey\n", string(got))
		})
	})
}

// TestPushAfterCloseWhenDone: what is pushed after CloseWhenDone is
// dropped, whether the close is still waiting for queued output or has
// happened; the peer gets what came before, then EOF.
func TestPushAfterCloseWhenDone(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := newTestChat(t, e.m, chat.DelimiterString("\n"))
		peer := e.pair(c)
		big := pattern(1 << 20)
		c.Push(big)
		c.CloseWhenDone()
		pending := c.Pending()
		c.Push([]byte("dropped"))
		c.PushWithProducer(producer.SimpleProducer([]byte("dropped too"), 0))
		assert.Equal(t, pending, c.Pending(), "nothing queued after CloseWhenDone")
		assert.False(t, c.closed(), "still writing")

		got := e.readAll(peer)
		assert.Equal(t, big, got, "the data, then EOF")
		e.runUntil(c.closed)
		c.Push([]byte("after close")) // no panic, nothing happens
		assert.Equal(t, 1, c.closes)
		assert.Empty(t, c.errs)
	})
}

// TestCloseWhenDoneDelivers: CloseWhenDone with a megabyte queued keeps the
// channel open until the peer has been handed every byte, then closes it.
func TestCloseWhenDoneDelivers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := newTestChat(t, e.m, chat.DelimiterString("\n"))
		peer := e.pair(c)
		data := pattern(1 << 20)
		c.PushWithProducer(producer.SimpleProducer(data[:1000], 7))
		c.Push(data[1000:])
		c.CloseWhenDone()
		e.runFor(5)
		assert.False(t, c.closed(), "the peer has not read yet")

		got := e.readAll(peer)
		assert.Equal(t, data, got)
		e.runUntil(c.closed)
		assert.Equal(t, 1, c.closes)
		assert.Empty(t, c.errs)
	})
}

// TestConnectThenPush: a client chat pushes before its connect has
// finished; the output waits and is delivered once connected, as in
// asynchat (docs/asyncore-compat.md#initiate-send), and CloseWhenDone queued
// behind it closes the client once it is written.
func TestConnectThenPush(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { _ = ln.Close() })
		received := make(chan []byte, 1)
		go func() {
			conn, err := ln.Accept()
			if err != nil {
				received <- nil
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(waitFor))
			data, _ := io.ReadAll(conn)
			received <- data
		}()

		c := newTestChat(t, e.m, chat.DelimiterString("\n"))
		require.NoError(t, c.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
		require.NoError(t, c.Connect(ln.Addr().String()))
		c.Push([]byte("hello\n"))
		c.PushWithProducer(producer.SimpleProducer([]byte("world\n"), 2))
		if !c.Connected() {
			assert.True(t, c.Writable(), "connecting with output queued")
			assert.Equal(t, len("hello\n"), c.Pending())
		}
		c.CloseWhenDone()

		var got []byte
		e.runUntil(func() bool {
			select {
			case got = <-received:
				return true
			default:
				return false
			}
		})
		assert.Equal(t, "hello\nworld\n", string(got))
		e.runUntil(c.closed)
		assert.Empty(t, c.errs)
	})
}

// TestPipelinedReplies: sixteen requests in one write get sixteen replies,
// complete and in order. The replies that one read produces leave in one
// gathered write; a test cannot count system calls portably, so it checks
// what the peer receives.
func TestPipelinedReplies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := newTakeChat(e.m, chat.DelimiterString("\n"))
		c.reply = func(c *takeChat, frame []byte) {
			c.Push([]byte("+OK "))
			c.Push(frame)
			c.Push([]byte("\n"))
		}
		peer := e.pair(c)
		var req, want bytes.Buffer
		for i := range 16 {
			fmt.Fprintf(&req, "cmd %d\n", i)
			fmt.Fprintf(&want, "+OK cmd %d\n", i)
		}
		e.write(peer, req.Bytes())
		got, _ := e.readN(peer, want.Len())
		assert.Equal(t, want.String(), string(got))
		assert.Len(t, c.frames, 16)
		assert.Zero(t, c.Pending())
	})
}

// TestMaxLineCountsOnlyDelimitedInput: bytes collected under None or a
// length terminator are not part of a line, so switching to a delimiter
// afterwards starts counting from zero.
func TestMaxLineCountsOnlyDelimitedInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := newTestChat(t, e.m, chat.None)
		c.MaxLine = 16
		peer := e.pair(c)
		e.write(peer, bytes.Repeat([]byte("x"), 100))
		e.runUntil(func() bool { return len(c.cur) == 100 })
		c.cur = c.cur[:0]
		c.SetTerminator(chat.DelimiterString("\n"))
		e.write(peer, []byte("short\n"))
		e.runUntil(func() bool { return len(c.frames) == 1 || len(c.errs) > 0 })
		assert.Empty(t, c.errs)
		assert.Equal(t, []string{"short"}, c.frames)
	})
}

// TestHandleReadEOF: EOF with nothing queued closes the channel once, and a
// partial frame is not delivered as a frame
// (docs/asyncore-compat.md#handle-read-framing).
func TestHandleReadEOF(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := newTestChat(t, e.m, chat.DelimiterString("\r\n"))
		peer := e.pair(c)
		e.write(peer, []byte("done\r\npartial\r"))
		require.NoError(t, unix.Shutdown(peer, unix.SHUT_WR))
		e.runUntil(c.closed)
		assert.Equal(t, []string{"done"}, c.frames)
		assert.Equal(t, 1, c.closes)
		assert.Empty(t, c.errs)
	})
}

// TestDiscardBuffersInFoundTerminator: DiscardBuffers called from
// FoundTerminator also drops the rest of the input already read, as
// asynchat's does (its handle_read loop runs on ac_in_buffer, which
// discard_buffers empties; checked against CPython 3.11).
func TestDiscardBuffersInFoundTerminator(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := newTestChat(t, e.m, chat.DelimiterString("\n"))
		c.reply = func(c *testChat, frame string) {
			if frame == "one" {
				c.DiscardBuffers()
			}
		}
		peer := e.pair(c)
		e.write(peer, []byte("one\ntwo\nthree\n"))
		e.runUntil(func() bool { return len(c.frames) > 0 })
		e.runFor(3)
		assert.Equal(t, []string{"one"}, c.frames)
		e.write(peer, []byte("four\n"))
		e.runUntil(func() bool { return len(c.frames) > 1 })
		assert.Equal(t, []string{"one", "four"}, c.frames, "later input is framed as usual")
	})
}
