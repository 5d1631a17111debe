package chat_test

// AsyncChat's limits and output guarantees, one test per failure mode of
// docs/failure-modes.md (F8 unbounded-line, F9 announced-length,
// F10 unbounded-output and its backpressure, F13 partial-writes,
// F15 half-close, F22 frames-after-close) plus the idle-memory check of
// F11 slowloris. Peers are Go net connections in goroutines or raw socketpair
// ends; the chat's loop runs in the test goroutine.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/asyncore-go/asyncore/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// adoptTCP gives c the server end of a fresh TCP connection and returns the
// client end.
func adoptTCP(t *testing.T, c interface{ AdoptConn(io.Closer) error }) *net.TCPConn {
	t.Helper()
	srv, cli := testutil.TCPConns(t)
	if err := c.AdoptConn(srv); err != nil {
		_ = srv.Close()
		t.Fatalf("AdoptConn: %v", err)
	}
	return cli
}

// await runs the loop until a result arrives on ch.
func await[T any](e *env, ch <-chan T) T {
	e.t.Helper()
	var v T
	e.runUntil(func() bool {
		select {
		case v = <-ch:
			return true
		default:
			return false
		}
	})
	return v
}

// readResult is what readAllAsync delivers: everything read up to EOF, or
// the error that stopped it.
type readResult struct {
	data []byte
	err  error
}

// readAllAsync runs first (if not nil) and then reads cli to EOF in a
// goroutine, all within waitFor, delivering the outcome on the returned
// channel so the test goroutine can keep driving the loop (see await).
func readAllAsync(cli *net.TCPConn, first func() error) <-chan readResult {
	got := make(chan readResult, 1)
	go func() {
		_ = cli.SetDeadline(time.Now().Add(waitFor))
		if first != nil {
			if err := first(); err != nil {
				got <- readResult{nil, err}
				return
			}
		}
		b, err := io.ReadAll(cli) // nil error at EOF
		got <- readResult{b, err}
	}()
	return got
}

// setSndbuf shrinks fd's send buffer. Setting SO_SNDBUF also turns off
// Linux's send-buffer autotuning, which would otherwise let the kernel
// absorb megabytes before the chat's own queue grows (tcp(7)).
func setSndbuf(t *testing.T, fd, size int) {
	t.Helper()
	require.NoError(t, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, size))
}

// limitChat counts the bytes of the frame being collected and records the
// peak, frames and errors.
type limitChat struct {
	chat.AsyncChat
	cur, peak int
	frames    []int
	errs      []error
}

func (c *limitChat) CollectIncomingData(data []byte) {
	c.cur += len(data)
	c.peak = max(c.peak, c.cur)
}

func (c *limitChat) FoundTerminator() {
	c.frames = append(c.frames, c.cur)
	c.cur = 0
}

func (c *limitChat) HandleError(err error) {
	c.errs = append(c.errs, err)
	c.AsyncChat.HandleError(err) // logs (quietly) and closes
}

// TestLineLimit is F8 (unbounded-line, docs/failure-modes.md) with MaxLine =
// 4 KiB. "stream" is a port of Redis's protocol-desync test: a client streams
// "A"s without a delimiter; the chat fails with ErrLineTooLong and closes,
// having collected at most MaxLine bytes of the line (the CollectIncomingData
// override counts them). "boundary" is F8(c) unbounded-line: a line of exactly
// MaxLine bytes is accepted and one of MaxLine+1 rejected, at several read
// sizes, so that the delimiter is split across reads at different offsets.
func TestLineLimit(t *testing.T) {
	t.Run("stream", lineLimitStream)
	t.Run("boundary", lineLimitBoundary)
}

