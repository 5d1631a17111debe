package chat_test

// Property tests over random fault scripts
// (docs/failure-modes.md#test-harness-notes, F13(d) partial-writes and
// F14 reset-mid-write): the chat's socket calls go through internal/sock's
// fault-injection seam, which fails them at random with EAGAIN, EINTR, short
// counts and the disconnect errnos. Every script is drawn from a seeded
// generator; the seed is logged, and -fault.seed replays a failing run.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/internal/sock"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/asyncore-go/asyncore/producer"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// faultDeadline bounds one script; a script that does not finish in it has
// hung the chat, and the test fails with its seed.
const faultDeadline = 10 * time.Second

// faultChat is an AsyncChat that counts its closes and its handler calls
// and notices any handler that runs after the socket was closed.
type faultChat struct {
	chat.AsyncChat
	t      *testing.T
	closes int // Close calls that found the socket open
	handleCloses,
	handleErrors int
	late  []string // handlers called after the close
	reply func(c *faultChat, line []byte)
}

func newFaultChat(t *testing.T, m *loop.Map) *faultChat {
	c := &faultChat{t: t}
	c.Init(c, m)
	c.Logger = quiet
	c.SetTerminator(chat.DelimiterString("\n"))
	return c
}

func (c *faultChat) seen(name string) {
	if c.closes > 0 {
		c.late = append(c.late, name)
	}
}

func (c *faultChat) Readable() bool { c.seen("Readable"); return c.AsyncChat.Readable() }
func (c *faultChat) Writable() bool { c.seen("Writable"); return c.AsyncChat.Writable() }
func (c *faultChat) HandleRead()    { c.seen("HandleRead"); c.AsyncChat.HandleRead() }
func (c *faultChat) HandleWrite()   { c.seen("HandleWrite"); c.AsyncChat.HandleWrite() }

func (c *faultChat) CollectIncomingData(data []byte) {
	c.seen("CollectIncomingData")
	c.AsyncChat.CollectIncomingData(data)
}

func (c *faultChat) FoundTerminator() {
	c.seen("FoundTerminator")
	line := c.TakeData()
	if c.reply != nil {
		c.reply(c, line)
	}
}

func (c *faultChat) HandleClose() {
	c.seen("HandleClose")
	c.handleCloses++
	c.AsyncChat.HandleClose()
}

func (c *faultChat) HandleError(err error) {
	c.seen("HandleError")
	c.handleErrors++
	c.t.Logf("HandleError: %v", err)
	c.AsyncChat.HandleError(err)
}

func (c *faultChat) Close() error {
	if c.Fd() >= 0 {
		c.closes++
	}
	return c.AsyncChat.Close()
}

// chunks is a producer that hands out its data in pieces of the given
// sizes, then the rest, then nothing.
type chunks struct {
	data  []byte
	sizes []int
}

func (p *chunks) More() []byte {
	n := len(p.data)
	if len(p.sizes) > 0 {
		n = min(n, p.sizes[0])
		p.sizes = p.sizes[1:]
	}
	if n == 0 && len(p.data) > 0 {
		n = 1 // an empty chunk would end the producer early
	}
	b := p.data[:n]
	p.data = p.data[n:]
	return b
}

// pushRandomly queues data on c in one of the ways asynchat offers, picked
// by rng: one Push, several Pushes, a SimpleProducer or a producer of
// random chunk sizes.
func pushRandomly(c *faultChat, rng *rand.Rand, data []byte) {
	data = bytes.Clone(data)
	switch rng.IntN(4) {
	case 0:
		c.Push(data)
	case 1:
		for len(data) > 0 {
			n := 1 + rng.IntN(len(data))
			c.Push(data[:n])
			data = data[n:]
		}
	case 2:
		c.PushWithProducer(producer.SimpleProducer(data, 1+rng.IntN(8)))
	default:
		sizes := make([]int, rng.IntN(6))
		for i := range sizes {
			sizes[i] = rng.IntN(5)
		}
		c.PushWithProducer(&chunks{data: data, sizes: sizes})
	}
}

