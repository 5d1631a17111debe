//go:build soak

package soak

// Part 1: servers built from the library in the test process, each on a
// loop goroutine of its own, and the clients that attack them.

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/loop"
	"golang.org/x/sys/unix"
)

// quiet drops the library's log lines: the servers close hundreds of
// connections on purpose, and the counters below say what happened.
var quiet = slog.New(slog.DiscardHandler)

const (
	// lineMax is the line server's MaxLine.
	lineMax = 4096
	// panicLine makes the line server's FoundTerminator panic.
	panicLine = "PANIC"
	// echoPending is the byte echo's back-pressure bound, as in
	// examples/echo.
	echoPending = 256 << 10
)

// lineServer accepts lineChats and counts, atomically, what its handlers
// saw, so the test can hold the loop's Stats against them.
type lineServer struct {
	dispatcher.Dispatcher
	panics  atomic.Int64 // PANIC lines that reached FoundTerminator
	tooLong atomic.Int64 // ErrLineTooLong handed to HandleError
	caught  atomic.Int64 // PanicErrors handed to HandleError
	other   atomic.Int64 // any other error
	lastErr atomic.Value // the last other error, for the failure message
}

func (s *lineServer) HandleAccepted(fd int, _ net.Addr) {
	c := &lineChat{srv: s}
	c.Init(c, s.Map())
	c.Logger = quiet
	c.MaxLine = lineMax
	c.SetTerminator(chat.DelimiterString("\n"))
	if err := c.Adopt(fd); err != nil {
		_ = unix.Close(fd)
		s.other.Add(1)
		s.lastErr.Store(fmt.Sprint(err))
	}
}

// lineChat echoes each line, except that the line "PANIC" panics.
type lineChat struct {
	chat.AsyncChat
	srv *lineServer
}

func (c *lineChat) FoundTerminator() {
	line := c.TakeData()
	if string(line) == panicLine {
		c.srv.panics.Add(1)
		panic("soak: " + panicLine + " line")
	}
	c.Push(append(line, '\n'))
}

// HandleError counts the error and closes the connection. A recovered
// panic arrives here as a *loop.PanicError.
func (c *lineChat) HandleError(err error) {
	var pe *loop.PanicError
	switch {
	case errors.As(err, &pe):
		c.srv.caught.Add(1)
	case errors.Is(err, chat.ErrLineTooLong):
		c.srv.tooLong.Add(1)
	default:
		c.srv.other.Add(1)
		c.srv.lastErr.Store(fmt.Sprint(err))
	}
	_ = c.Close()
}

// byteServer accepts byteEchos.
type byteServer struct {
	dispatcher.Dispatcher
	other   atomic.Int64
	lastErr atomic.Value
}

func (s *byteServer) HandleAccepted(fd int, _ net.Addr) {
	h := &byteEcho{srv: s}
	h.Init(h, s.Map())
	h.Logger = quiet
	if err := h.Adopt(fd); err != nil {
		_ = unix.Close(fd)
		s.other.Add(1)
		s.lastErr.Store(fmt.Sprint(err))
	}
}

// byteEcho is examples/echo's handler: send back what arrives, and stop
// reading while too much is queued.
type byteEcho struct {
	dispatcher.DispatcherWithSend
	srv *byteServer
	buf [4096]byte
}

func (h *byteEcho) HandleRead() {
	if n, _ := h.Recv(h.buf[:]); n > 0 {
		h.Send(h.buf[:n])
	}
}

func (h *byteEcho) Readable() bool { return h.Pending() < echoPending }

func (h *byteEcho) HandleError(err error) {
	h.srv.other.Add(1)
	h.srv.lastErr.Store(fmt.Sprint(err))
	_ = h.Close()
}

// inproc is one library server running on its own loop goroutine.
type inproc struct {
	name string
	addr string
	l    *loop.Loop
	m    *loop.Map
	done chan struct{}
	err  error // Run's result, once done is closed
	last serverStats

	stopOnce sync.Once
	stopErr  error
}

// startInproc creates a loop over a fresh map, lets listen add the listener
// to it, and runs the loop on a new goroutine. A panic that escapes Run is
// recovered there and fails the test.
func startInproc(r *run, name string, listen func(m *loop.Map) (net.Addr, error)) (*inproc, error) {
	m := loop.NewMap()
	l, err := loop.New(loop.Options{Map: m, Timeout: -1})
	if err != nil {
		return nil, err
	}
	a, err := listen(m)
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	p := &inproc{name: name, addr: a.String(), l: l, m: m, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer func() {
			if v := recover(); v != nil {
				r.fail("%s: a panic escaped the loop: %v", name, v)
			}
		}()
		p.err = l.Run()
	}()
	return p, nil
}

// serverStats are a server's counters: its loop's Stats and its map's
// connection counters (dispatcher.Stats), as httpd's /_stats serves them.
type serverStats struct {
	loop.Stats
	dispatcher.ConnStats
}