func lineLimitStream(t *testing.T) {
	const maxLine = 4096
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, inBuf := range []int{1000, 0} {
			e.run("read="+strconv.Itoa(inBuf), func(t *testing.T, e *env) {
				c := &limitChat{}
				c.Init(c, e.m)
				c.Logger = quiet
				c.MaxLine = maxLine
				c.InBufferSize = inBuf
				c.SetTerminator(chat.DelimiterString("\r\n"))
				cli := adoptTCP(t, c)

				sent := make(chan int64, 1)
				go func() {
					chunk := bytes.Repeat([]byte("A"), 1024)
					var n int64
					_ = cli.SetWriteDeadline(time.Now().Add(waitFor))
					for n < 10<<20 {
						k, err := cli.Write(chunk)
						n += int64(k)
						if err != nil {
							break
						}
					}
					sent <- n
				}()
				e.runUntil(func() bool { return c.Fd() < 0 })
				n := await(e, sent)
				require.Len(t, c.errs, 1)
				assert.ErrorIs(t, c.errs[0], chat.ErrLineTooLong)
				readSize := inBuf
				if readSize == 0 {
					readSize = chat.DefaultBufferSize
				}
				assert.LessOrEqual(t, c.peak, maxLine+readSize, "held at most MaxLine + one read")
				assert.LessOrEqual(t, c.peak, maxLine, "collected at most MaxLine")
				assert.Empty(t, c.frames)
				assert.Less(t, n, int64(10<<20), "the client's writes failed once the chat closed")
				t.Logf("peak %d bytes collected; client wrote %d bytes before failing", c.peak, n)
			})
		}
	})
}

func lineLimitBoundary(t *testing.T) {
	const maxLine = 4096
	cases := []struct {
		name string
		line int
		ok   bool
	}{
		{"MaxLine", maxLine, true},
		{"MaxLine+1", maxLine + 1, false},
	}
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, tc := range cases {
			for _, read := range []int{1, 2, 3, 7, 1000, maxLine - 1, maxLine, maxLine + 1, maxLine + 2, 0} {
				e.run(fmt.Sprintf("%s/read=%d", tc.name, read), func(t *testing.T, e *env) {
					c := &limitChat{}
					c.Init(c, e.m)
					c.Logger = quiet
					c.MaxLine = maxLine
					c.InBufferSize = read
					c.SetTerminator(chat.DelimiterString("\r\n"))
					peer := e.pair(c)
					input := append(bytes.Repeat([]byte("A"), tc.line), "\r\nok\r\n"...)
					e.write(peer, input)
					if tc.ok {
						e.runUntil(func() bool { return len(c.frames) == 2 })
						assert.Equal(t, []int{tc.line, 2}, c.frames)
						assert.Empty(t, c.errs)
						_ = c.Close()
						return
					}
					e.runUntil(func() bool { return c.Fd() < 0 })
					require.Len(t, c.errs, 1)
					assert.ErrorIs(t, c.errs[0], chat.ErrLineTooLong)
					assert.Empty(t, c.frames, "no frame is delivered after the limit")
					assert.LessOrEqual(t, c.peak, maxLine)
				})
			}
		}
	})
}

// lengthChat is a protocol with a decimal length line before each body:
// "<n>\r\n" then n bytes. It uses the default collector, so MaxMessage
// applies to the body as well as to the announced length.
type lengthChat struct {
	chat.AsyncChat
	inBody bool
	bodies [][]byte
	errs   []error
}

func (c *lengthChat) FoundTerminator() {
	data := c.TakeData()
	if c.inBody {
		c.bodies = append(c.bodies, bytes.Clone(data))
		c.inBody = false
		c.SetTerminator(chat.DelimiterString("\r\n"))
		return
	}
	n, err := strconv.Atoi(string(data))
	if err != nil || n < 0 {
		c.HandleError(fmt.Errorf("bad length %q", data))
		return
	}
	c.inBody = true
	c.SetTerminator(chat.Length(n))
}

func (c *lengthChat) HandleError(err error) {
	c.errs = append(c.errs, err)
	c.AsyncChat.HandleError(err)
}

