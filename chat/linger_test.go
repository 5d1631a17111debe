package chat_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// errReply is what errChat answers a too-long line with: an error line with
// a 256 KiB explanation, far more than the client's receive window, so that
// part of it is still queued in the server's kernel
// when the chat closes.
var errReply = []byte("-ERR line too long: " + strings.Repeat("x", 256<<10) + "\r\n")

// clientRcvbuf bounds the client's receive window. Much smaller, and the
// transfer stalls on zero-window probes; much larger, and the kernel
// absorbs the whole reply, so the RST loses nothing.
const clientRcvbuf = 32 << 10

// errChat answers ErrLineTooLong with an error line, as a Redis-like server
// does, and lets the chat close once it is written (AsyncChat.fail then
// calls CloseWhenDone). It counts HandleClose calls.
type errChat struct {
	chat.AsyncChat
	closes int
}

func (c *errChat) CollectIncomingData([]byte) {}
func (c *errChat) FoundTerminator()           {}

func (c *errChat) HandleError(err error) {
	if errors.Is(err, chat.ErrLineTooLong) {
		c.Push(errReply)
		return
	}
	c.AsyncChat.HandleError(err)
}

func (c *errChat) HandleClose() {
	c.closes++
	c.AsyncChat.HandleClose()
}

// errorReplyOnce runs one round of F17 lingering-close: the client writes
// 256 KiB without a delimiter in one Write and reads nothing until that Write
// returns, then reads to EOF and closes. It reports whether the client got the
// error line.
func errorReplyOnce(t *testing.T, e *env, linger time.Duration) bool {
	t.Helper()
	c := &errChat{}
	c.Init(c, e.m)
	c.Logger = quiet
	c.MaxLine = 64 << 10
	c.LingerTimeout = linger
	c.SetTerminator(chat.DelimiterString("\r\n"))
	cli := adoptTCP(t, c)
	// Bound the client's receive window, so that most of the reply is
	// still queued in the chat's socket, unsent, when the chat closes.
	require.NoError(t, cli.SetReadBuffer(clientRcvbuf))

	got := make(chan readResult, 1)
	go func() {
		_ = cli.SetDeadline(time.Now().Add(waitFor))
		_, werr := cli.Write(bytes.Repeat([]byte("A"), 256<<10))
		b, err := io.ReadAll(cli)
		if err == nil {
			err = werr
		}
		_ = cli.Close() // the server's drain ends at this EOF
		got <- readResult{b, err}
	}()
	e.runUntil(func() bool { return c.Fd() < 0 })
	r := await(e, got)
	assert.Equal(t, 1, c.closes, "HandleClose exactly once")
	return bytes.Equal(r.data, errReply)
}

// TestErrorReplySurvivesClose is F17 (lingering-close, docs/failure-modes.md).
// A peer that is still sending when the chat closes would make the kernel
// answer with RST, which can destroy the error reply just written; the
// lingering close (shut down the sending side, drain the input until EOF, then
// close) lets the reply through. 20 rounds per backend (200 on the first in the
// long runs, testutil.Long): the reply must arrive in at least all but one. In
// the long runs the same rounds with lingering off are run and only logged, to
// document what the kernel does without it.
func TestErrorReplySurvivesClose(t *testing.T) {
	first := looptest.Backends()[0]
	forEachBackendParallel(t, func(t *testing.T, e *env) {
		rounds := 20
		if e.kind == first && testutil.Long() {
			rounds = 200
		}
		before := dispatcher.Stats(e.m).LimitCloses
		ok := 0
		for range rounds {
			if errorReplyOnce(t, e, 0) {
				ok++
			}
		}
		t.Logf("lingering close: error reply received in %d of %d rounds", ok, rounds)
		assert.GreaterOrEqual(t, ok, rounds-1)
		assert.Equal(t, uint64(rounds), dispatcher.Stats(e.m).LimitCloses-before, "Stats.LimitCloses counts every round")

		if !testutil.Long() {
			return
		}
		off := 0
		for range rounds {
			if errorReplyOnce(t, e, -1) {
				off++
			}
		}
		t.Logf("without lingering: error reply received in %d of %d rounds", off, rounds)
	})
}

// TestLingerEndsAtTimeout checks the other way a lingering close ends: a
// peer that keeps its side open and sends nothing more is closed
// LingerTimeout after the drain began, not before, HandleClose runs once,
// and the timeout is counted. The loop runs on a fake clock, so the linger
// cannot run out while a busy machine delivers the reply.
func TestLingerEndsAtTimeout(t *testing.T) {
	forEachFakeClock(t, func(t *testing.T, e *env, clk *testutil.FakeClock) {
		const linger = 200 * time.Millisecond
		c := &errChat{}
		c.Init(c, e.m)
		c.Logger = quiet
		c.MaxLine = 1024
		c.LingerTimeout = linger
		c.SetTerminator(chat.DelimiterString("\r\n"))
		cli := adoptTCP(t, c)

		got := make(chan readResult, 1)
		go func() {
			_ = cli.SetDeadline(time.Now().Add(waitFor))
			if _, err := cli.Write(bytes.Repeat([]byte("B"), 8<<10)); err != nil {
				got <- readResult{nil, err}
				return
			}
			b, err := io.ReadAll(cli) // the reply, then EOF from the shutdown
			got <- readResult{b, err}
		}()
		r := await(e, got)
		require.NoError(t, r.err)
		assert.True(t, bytes.Equal(errReply, r.data), "got %d bytes of the %d-byte reply", len(r.data), len(errReply))
		require.GreaterOrEqual(t, c.Fd(), 0, "still draining: the client has not closed")

		timeouts := dispatcher.Stats(e.m).Timeouts
		clk.Advance(linger - margin)
		e.settle()
		require.GreaterOrEqual(t, c.Fd(), 0, "closed before LingerTimeout")
		clk.Advance(2 * margin)
		e.settle()
		require.Negative(t, c.Fd(), "still open LingerTimeout after the drain began")
		assert.Equal(t, 1, c.closes)
		assert.Equal(t, timeouts+1, dispatcher.Stats(e.m).Timeouts)
	})
}

// TestNoLingerWhenInputRead checks that a CloseWhenDone with no input left
// unread closes at once, without waiting for the peer.
func TestNoLingerWhenInputRead(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := &errChat{}
		c.Init(c, e.m)
		c.Logger = quiet
		c.SetTerminator(chat.DelimiterString("\n"))
		cli := adoptTCP(t, c)
		c.Push([]byte("bye\n"))
		c.CloseWhenDone()
		e.runUntil(func() bool { return c.Fd() < 0 })
		_ = cli.SetDeadline(time.Now().Add(waitFor))
		b, err := io.ReadAll(cli)
		require.NoError(t, err)
		assert.Equal(t, "bye\n", string(b))
	})
}