// stats takes a snapshot of the server's counters on the loop's goroutine.
func (p *inproc) stats() (serverStats, error) {
	ch := make(chan serverStats, 1)
	if err := p.l.Post(func() { ch <- serverStats{p.l.Stats(), dispatcher.Stats(p.m)} }); err != nil {
		return serverStats{}, err
	}
	select {
	case st := <-ch:
		return st, nil
	case <-time.After(testutil.HangGuard):
		return serverStats{}, fmt.Errorf("%s: the loop did not run a posted function within %v", p.name, testutil.HangGuard)
	case <-p.done:
		return serverStats{}, fmt.Errorf("%s: the loop stopped (%v)", p.name, p.err)
	}
}

// stop stops the loop, waits for Run to return, and closes every channel
// and the loop. Only the first call does anything.
func (p *inproc) stop() error {
	p.stopOnce.Do(func() {
		p.l.Stop()
		select {
		case <-p.done:
		case <-time.After(testutil.HangGuard):
			p.stopErr = fmt.Errorf("%s: Run did not return within %v of Stop", p.name, testutil.HangGuard)
			return
		}
		_ = dispatcher.CloseAll(p.m, true)
		if err := p.l.Close(); err != nil {
			p.stopErr = err
			return
		}
		p.stopErr = p.err
	})
	return p.stopErr
}

// lineScenarios are the clients of the line server.
func lineScenarios(r *run, addr string) []scenario {
	const target = "line"
	// honest sends 1 to 20 lines, written at random split points while the
	// replies are read, optionally slowly, and ends by closing or by
	// half-closing and reading to EOF.
	honest := func(slow, halfClose bool) func(*rand.Rand) error {
		return func(rng *rand.Rand) error {
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			defer c.Close()
			if slow {
				_ = c.SetDeadline(time.Now().Add(slowTimeout))
			}
			var req bytes.Buffer
			for range 1 + rng.IntN(20) {
				line := randText(rng, randSize(rng, lineMax-1))
				if string(line) == panicLine {
					line = line[:0]
				}
				req.Write(line)
				req.WriteByte('\n')
			}
			data := req.Bytes()
			werr := writeAsync(c, data, rng, halfClose)
			got := make([]byte, len(data))
			rerr := readFull(c, got, slow, rng)
			if err := <-werr; err != nil {
				return fmt.Errorf("write: %v", err)
			}
			if rerr != nil {
				return fmt.Errorf("read the echo of %d bytes: %v", len(data), rerr)
			}
			if !bytes.Equal(got, data) {
				return fmt.Errorf("echo of %d bytes differs", len(data))
			}
			if halfClose {
				if err := expectEOF(c); err != nil {
					return err
				}
			}
			r.sent.add(target, int64(len(data)))
			r.good.add(target, int64(len(data)))
			return nil
		}
	}
	return []scenario{
		{"honest", 30, honest(false, false)},
		{"halfclose", 10, honest(false, true)},
		{"slowread", 5, honest(true, false)},
		{"partial", 10, func(rng *rand.Rand) error {
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			_ = writeSplit(c, randText(rng, 1+rng.IntN(lineMax-1)), rng)
			return c.Close()
		}},
		{"reset", 10, func(rng *rand.Rand) error {
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			// Some whole lines, whose echo is left unread, and part of
			// one more.
			var req bytes.Buffer
			for range rng.IntN(50) {
				req.Write(randText(rng, rng.IntN(2000)))
				req.WriteByte('\n')
			}
			req.Write(randText(rng, rng.IntN(100)))
			_ = writeSplit(c, req.Bytes(), rng)
			reset(c)
			return nil
		}},
		{"toolong", 5, func(rng *rand.Rand) error {
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			defer c.Close()
			werr := writeAsync(c, randText(rng, lineMax+1+rng.IntN(3*lineMax)), rng, false)
			got, err := expectClosed(c)
			<-werr // a reset may fail the write; that is the point
			if err != nil {
				return fmt.Errorf("a line over MaxLine: %v", err)
			}
			if len(got) > 0 {
				return fmt.Errorf("a line over MaxLine was answered with %d bytes", len(got))
			}
			r.seen.add("line/toolong", 1)
			return nil
		}},
		{"panic", 5, func(rng *rand.Rand) error {
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			defer c.Close()
			line := append(randText(rng, 1+rng.IntN(100)), '\n')
			if err := writeSplit(c, line, rng); err != nil {
				return err
			}
			got := make([]byte, len(line))
			if err := readFull(c, got, false, rng); err != nil || !bytes.Equal(got, line) {
				return fmt.Errorf("the line before PANIC was not echoed: %v", err)
			}
			r.sent.add(target, int64(len(line)))
			r.good.add(target, int64(len(line)))
			if err := writeSplit(c, []byte(panicLine+"\n"), rng); err != nil {
				return err
			}
			rest, err := expectClosed(c)
			if err != nil {
				return fmt.Errorf("after a panicking handler: %v", err)
			}
			if len(rest) > 0 {
				return fmt.Errorf("a PANIC line was answered: %q", rest)
			}
			r.seen.add("line/panic", 1)
			return nil
		}},
	}
}