// TestNumericTerminatorNoPrealloc is F9 (announced-length,
// docs/failure-modes.md): a length announced by the peer allocates nothing up
// front. A terabyte announcement fails with ErrMessageTooLarge and closes
// having allocated under 1 MiB; a body of MaxMessage-1 bytes, sent 1 KiB at a
// time, is delivered with allocation proportional to the body; MaxMessage is
// accepted and MaxMessage+1 refused.
func TestNumericTerminatorNoPrealloc(t *testing.T) {
	const maxMessage = 64 << 10
	newChat := func(e *env) (*lengthChat, int) {
		c := &lengthChat{}
		c.Init(c, e.m)
		c.Logger = quiet
		c.MaxMessage = maxMessage
		c.SetTerminator(chat.DelimiterString("\r\n"))
		return c, e.pair(c)
	}
	forEachBackend(t, func(t *testing.T, e *env) {
		e.run("terabyte", func(t *testing.T, e *env) {
			c, peer := newChat(e)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			e.write(peer, []byte("1099511627776\r\n0123456789"))
			e.runUntil(func() bool { return c.Fd() < 0 })
			runtime.ReadMemStats(&after)
			require.Len(t, c.errs, 1)
			assert.ErrorIs(t, c.errs[0], chat.ErrMessageTooLarge)
			assert.Empty(t, c.bodies)
			grew := after.TotalAlloc - before.TotalAlloc
			assert.Less(t, grew, uint64(1<<20), "allocated %d bytes", grew)
			t.Logf("allocated %d bytes handling a 1 TiB announcement", grew)
		})
		e.run("MaxMessage-1 in 1KiB pieces", func(t *testing.T, e *env) {
			c, peer := newChat(e)
			// Reads of 1 KiB, like the pieces: a pooled read buffer is then
			// small, which matters under the race detector, whose
			// sync.Pool drops buffers at random.
			c.InBufferSize = 1024
			n := maxMessage - 1
			body := pattern(n)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			e.write(peer, []byte(strconv.Itoa(n)+"\r\n"))
			e.runUntil(func() bool { return c.inBody })
			for off := 0; off < n; off += 1024 {
				piece := body[off:min(off+1024, n)]
				e.write(peer, piece)
				left := n - off - len(piece)
				e.runUntil(func() bool {
					got, _ := c.Terminator().Len()
					return got == left || len(c.bodies) == 1
				})
			}
			e.runUntil(func() bool { return len(c.bodies) == 1 })
			runtime.ReadMemStats(&after)
			assert.Empty(t, c.errs)
			assert.Equal(t, body, c.bodies[0])
			grew := after.TotalAlloc - before.TotalAlloc
			// TotalAlloc counts garbage too: append grows the collector by
			// 1.25x at this size, so its successive arrays add up to about
			// 4n; the body is cloned (n); read buffers add at most one
			// small buffer per piece. Proportional to what arrived, and
			// nothing like the announced length allocated up front.
			assert.Less(t, grew, uint64(6*n+64<<10), "allocated %d bytes for a %d-byte body", grew, n)
			t.Logf("allocated %d bytes for a %d-byte body", grew, n)
		})
		for _, tc := range []struct {
			n  int
			ok bool
		}{{maxMessage, true}, {maxMessage + 1, false}} {
			e.run("length="+strconv.Itoa(tc.n), func(t *testing.T, e *env) {
				c, peer := newChat(e)
				e.write(peer, []byte(strconv.Itoa(tc.n)+"\r\n"))
				e.write(peer, pattern(tc.n))
				if tc.ok {
					e.runUntil(func() bool { return len(c.bodies) == 1 })
					assert.Empty(t, c.errs)
					assert.Equal(t, pattern(tc.n), c.bodies[0])
					_ = c.Close()
					return
				}
				e.runUntil(func() bool { return c.Fd() < 0 })
				require.Len(t, c.errs, 1)
				assert.ErrorIs(t, c.errs[0], chat.ErrMessageTooLarge)
				assert.Empty(t, c.bodies)
			})
		}
	})
}

// pushChat is a server that only writes; it records errors.
type pushChat struct {
	chat.AsyncChat
	errs []error
}

func (c *pushChat) HandleError(err error) {
	c.errs = append(c.errs, err)
	c.AsyncChat.HandleError(err)
}

