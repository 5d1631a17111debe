package chat_test

// Per-frame flow control: a chat stops framing pipelined requests as soon
// as its queued output is above OutHighWater, not only between reads, so a
// pipeline whose replies add up to far more than OutLimit is delivered in
// full to a client that reads, and costs a client that does not read no
// more than about OutHighWater plus one reply.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bulkChat answers every line with a reply of size bytes (bulkReply), as a
// file server answers pipelined GETs, and records the most output it ever
// held right after a reply, and the most input it held.
type bulkChat struct {
	chat.AsyncChat
	size   int
	frames int
	peak   int // the most output queued right after a reply was pushed
	peakIn int // the most input held (ChannelStats.InBuffered)
	errs   []error
	// push queues a reply; Push when nil.
	push func(c *bulkChat, reply []byte)
}

func newBulkChat(e *env, size int) *bulkChat {
	c := &bulkChat{size: size}
	c.Init(c, e.m)
	c.Logger = quiet
	c.SetTerminator(chat.DelimiterString("\n"))
	return c
}

func (c *bulkChat) FoundTerminator() {
	c.TakeData()
	reply := bulkReply(c.frames, c.size)
	c.frames++
	if c.push != nil {
		c.push(c, reply)
	} else {
		c.Push(reply)
	}
	c.watch()
}

// watch records the peaks of queued output and held input.
func (c *bulkChat) watch() {
	s := c.ChannelStats()
	c.peak = max(c.peak, c.Pending(), s.OutBuffered)
	c.peakIn = max(c.peakIn, s.InBuffered)
}

func (c *bulkChat) HandleError(err error) {
	c.errs = append(c.errs, err)
	c.AsyncChat.HandleError(err)
}

// bulkReply is reply i: its number, then size-8 bytes that depend on it,
// so that a lost, repeated or reordered reply shows up.
func bulkReply(i, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint64(b, uint64(i))
	for k := 8; k < size; k++ {
		b[k] = byte(i + k*7)
	}
	return b
}

// checkReplies reports the first of n replies of size bytes that got does
// not hold, or nil if all are there, in order.
func checkReplies(got []byte, n, size int) error {
	if len(got) != n*size {
		return fmt.Errorf("got %d bytes, want %d (%d replies of %d)", len(got), n*size, n, size)
	}
	for i := range n {
		if !bytes.Equal(got[i*size:(i+1)*size], bulkReply(i, size)) {
			return fmt.Errorf("reply %d differs", i)
		}
	}
	return nil
}

// pipeline writes n requests in one write, then, if halfClose, shuts down
// its sending side, and reads want bytes (to EOF if want is negative).
func pipeline(cli *net.TCPConn, n int, halfClose bool, want int) <-chan readResult {
	got := make(chan readResult, 1)
	go func() {
		_ = cli.SetDeadline(time.Now().Add(waitFor))
		if _, err := cli.Write(bytes.Repeat([]byte("GET\n"), n)); err != nil {
			got <- readResult{nil, err}
			return
		}
		if halfClose {
			if err := cli.CloseWrite(); err != nil {
				got <- readResult{nil, err}
				return
			}
		}
		if want < 0 {
			b, err := io.ReadAll(cli)
			got <- readResult{b, err}
			return
		}
		b := make([]byte, want)
		k, err := io.ReadFull(cli, b)
		got <- readResult{b[:k], err}
	}()
	return got
}

// TestPipelineOverOutLimit is issue 11's pipelining attack turned into an
// honest client: 64 requests sent in one write, whose 16 KiB replies add
// up to 1 MiB, four times OutLimit, all read by the client. (The server's
// send buffer is fixed at 16 KiB, so the kernel cannot absorb what the
// chat would otherwise queue.)
// Every byte arrives, in order, and the connection stays open (or, after
// the client's half-close, closes only once everything is written). The
// output queue never holds more than OutHighWater plus one reply. With
// FramesPerRead 3, framing stops for both reasons in turn.
func TestPipelineOverOutLimit(t *testing.T) {
	const (
		n         = 64
		size      = 16 << 10
		highWater = 64 << 10
		outLimit  = 256 << 10
	)
	for _, tc := range []struct {
		halfClose     bool
		framesPerRead int
	}{{false, 0}, {true, 0}, {false, 3}, {true, 3}} {
		halfClose := tc.halfClose
		name := fmt.Sprintf("halfclose=%v/frames=%d", halfClose, tc.framesPerRead)
		t.Run(name, func(t *testing.T) {
			forEachBackendParallel(t, func(t *testing.T, e *env) {
				c := newBulkChat(e, size)
				c.FramesPerRead = tc.framesPerRead
				c.OutHighWater = highWater
				c.OutLimit = outLimit
				cli := adoptTCP(t, c)
				setSndbuf(t, c.Fd(), 16<<10)
				want := n * size
				if halfClose {
					want = -1 // to EOF
				}
				r := await(e, pipeline(cli, n, halfClose, want))
				require.NoError(t, r.err)
				assert.NoError(t, checkReplies(r.data, n, size))
				assert.Empty(t, c.errs)
				assert.Equal(t, n, c.frames)
				assert.LessOrEqual(t, c.peak, highWater+size, "queue peak %d", c.peak)
				if halfClose {
					e.runUntil(func() bool { return c.Fd() < 0 })
				} else {
					assert.GreaterOrEqual(t, c.Fd(), 0, "the connection stays open")
					_ = c.Close()
				}
				t.Logf("queue peak %d bytes (OutHighWater %d, reply %d)", c.peak, highWater, size)
			})
		})
	}
}