// faultPlan draws the faults of one script: how often a call fails, how
// short the short reads and writes are, and — in some scripts — the call
// at which a disconnect errno ends the connection.
type faultPlan struct {
	rng      *rand.Rand
	fd       int
	rate     float64 // chance that a call gets a non-fatal fault
	maxShort int
	fatalOp  sock.Op // 0: no fatal fault in this script
	fatalAt  int     // the number of calls of fatalOp before it
	fatalErr unix.Errno
	calls    [sock.OpWait + 1]int
	fired    bool
	log      []string
}

func newFaultPlan(rng *rand.Rand, fd int) *faultPlan {
	p := &faultPlan{rng: rng, fd: fd, rate: rng.Float64() * 0.7, maxShort: 1 + rng.IntN(12)}
	if rng.IntN(3) == 0 {
		p.fatalOp = []sock.Op{sock.OpRead, sock.OpWrite}[rng.IntN(2)]
		p.fatalAt = rng.IntN(40)
		p.fatalErr = []unix.Errno{unix.ECONNRESET, unix.EPIPE}[rng.IntN(2)]
	}
	return p
}

func (p *faultPlan) inject(op sock.Op, fd int) sock.Fault {
	if fd != p.fd || (op != sock.OpRead && op != sock.OpWrite) {
		return sock.Fault{}
	}
	n := p.calls[op]
	p.calls[op]++
	var f sock.Fault
	switch {
	case op == p.fatalOp && n == p.fatalAt:
		f, p.fired = sock.Fault{Err: p.fatalErr}, true
	case p.rng.Float64() >= p.rate:
	default:
		switch p.rng.IntN(3) {
		case 0:
			f.Err = unix.EAGAIN
		case 1:
			f.Err = unix.EINTR
		default:
			f.Max = 1 + p.rng.IntN(p.maxShort)
		}
	}
	switch {
	case len(p.log) >= 64:
	case f.Err != 0:
		p.log = append(p.log, fmt.Sprintf("%v#%d:%s", op, n, unix.ErrnoName(f.Err)))
	case f.Max > 0:
		p.log = append(p.log, fmt.Sprintf("%v#%d:max%d", op, n, f.Max))
	}
	return f
}

// TestFaultEcho runs a line echo over a socketpair while the chat's reads
// and writes fail at random. The peer sends its requests in random pieces;
// in some scripts it then shuts down its sending side, in others it closes
// its socket without reading the replies. Properties:
// the peer receives a prefix of the replies, in order, and all of them
// unless a disconnect errno was injected; when one was, or the peer shut
// down, the chat closes exactly once and the peer sees EOF; the disconnect
// errnos never reach HandleError; no handler runs after the close; and no
// descriptor leaks. A peer that closes its socket leaves only the last
// three to check.
func TestFaultEcho(t *testing.T) {
	testutil.WarmUp(t)
	seed := testutil.FaultSeed(t)
	scripts := looptest.FaultScripts(2000, 300)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l := looptest.NewLoop(t, kind)
		start := time.Now()
		fatal := 0
		for i := range scripts {
			if faultEchoScript(t, l, seed, i) {
				fatal++
			}
			if t.Failed() {
				return
			}
		}
		t.Logf("%d scripts (%d ended by a disconnect errno) in %v", scripts, fatal, time.Since(start).Round(time.Millisecond))
	})
}