// TestObufHard is F10(a) (unbounded-output, docs/failure-modes.md): a client
// that never reads, with a small receive buffer, while the server pushes a
// 1 KiB message every millisecond. Once OutLimit is passed the chat fails with
// ErrOutputLimit and closes; the queue never held more than OutLimit plus one
// message.
func TestObufHard(t *testing.T) {
	const outLimit = 256 << 10
	msg := bytes.Repeat([]byte("m"), 1024)
	forEachBackend(t, func(t *testing.T, e *env) {
		c := &pushChat{}
		c.Init(c, e.m)
		c.Logger = quiet
		c.OutLimit = outLimit
		c.OutHighWater = -1 // nothing to read anyway
		cli := adoptTCP(t, c)
		require.NoError(t, cli.SetReadBuffer(4096))
		setSndbuf(t, c.Fd(), 4096)

		peak, pushes := 0, 0
		timer := e.l.Every(time.Millisecond, func() {
			if c.Fd() < 0 {
				return
			}
			peak = max(peak, c.Pending()+len(msg))
			c.Push(msg)
			pushes++
		})
		defer timer.Stop()
		e.runUntil(func() bool { return c.Fd() < 0 })
		require.Len(t, c.errs, 1)
		assert.ErrorIs(t, c.errs[0], chat.ErrOutputLimit)
		assert.Less(t, peak, outLimit+len(msg)+1, "peak queue %d", peak)
		assert.Zero(t, c.Pending(), "the queue is released")
		t.Logf("closed after %d pushes; peak queue %d bytes", pushes, peak)
	})
}

// pipeChat answers "GET nnnnnnnn\n" with a 52-byte "VALUE nnnnnnnn …\n",
// four bytes out for every byte in.
type pipeChat struct {
	chat.AsyncChat
	reply []byte
}

const (
	requestLen = len("GET 00000000\n")
	replyLen   = 52
)

func (c *pipeChat) FoundTerminator() {
	req := c.TakeData()
	c.reply = append(c.reply[:0], "VALUE "...)
	c.reply = append(c.reply, req[4:]...)
	for len(c.reply) < replyLen-1 {
		c.reply = append(c.reply, '.')
	}
	c.Push(append(c.reply, '\n'))
}

func request(i int) []byte { return fmt.Appendf(nil, "GET %08d\n", i) }
func replyFor(i int) []byte {
	return fmt.Appendf(nil, "VALUE %08d%s\n", i, bytes.Repeat([]byte("."), replyLen-1-14))
}