// byteScenarios are the clients of a byte echo: the in-process one and
// examples/echo.
func byteScenarios(r *run, target, addr string) []scenario {
	honest := func(slow, halfClose bool) func(*rand.Rand) error {
		return func(rng *rand.Rand) error {
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			defer c.Close()
			if slow {
				_ = c.SetDeadline(time.Now().Add(slowTimeout))
			}
			rounds := 1 + rng.IntN(5)
			if slow {
				rounds = 1 + rng.IntN(2)
			}
			for range rounds {
				size := randSize(rng, 1<<20)
				if slow {
					size = 64<<10 + rng.IntN(448<<10)
				}
				data := randBytes(rng, max(1, size))
				werr := writeAsync(c, data, rng, false)
				got := make([]byte, len(data))
				rerr := readFull(c, got, slow, rng)
				if err := <-werr; err != nil {
					return fmt.Errorf("write: %v", err)
				}
				if rerr != nil {
					return fmt.Errorf("read the echo of %d bytes: %v", len(data), rerr)
				}
				if !bytes.Equal(got, data) {
					return fmt.Errorf("echo of %d bytes differs", len(data))
				}
				r.sent.add(target, int64(len(data)))
				r.good.add(target, int64(len(data)))
			}
			if halfClose {
				// The last payload goes out with the FIN behind it;
				// all of it must still come back.
				data := randBytes(rng, 1+randSize(rng, 512<<10))
				werr := writeAsync(c, data, rng, true)
				got := make([]byte, len(data))
				rerr := readFull(c, got, false, rng)
				if err := <-werr; err != nil {
					return fmt.Errorf("write before half-close: %v", err)
				}
				if rerr != nil || !bytes.Equal(got, data) {
					return fmt.Errorf("echo after half-close: %v (equal %v)", rerr, bytes.Equal(got, data))
				}
				if err := expectEOF(c); err != nil {
					return err
				}
				r.sent.add(target, int64(len(data)))
				r.good.add(target, int64(len(data)))
			}
			return nil
		}
	}
	return []scenario{
		{"honest", 30, honest(false, false)},
		{"halfclose", 10, honest(false, true)},
		{"slowread", 5, honest(true, false)},
		{"partial", 10, func(rng *rand.Rand) error {
			// Data whose echo is never read, then a close: the server
			// writes into a socket that is gone.
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			werr := writeAsync(c, randBytes(rng, 1+rng.IntN(128<<10)), rng, false)
			if rng.IntN(2) == 0 {
				_ = c.SetReadDeadline(time.Now().Add(time.Duration(rng.IntN(500)) * time.Millisecond))
				var b [512]byte
				_, _ = c.Read(b[:])
			}
			_ = c.Close()
			<-werr
			return nil
		}},
		{"reset", 10, func(rng *rand.Rand) error {
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			werr := writeAsync(c, randBytes(rng, rng.IntN(512<<10)), rng, false)
			_ = c.SetReadDeadline(time.Now().Add(time.Duration(rng.IntN(500)) * time.Millisecond))
			var b [4096]byte
			for range rng.IntN(8) {
				if _, err := c.Read(b[:]); err != nil {
					break
				}
			}
			reset(c)
			<-werr
			return nil
		}},
		{"stall", 2, func(rng *rand.Rand) error {
			// A client that never reads: back-pressure must stop the
			// server reading, and the client's writes then block.
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			_ = c.SetWriteDeadline(time.Now().Add(time.Duration(200+rng.IntN(800)) * time.Millisecond))
			_, _ = c.Write(randBytes(rng, 4<<20))
			if rng.IntN(2) == 0 {
				reset(c)
			} else {
				_ = c.Close()
			}
			return nil
		}},
	}
}

// inprocChecker remembers the last snapshots, to check that counters only
// grow.
type inprocChecker struct {
	mu   sync.Mutex
	prev map[string]serverStats
}

// check holds one snapshot to the invariants that hold at any time.
func (k *inprocChecker) check(r *run, p *inproc, workers int) {
	st, err := p.stats()
	if err != nil {
		r.fail("%v", err)
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.prev == nil {
		k.prev = make(map[string]serverStats)
	}
	prev := k.prev[p.name]
	k.prev[p.name] = st
	p.last = st
	if st.BytesOut > st.BytesIn {
		r.fail("%s: an echo wrote more than it read: BytesOut %d > BytesIn %d", p.name, st.BytesOut, st.BytesIn)
	}
	if st.Conns < 0 || st.Conns > 4*workers {
		r.fail("%s: %d connections open with %d clients", p.name, st.Conns, workers)
	}
	if st.Channels != st.Conns+1 {
		r.fail("%s: %d channels for %d connections and one listener", p.name, st.Channels, st.Conns)
	}
	if st.Accepted < prev.Accepted || st.BytesIn < prev.BytesIn || st.BytesOut < prev.BytesOut ||
		st.Panics < prev.Panics || st.LimitCloses < prev.LimitCloses || st.Events < prev.Events {
		r.fail("%s: a counter went down: %+v then %+v", p.name, prev, st)
	}
	if st.Rejected != 0 || st.Shed != 0 || st.Timeouts != 0 {
		r.fail("%s: rejected %d, shed %d, timed out %d: none expected", p.name, st.Rejected, st.Shed, st.Timeouts)
	}
}