// TestPipelineRepliesNearOutLimit: replies of just under OutLimit each,
// pipelined. Each one alone is allowed; what is still queued of the one
// before must not count against the next (issue 11: only a single reply
// over OutLimit may close the connection). Five of them are delivered.
func TestPipelineRepliesNearOutLimit(t *testing.T) {
	const (
		n        = 5
		outLimit = 256 << 10
		size     = outLimit - 100
	)
	forEachBackendParallel(t, func(t *testing.T, e *env) {
		c := newBulkChat(e, size)
		c.OutHighWater = 64 << 10
		c.OutLimit = outLimit
		cli := adoptTCP(t, c)
		setSndbuf(t, c.Fd(), 4096) // so that a reply is still queued when the next is framed
		r := await(e, pipeline(cli, n, false, n*size))
		require.NoError(t, r.err)
		assert.NoError(t, checkReplies(r.data, n, size))
		assert.Empty(t, c.errs)
		_ = c.Close()
	})
}

// TestPipelineNeverRead: a client pipelines 200 requests and never reads.
// The chat frames only until its queue is above OutHighWater, then holds
// the rest of the input unframed and reads nothing more: the queue stays
// within OutHighWater plus one reply, and the input held within one read.
// When the socket buffers are full, nothing is written any more, and
// WriteStallTimeout closes the connection.
func TestPipelineNeverRead(t *testing.T) {
	const (
		n         = 200
		size      = 16 << 10
		highWater = 64 << 10
		inBuf     = 4096
	)
	forEachBackend(t, func(t *testing.T, e *env) {
		c := newBulkChat(e, size)
		c.OutHighWater = highWater
		c.InBufferSize = inBuf
		c.WriteStallTimeout = 100 * time.Millisecond
		cli := adoptTCP(t, c)
		require.NoError(t, cli.SetReadBuffer(4096))
		setSndbuf(t, c.Fd(), 4096)
		_, err := cli.Write(bytes.Repeat([]byte("GET\n"), n))
		require.NoError(t, err)

		held := false
		e.runUntil(func() bool {
			if c.Fd() < 0 {
				return true
			}
			c.watch()
			if c.frames > 0 && c.frames < n {
				held = held || !c.Readable()
			}
			return false
		})
		require.Len(t, c.errs, 1)
		assert.ErrorIs(t, c.errs[0], dispatcher.ErrWriteStall)
		assert.Less(t, c.frames, n, "framing stopped")
		assert.True(t, held, "no reading while input is held")
		assert.LessOrEqual(t, c.peak, highWater+size, "queue peak %d", c.peak)
		assert.LessOrEqual(t, c.peakIn, inBuf, "input held %d", c.peakIn)
		t.Logf("framed %d of %d requests; queue peak %d bytes, input held %d", c.frames, n, c.peak, c.peakIn)
	})
}

// TestSingleReplyOverOutLimit: one reply larger than OutLimit still fails
// the connection with ErrOutputLimit; per-frame flow control bounds what a
// pipeline queues, not what one reply may be.
func TestSingleReplyOverOutLimit(t *testing.T) {
	const outLimit = 256 << 10
	forEachBackend(t, func(t *testing.T, e *env) {
		c := newBulkChat(e, outLimit+1)
		c.OutLimit = outLimit
		cli := adoptTCP(t, c)
		setSndbuf(t, c.Fd(), 4096)
		got := pipeline(cli, 3, false, -1)
		e.runUntil(func() bool { return c.Fd() < 0 })
		require.Len(t, c.errs, 1)
		assert.ErrorIs(t, c.errs[0], chat.ErrOutputLimit)
		assert.Equal(t, 1, c.frames, "nothing is framed after the failure")
		r := await(e, got)
		assert.Less(t, len(r.data), outLimit+1, "the reply is not delivered")
	})
}