// TestPipelineBackpressure is F10(c) (unbounded-output, docs/failure-modes.md):
// a client pipelines small requests and reads nothing. The chat stops reading
// once its queue is over OutHighWater, so the queue stays within OutHighWater
// plus the replies to one read, and the client's writes block. Once the client
// reads, every reply arrives, complete and in order.
func TestPipelineBackpressure(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the client's writes to block")
	}
	const (
		highWater = 64 << 10
		readSize  = 4096
		maxSend   = 8 << 20
	)
	bound := highWater + (readSize/requestLen+1)*replyLen
	// Parallel: each backend mostly waits for its client's write deadline.
	forEachBackendParallel(t, func(t *testing.T, e *env) {
		c := &pipeChat{}
		c.Init(c, e.m)
		c.Logger = quiet
		c.OutHighWater = highWater
		c.InBufferSize = readSize
		c.SetTerminator(chat.DelimiterString("\n"))
		cli := adoptTCP(t, c)
		// A small server send buffer makes the replies queue in the chat
		// soon. Fixed, moderate buffers on the request path make the
		// client's writes block soon after the chat stops reading, without
		// the crawl of a tiny TCP window; fixing them also stops Linux
		// from autotuning them to megabytes.
		setSndbuf(t, c.Fd(), 4096)
		require.NoError(t, unix.SetsockoptInt(c.Fd(), unix.SOL_SOCKET, unix.SO_RCVBUF, 64<<10))
		require.NoError(t, cli.SetWriteBuffer(64<<10))

		type result struct {
			n   int
			err error
		}
		written := make(chan result, 1)
		go func() {
			var batch []byte
			n, i := 0, 0
			for n < maxSend {
				batch = batch[:0]
				for len(batch)+requestLen <= 4096 {
					batch = append(batch, request(i)...)
					i++
				}
				// No progress for a second means the writes block.
				_ = cli.SetWriteDeadline(time.Now().Add(time.Second))
				k, err := cli.Write(batch)
				n += k
				if err != nil {
					written <- result{n, err}
					return
				}
			}
			written <- result{n, nil}
		}()

		peak, paused := 0, false
		watch := func() {
			peak = max(peak, c.Pending())
			paused = paused || !c.Readable()
		}
		var w result
		e.runUntil(func() bool {
			watch()
			select {
			case w = <-written:
				return true
			default:
				return false
			}
		})
		assert.ErrorIs(t, w.err, os.ErrDeadlineExceeded, "the client's writes blocked")
		assert.Less(t, w.n, maxSend)
		assert.True(t, paused, "the chat stopped reading")
		assert.LessOrEqual(t, peak, bound, "queue peak %d", peak)
		requests := w.n / requestLen
		t.Logf("client wrote %d requests before blocking; queue peak %d (bound %d)", requests, peak, bound)

		readErr := make(chan error, 1)
		go func() {
			_ = cli.SetReadDeadline(time.Now().Add(waitFor))
			r := bufio.NewReader(cli)
			line := make([]byte, replyLen)
			for i := range requests {
				if _, err := io.ReadFull(r, line); err != nil {
					readErr <- fmt.Errorf("reply %d: %w", i, err)
					return
				}
				if !bytes.Equal(line, replyFor(i)) {
					readErr <- fmt.Errorf("reply %d: got %q", i, line)
					return
				}
			}
			readErr <- nil
		}()
		var err error
		e.runUntil(func() bool {
			watch()
			select {
			case err = <-readErr:
				return true
			default:
				return false
			}
		})
		assert.NoError(t, err)
		assert.LessOrEqual(t, peak, bound, "queue peak %d", peak)
		e.runUntil(func() bool { watch(); return c.Pending() == 0 })
		assert.True(t, c.Readable(), "reading again once drained")
		_ = cli.Close()
		e.runUntil(func() bool { return c.Fd() < 0 })
	})
}

// TestOutputIntegrity is F13(a) (partial-writes, docs/failure-modes.md): with a
// 4 KiB send buffer, about 1 MB (4 MB in the long runs, testutil.Long) pushed as a random mix of Push and producers
// (chunk sizes from 1 byte up, empty pushes and empty producers included)
// reaches a client that reads in random-size chunks byte for byte: the SHA-256
// of what arrives is that of what was pushed.
func TestOutputIntegrity(t *testing.T) {
	// 1 MiB through a 4 KiB buffer is already hundreds of partial writes
	// of every kind of chunk; the long runs push 4 MiB.
	total := testutil.Rounds(1<<20, 4<<20)
	forEachBackendParallel(t, func(t *testing.T, e *env) {
		c := &pushChat{}
		c.Init(c, e.m)
		c.Logger = quiet
		cli := adoptTCP(t, c)
		setSndbuf(t, c.Fd(), 4096)

		type result struct {
			sum [32]byte
			n   int64
			err error
		}
		got := make(chan result, 1)
		go func() {
			rng := rand.New(rand.NewPCG(3, 4))
			h := sha256.New()
			buf := make([]byte, 3000)
			var n int64
			_ = cli.SetReadDeadline(time.Now().Add(waitFor))
			for {
				k, err := cli.Read(buf[:1+rng.IntN(len(buf))])
				h.Write(buf[:k])
				n += int64(k)
				if err == io.EOF {
					break
				}
				if err != nil {
					got <- result{n: n, err: err}
					return
				}
			}
			var r result
			h.Sum(r.sum[:0])
			r.n = n
			got <- r
		}()

		rng := rand.New(rand.NewPCG(1, 2))
		random := func(n int) []byte {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			return b
		}
		h := sha256.New()
		pushed := 0
		ops := map[string]int{}
		for pushed < total {
			var data []byte
			switch op := rng.IntN(5); op {
			case 0, 1:
				data = random(rng.IntN(9000)) // may be empty
				c.Push(data)
				ops["push"]++
			case 2:
				data = random(rng.IntN(20000))
				c.PushWithProducer(producer.SimpleProducer(data, 1+rng.IntN(9000)))
				ops["producer"]++
			case 3:
				data = random(rng.IntN(64))
				c.PushWithProducer(producer.SimpleProducer(data, 1))
				ops["1-byte producer"]++
			case 4:
				c.PushWithProducer(producer.SimpleProducer(nil, 1+rng.IntN(10)))
				ops["empty producer"]++
			}
			h.Write(data)
			pushed += len(data)
			if c.Pending() > 64<<10 {
				e.runUntil(func() bool { return c.Pending() < 16<<10 })
			}
		}
		c.CloseWhenDone()
		r := await(e, got)
		e.runUntil(func() bool { return c.Fd() < 0 })
		require.NoError(t, r.err)
		assert.Equal(t, int64(pushed), r.n)
		assert.Equal(t, h.Sum(nil), r.sum[:], "SHA-256 of the bytes received")
		assert.Empty(t, c.errs)
		t.Logf("%d bytes; ops %v", pushed, ops)
	})
}