// faultEchoScript runs script i and reports whether a disconnect errno was
// injected.
func faultEchoScript(t *testing.T, l *loop.Loop, seed uint64, i int) bool {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	where := fmt.Sprintf("seed %d script %d", seed, i)
	before := testutil.OpenFDs()

	var requests, want []byte
	for range 1 + rng.IntN(30) {
		line := make([]byte, rng.IntN(24))
		for j := range line {
			line[j] = 'a' + byte(rng.IntN(26))
		}
		requests = append(append(requests, line...), '\n')
		want = append(append(append(want, '<'), line...), ">\n"...)
	}
	// The peer keeps its socket open, shuts down its sending side after
	// the requests, or closes its socket after them without reading.
	halfClose, fullClose := false, false
	switch rng.IntN(4) {
	case 0, 1:
		halfClose = true
	case 2:
		fullClose = true
	}

	c := newFaultChat(t, l.Map())
	c.reply = func(c *faultChat, line []byte) {
		pushRandomly(c, rng, append(append([]byte{'<'}, line...), ">\n"...))
	}
	fds, err := testutil.NewSocketpair()
	require.NoError(t, err)
	peer := fds[1]
	if err := c.Adopt(fds[0]); err != nil {
		_ = unix.Close(fds[0])
		_ = unix.Close(peer)
		t.Fatalf("Adopt: %v", err)
	}
	plan := newFaultPlan(rng, fds[0])
	restore := sock.SetInjector(plan.inject)

	fail := func(format string, args ...any) {
		t.Helper()
		restore()
		_ = c.Close()
		if peer >= 0 {
			_ = unix.Close(peer)
		}
		t.Fatalf("%s (faults %s): %s", where, strings.Join(plan.log, " "), fmt.Sprintf(format, args...))
	}

	var got []byte
	eof, shut := false, false
	buf := make([]byte, 256)
	deadline := time.Now().Add(faultDeadline)
	for {
		if len(requests) > 0 {
			n, err := unix.Write(peer, requests[:1+rng.IntN(len(requests))])
			switch {
			case err == nil:
				requests = requests[n:]
			case err == unix.EPIPE || err == unix.ECONNRESET:
				requests = nil // the chat is gone
			case err != unix.EAGAIN && err != unix.EINTR:
				fail("peer write: %v", err)
			}
		}
		if len(requests) == 0 && !shut && (halfClose || fullClose) {
			shut = true
			if fullClose {
				_ = unix.Close(peer)
				peer = -1
			} else {
				_ = unix.Shutdown(peer, unix.SHUT_WR)
			}
		}
		if err := l.RunOnce(time.Millisecond); err != nil {
			fail("RunOnce: %v", err)
		}
		if peer < 0 {
			if c.closes > 0 {
				break
			}
			if time.Now().After(deadline) {
				fail("stuck: the peer closed its socket, and the chat has not closed")
			}
			continue
		}
		b, end, err := testutil.ReadReady(peer, buf)
		if err != nil {
			fail("peer read: %v", err)
		}
		got = append(got, b...)
		eof = eof || end
		if !bytes.HasPrefix(want, got) {
			fail("the peer received %q, which is not a prefix of %q", got, want)
		}
		if eof || (!halfClose && !plan.fired && len(got) == len(want)) {
			break
		}
		if time.Now().After(deadline) {
			fail("stuck: the peer has %d of %d bytes, eof %v, chat closed %d times", len(got), len(want), eof, c.closes)
		}
	}
	restore()

	switch {
	case fullClose:
		if c.closes != 1 {
			fail("after the peer closed: the chat closed %d times", c.closes)
		}
	case !plan.fired && len(got) != len(want):
		fail("no disconnect was injected, but the peer received %d of %d bytes", len(got), len(want))
	case !plan.fired && eof && !halfClose:
		fail("the chat closed although the peer did not shut down")
	case (plan.fired || halfClose) && (!eof || c.closes != 1):
		fail("after a disconnect or the peer's shutdown: peer EOF %v, chat closed %d times", eof, c.closes)
	case c.handleErrors != 0:
		fail("a disconnect errno reached HandleError %d times", c.handleErrors)
	case len(c.late) > 0:
		fail("handlers ran after the close: %v", c.late)
	}
	if c.closes == 0 {
		require.NoError(t, c.Close())
	}
	if peer >= 0 {
		require.NoError(t, unix.Close(peer))
	}
	// Run once more with nothing to do: a late event for the closed
	// descriptor would run a handler now.
	if err := l.RunOnce(0); err != nil {
		fail("RunOnce: %v", err)
	}
	if c.closes != 1 || len(c.late) > 0 {
		fail("closed %d times; handlers after the close: %v", c.closes, c.late)
	}
	if after := testutil.OpenFDs(); after != before {
		fail("descriptors open: %d before the script, %d after", before, after)
	}
	return plan.fired
}

