package chat_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/producer"
	"golang.org/x/sys/unix"
)

// streamByte is byte i of the output stream the fuzz script pushes: every
// Push and producer takes the next bytes of one long stream, so what the
// peer receives can be checked byte by byte against its offset. The period
// (251, a prime) does not divide any buffer size, so a repeated, dropped
// or reordered piece shows.
func streamByte(i int) byte { return byte(i%251) ^ byte(i>>8) }

func stream(from, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = streamByte(from + i)
	}
	return b
}

// outputScript reads the fuzz input as a script of operations.
type outputScript struct{ ops []byte }

func (s *outputScript) byte() int {
	if len(s.ops) == 0 {
		return 0
	}
	b := s.ops[0]
	s.ops = s.ops[1:]
	return int(b)
}

func (s *outputScript) uint16() int { return s.byte()<<8 | s.byte() }

// FuzzChatOutput checks the output queue against a socket that takes
// little at a time: a script of Push, PushShared or PushString (0–5000
// bytes), PushWithProducer (SimpleProducer with random buffer sizes),
// CloseWhenDone, loop iterations and random-size non-blocking reads by
// the peer, on a
// socketpair whose chat end has a small SO_SNDBUF. The first byte picks the
// backend. Property: the peer receives exactly the bytes queued before
// CloseWhenDone, in order, and if CloseWhenDone was called, EOF after
// them; nothing reaches HandleError.
func FuzzChatOutput(f *testing.F) {
	f.Add([]byte{0, 0, 0, 10, 3, 4, 0, 20})
	f.Add([]byte{0, 1, 19, 136, 1, 4, 255, 255, 2, 5, 5, 5, 5})
	f.Add([]byte{1, 0, 19, 136, 1, 0, 100, 1, 0, 1, 0, 50, 4, 0, 3, 2, 0, 0, 5})
	f.Add([]byte{2, 1, 10, 0, 0, 0, 0, 10, 2, 0, 0, 5, 3, 4, 1, 0})
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 7, 2})
	f.Add([]byte{})
	backends := looptest.Backends()
	f.Fuzz(func(t *testing.T, ops []byte) {
		s := &outputScript{ops: ops}
		kind := backends[s.byte()%len(backends)]
		l := looptest.NewLoop(t, kind)
		c := &testChat{t: t}
		c.Init(c, l.Map())
		c.Logger = quiet
		fds, err := testutil.NewSocketpair()
		if err != nil {
			t.Fatal(err)
		}
		peer := fds[1]
		defer unix.Close(peer)
		if err := c.Adopt(fds[0]); err != nil {
			_ = unix.Close(fds[0])
			t.Fatal(err)
		}
		_ = unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)

		queued := 0  // stream bytes queued before CloseWhenDone
		got := 0     // stream bytes the peer has received
		eof := false // the peer saw EOF
		closing := false
		buf := make([]byte, 8192)
		var failure error
		read := func(max int) {
			for max > 0 && !eof && failure == nil {
				n, err := unix.Read(peer, buf[:min(max, len(buf))])
				switch {
				case err == unix.EINTR:
					continue
				case err == unix.EAGAIN:
					return
				case err != nil:
					failure = fmt.Errorf("peer read: %w", err)
					return
				case n == 0:
					eof = true
					return
				}
				for i, b := range buf[:n] {
					if want := streamByte(got + i); b != want {
						failure = fmt.Errorf("byte %d: got %#x, want %#x", got+i, b, want)
						return
					}
				}
				got += n
				max -= n
			}
		}
		runOnce := func() {
			if err := l.RunOnce(0); err != nil {
				t.Fatal(err)
			}
		}

		for len(s.ops) > 0 && failure == nil {
			switch s.byte() % 6 {
			case 0: // Push, PushShared or PushString, by the length
				n := s.uint16() % 5001
				switch data := stream(queued, n); n % 3 {
				case 0:
					c.Push(data)
				case 1:
					c.PushShared(data)
				case 2:
					c.PushString(string(data))
				}
				if !closing {
					queued += n
				}
			case 1: // PushWithProducer
				n := s.uint16() % 5001
				size := 1 + s.byte()*s.byte()%4096
				if size == 1 {
					n %= 64 // one write per byte: keep it short
				}
				c.PushWithProducer(producer.SimpleProducer(stream(queued, n), size))
				if !closing {
					queued += n
				}
			case 2:
				c.CloseWhenDone()
				closing = true
			case 3:
				runOnce()
			case 4:
				read(1 + s.uint16()%9000)
			case 5:
				runOnce()
				read(1 + s.byte()*64)
			}
			if got > queued {
				failure = fmt.Errorf("received %d bytes, only %d queued", got, queued)
			}
		}

		deadline := time.Now().Add(5 * time.Second)
		for failure == nil {
			read(len(buf))
			if closing && eof || !closing && got == queued && c.Pending() == 0 && !c.Writable() {
				break
			}
			if time.Now().After(deadline) {
				failure = fmt.Errorf("stuck: received %d of %d bytes, eof %v, pending %d, closed %v",
					got, queued, eof, c.Pending(), c.closed())
				break
			}
			runOnce()
		}
		if failure == nil && got != queued {
			failure = fmt.Errorf("received %d bytes, %d queued", got, queued)
		}
		if failure == nil && closing && !c.closed() {
			failure = errors.New("EOF seen but the chat is open")
		}
		if failure == nil && len(c.errs) > 0 {
			failure = fmt.Errorf("HandleError: %v", c.errs)
		}
		if failure != nil {
			t.Fatal(failure)
		}
		if !closing {
			_ = c.Close()
		}
	})
}