// TestCloseWhenDoneLarge is F13(c) (partial-writes, docs/failure-modes.md):
// 1 MB pushed (5 MB in the long runs), then CloseWhenDone; the client reads
// all of it and then a clean EOF.
func TestCloseWhenDoneLarge(t *testing.T) {
	data := pattern(testutil.Rounds(1<<20, 5<<20))
	forEachBackendParallel(t, func(t *testing.T, e *env) {
		c := &pushChat{}
		c.Init(c, e.m)
		c.Logger = quiet
		cli := adoptTCP(t, c)
		// Fixed 16 KiB buffers (no autotuning to megabytes), so that
		// most of the 1 MB is still queued in the chat at CloseWhenDone.
		setSndbuf(t, c.Fd(), 16<<10)
		require.NoError(t, cli.SetReadBuffer(16<<10))
		got := readAllAsync(cli, nil)
		c.Push(data)
		require.Positive(t, c.Pending(), "queued when CloseWhenDone is called")
		c.CloseWhenDone()
		r := await(e, got)
		require.NoError(t, r.err)
		assert.Equal(t, len(data), len(r.data))
		assert.True(t, bytes.Equal(data, r.data), "the bytes differ")
		e.runUntil(func() bool { return c.Fd() < 0 })
		assert.Empty(t, c.errs)
	})
}

// TestHalfCloseGetsReply is F15(a) (half-close, docs/failure-modes.md): the
// client sends "PING\r\n" and shuts down its sending side (nc -N); it still
// reads the reply and then EOF — also when the reply is too large to have been
// written before the EOF is read, so that it is still queued then (1 MB
// behind 16 KiB socket buffers; 4 MB in the long runs).
func TestHalfCloseGetsReply(t *testing.T) {
	for _, size := range []int{0, testutil.Rounds(1<<20, 4<<20)} {
		t.Run("extra="+strconv.Itoa(size), func(t *testing.T) {
			want := append(append([]byte("PONG"), pattern(size)...), "\r\n"...)
			forEachBackendParallel(t, func(t *testing.T, e *env) {
				c := newTakeChat(e.m, chat.DelimiterString("\r\n"))
				c.reply = func(c *takeChat, frame []byte) {
					if string(frame) == "PING" {
						c.Push(want)
					}
				}
				cli := adoptTCP(t, c)
				setSndbuf(t, c.Fd(), 16<<10)
				require.NoError(t, cli.SetReadBuffer(16<<10))
				got := readAllAsync(cli, func() error {
					if _, err := cli.Write([]byte("PING\r\n")); err != nil {
						return err
					}
					return cli.CloseWrite()
				})
				r := await(e, got)
				require.NoError(t, r.err)
				assert.True(t, bytes.Equal(want, r.data), "got %d bytes, want %d", len(r.data), len(want))
				e.runUntil(func() bool { return c.Fd() < 0 })
				assert.Equal(t, []string{"PING"}, c.frames)
				assert.Empty(t, c.errs)
			})
		})
	}
}