// TestFaultOutputQueue is F13(d) partial-writes: Push, PushWithProducer and
// CloseWhenDone while every write moves at most one byte and writes fail at
// random with EAGAIN and EINTR — and, in some scripts, once with EPIPE. Some
// pushes come before the loop runs, some between its iterations. Properties:
// the peer receives a prefix of the concatenation of what was queued, all of it
// unless EPIPE was injected, then EOF; the chat closes once, no handler
// runs after the close, and nothing reaches HandleError.
func TestFaultOutputQueue(t *testing.T) {
	testutil.WarmUp(t)
	seed := testutil.FaultSeed(t)
	scripts := looptest.FaultScripts(600, 150)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l := looptest.NewLoop(t, kind)
		start := time.Now()
		for i := range scripts {
			faultOutputScript(t, l, seed, i)
			if t.Failed() {
				return
			}
		}
		t.Logf("%d scripts in %v", scripts, time.Since(start).Round(time.Millisecond))
	})
}

func faultOutputScript(t *testing.T, l *loop.Loop, seed uint64, i int) {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	where := fmt.Sprintf("seed %d script %d", seed, i)
	before := testutil.OpenFDs()

	c := newFaultChat(t, l.Map())
	fds, err := testutil.NewSocketpair()
	require.NoError(t, err)
	peer := fds[1]
	if err := c.Adopt(fds[0]); err != nil {
		_ = unix.Close(fds[0])
		_ = unix.Close(peer)
		t.Fatalf("Adopt: %v", err)
	}
	rate := rng.Float64() * 0.5
	writes, pipeAt := 0, -1 // pipeAt: the write that fails with EPIPE, if any
	if rng.IntN(4) == 0 {
		pipeAt = rng.IntN(200)
	}
	restore := sock.SetInjector(func(op sock.Op, fd int) sock.Fault {
		if fd != fds[0] || op != sock.OpWrite {
			return sock.Fault{}
		}
		writes++
		if writes-1 == pipeAt {
			return sock.Fault{Err: unix.EPIPE}
		}
		if rng.Float64() < rate {
			return sock.Fault{Err: []unix.Errno{unix.EAGAIN, unix.EINTR}[rng.IntN(2)]}
		}
		return sock.Fault{Max: 1}
	})
	fail := func(format string, args ...any) {
		t.Helper()
		restore()
		_ = c.Close()
		_ = unix.Close(peer)
		t.Fatalf("%s: %s", where, fmt.Sprintf(format, args...))
	}

	var want, got []byte
	ops := 1 + rng.IntN(10)
	eof := false
	buf := make([]byte, 64)
	deadline := time.Now().Add(faultDeadline)
	for !eof {
		if ops > 0 && rng.IntN(3) > 0 {
			ops--
			data := make([]byte, rng.IntN(24))
			for j := range data {
				data[j] = byte(len(want) + j)
			}
			want = append(want, data...)
			pushRandomly(c, rng, data)
			if ops == 0 {
				c.CloseWhenDone()
			}
		}
		if err := l.RunOnce(0); err != nil {
			fail("RunOnce: %v", err)
		}
		b, end, err := testutil.ReadReady(peer, buf[:1+rng.IntN(len(buf))])
		if err != nil {
			fail("peer read: %v", err)
		}
		got = append(got, b...)
		eof = end
		if !bytes.HasPrefix(want, got) {
			fail("the peer received %v, which is not a prefix of %v", got, want)
		}
		if time.Now().After(deadline) {
			fail("stuck: the peer has %d of %d bytes", len(got), len(want))
		}
	}
	restore()
	piped := pipeAt >= 0 && writes > pipeAt
	switch {
	case !piped && !bytes.Equal(got, want):
		fail("the peer received %d of %d bytes before EOF", len(got), len(want))
	case c.closes != 1 || c.handleErrors != 0 || len(c.late) > 0:
		fail("closed %d times, HandleError %d times, handlers after the close: %v", c.closes, c.handleErrors, c.late)
	}
	require.NoError(t, unix.Close(peer))
	if after := testutil.OpenFDs(); after != before {
		fail("descriptors open: %d before the script, %d after", before, after)
	}
}