// TestNoFramesAfterCloseDecision is F22 (frames-after-close,
// docs/failure-modes.md): frames that arrive in the same read behind the one
// that decided the close — a QUIT that calls CloseWhenDone, or a frame that
// broke a limit — are not delivered. What the chat pushed before deciding still
// reaches the peer, then EOF.
func TestNoFramesAfterCloseDecision(t *testing.T) {
	errorReply := func(c *testChat, err error) { c.Push([]byte("-ERR " + err.Error() + "\r\n")) }
	cases := []struct {
		name    string
		input   string
		setup   func(c *testChat)
		frames  []string
		err     error
		reply   string
		onError func(c *testChat, err error)
	}{
		{
			name:   "QUIT",
			input:  "QUIT\r\nSET a 1\r\n",
			frames: []string{"QUIT"},
			reply:  "+BYE\r\n",
		},
		{
			name:   "line limit",
			input:  "SET aaaaaaaaaaaaaaaa 1\r\nSET a 1\r\n",
			setup:  func(c *testChat) { c.MaxLine = 8 },
			frames: nil,
			err:    chat.ErrLineTooLong,
		},
		{
			name:    "line limit with error reply",
			input:   "SET aaaaaaaaaaaaaaaa 1\r\nSET a 1\r\n",
			setup:   func(c *testChat) { c.MaxLine = 8 },
			frames:  nil,
			err:     chat.ErrLineTooLong,
			reply:   "-ERR " + chat.ErrLineTooLong.Error() + "\r\n",
			onError: errorReply,
		},
		{
			// The reply to the good frame and the error reply are both
			// written before the close. (The default HandleError closes at
			// once, dropping queued replies, as the package documents.)
			name:    "line limit after good frame",
			input:   "GET a\r\nSET aaaaaaaaaaaaaaaa 1\r\nSET a 1\r\n",
			setup:   func(c *testChat) { c.MaxLine = 8 },
			frames:  []string{"GET a"},
			err:     chat.ErrLineTooLong,
			reply:   "+OK\r\n-ERR " + chat.ErrLineTooLong.Error() + "\r\n",
			onError: errorReply,
		},
	}
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, tc := range cases {
			e.run(tc.name, func(t *testing.T, e *env) {
				c := newTestChat(t, e.m, chat.DelimiterString("\r\n"))
				if tc.setup != nil {
					tc.setup(c)
				}
				c.onError = tc.onError
				c.reply = func(c *testChat, frame string) {
					if frame == "QUIT" {
						c.Push([]byte("+BYE\r\n"))
						c.CloseWhenDone()
						return
					}
					c.Push([]byte("+OK\r\n"))
				}
				peer := e.pair(c)
				e.write(peer, []byte(tc.input))
				got := e.readAll(peer)
				// The chat that broke off with input unread closes
				// lingering: it waits for the peer's EOF (or
				// LingerTimeout) before closing its socket.
				require.NoError(t, unix.Shutdown(peer, unix.SHUT_WR))
				e.runUntil(c.closed)
				assert.Equal(t, tc.frames, c.frames)
				assert.Equal(t, tc.reply, string(got))
				if tc.err == nil {
					assert.Empty(t, c.errs)
				} else {
					require.Len(t, c.errs, 1)
					assert.ErrorIs(t, c.errs[0], tc.err)
				}
			})
		}
		// The default collector's limit and an announced length, through
		// the protocols that use them.
		e.run("message limit", func(t *testing.T, e *env) {
			c := newTakeChat(e.m, chat.DelimiterString("\r\n"))
			c.MaxMessage = 8
			peer := e.pair(c)
			e.write(peer, []byte("SET aaaaaaaaaaaaaaaa 1\r\nSET a 1\r\n"))
			e.runUntil(func() bool { return c.Fd() < 0 })
			assert.Empty(t, c.frames, "neither the frame that broke the limit nor the next")
			require.Len(t, c.errs, 1)
			assert.ErrorIs(t, c.errs[0], chat.ErrMessageTooLarge)
		})
		e.run("announced length", func(t *testing.T, e *env) {
			c := &lengthChat{}
			c.Init(c, e.m)
			c.Logger = quiet
			c.MaxMessage = 8
			c.SetTerminator(chat.DelimiterString("\r\n"))
			peer := e.pair(c)
			e.write(peer, []byte("3\r\nabc100\r\n0123456789\r\n2\r\nok"))
			e.runUntil(func() bool { return c.Fd() < 0 })
			assert.Equal(t, [][]byte{[]byte("abc")}, c.bodies)
			require.Len(t, c.errs, 1)
			assert.ErrorIs(t, c.errs[0], chat.ErrMessageTooLarge)
		})
	})
}

// idleChat answers its first line with "+OK\r\n"; it uses the default
// collector and counts the bytes collected. (One reply only: the output
// queue keeps an emptied buffer for reuse, which is measured elsewhere.)
type idleChat struct {
	chat.AsyncChat
	collected *int
	replied   bool
}

func (c *idleChat) CollectIncomingData(data []byte) {
	*c.collected += len(data)
	c.AsyncChat.CollectIncomingData(data)
}

func (c *idleChat) FoundTerminator() {
	c.TakeData()
	if !c.replied {
		c.replied = true
		c.Push([]byte("+OK\r\n"))
	}
}

// TestIdleChatHoldsNoReadBuffer is the memory check of F11 (slowloris,
// docs/failure-modes.md): an idle connected chat that has handled some input
// holds no read-sized buffer. 200 chats (1000 in the long runs, but 400 at most
// under select, whose FD_SETSIZE is 1024) each get input and reply; after a GC,
// the heap they retain is under 4 KiB each. "split" delivers a delimiter split
// across two reads, the second of them large, which must not leave the joined
// buffer behind.
func TestIdleChatHoldsNoReadBuffer(t *testing.T) {
	cases := []struct {
		name   string
		inputs [][]byte
	}{
		{"one line", [][]byte{[]byte("PING\r\n")}},
		{"split", [][]byte{[]byte("PING\r"), append([]byte("\n"), bytes.Repeat([]byte("PING\r\n"), 2000)...)}},
	}
	forEachBackend(t, func(t *testing.T, e *env) {
		n := testutil.Rounds(200, 1000)
		if e.kind == poller.Select {
			n = min(n, 400)
		}
		var rl unix.Rlimit
		// Cur is unsigned on Linux and signed on FreeBSD; RLIM_INFINITY
		// converts to a negative int64 and means no limit.
		if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err == nil {
			if lim := int64(rl.Cur); lim > 0 && lim < int64(2*n+200) {
				n = int(lim-200) / 2
			}
		}
		for _, tc := range cases {
			e.run(tc.name, func(t *testing.T, e *env) {
				chats := make([]*idleChat, 0, n)
				peers := make([]int, 0, n)
				collected := 0
				gc := func(ms *runtime.MemStats) {
					runtime.GC()
					runtime.GC() // the second empties sync.Pool's victim cache
					runtime.ReadMemStats(ms)
				}
				var before, after runtime.MemStats
				gc(&before)
				for range n {
					c := &idleChat{collected: &collected}
					c.Init(c, e.m)
					c.SetTerminator(chat.DelimiterString("\r\n"))
					chats = append(chats, c)
					peers = append(peers, e.pair(c))
				}
				for _, in := range tc.inputs {
					for _, p := range peers {
						e.write(p, in)
					}
					want := collected + n*len(bytes.ReplaceAll(bytes.ReplaceAll(in, []byte("\r"), nil), []byte("\n"), nil))
					e.runUntil(func() bool { return collected == want })
				}
				gc(&after)
				perConn := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / int64(n)
				t.Logf("%d chats: %d bytes of heap each", n, perConn)
				assert.Less(t, perConn, int64(4096))
				for _, c := range chats {
					_ = c.Close()
				}
				runtime.KeepAlive(chats)
			})
		}
	})
}
