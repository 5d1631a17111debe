package chat_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/producer"
	"golang.org/x/sys/unix"
)

// okServer answers every line with "+OK\n", using the default collector.
type okServer struct {
	chat.AsyncChat
}

var okReply = []byte("+OK\n")

func (s *okServer) FoundTerminator() {
	s.TakeData()
	s.Push(okReply)
}

// BenchmarkPipelinedLines: a line server on one end of a socketpair; the
// other end, driven in the same goroutine, keeps 16 requests in flight,
// writing one new request for every reply it reads (batched per read). One
// op is one request and its reply. The steady state must not allocate.
func BenchmarkPipelinedLines(b *testing.B) {
	const inflight = 16
	req := []byte("SET key value\n")
	batch := bytes.Repeat(req, inflight)
	for _, kind := range looptest.Backends() {
		b.Run(kind.String(), func(b *testing.B) {
			l := looptest.NewLoop(b, kind)
			s := &okServer{}
			s.Init(s, l.Map())
			s.SetTerminator(chat.DelimiterString("\n"))
			peer := testutil.AdoptPair(b, s.Adopt)

			in := make([]byte, 64<<10)
			replies := 0
			send := func(n int) {
				if n == 0 {
					return
				}
				if w, err := unix.Write(peer, batch[:n*len(req)]); err != nil || w != n*len(req) {
					b.Fatalf("client write: %d, %v", w, err)
				}
			}
			step := func() {
				if err := l.RunOnce(-1); err != nil {
					b.Fatal(err)
				}
				n, err := unix.Read(peer, in)
				if err == unix.EAGAIN || err == unix.EINTR {
					return
				}
				if err != nil || n == 0 {
					b.Fatalf("client read: %d, %v", n, err)
				}
				k := bytes.Count(in[:n], okReply[len(okReply)-1:])
				replies += k
				send(k)
			}
			send(inflight)
			for replies < 10000 { // warm up: buffers grown, interest applied
				step()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for start := replies; replies-start < b.N; {
				step()
			}
		})
	}
}

// BenchmarkProducerDownload1MiB: one op queues a 1 MiB SimpleProducer with
// 64 KiB chunks, and the peer, in the same goroutine, reads it all.
func BenchmarkProducerDownload1MiB(b *testing.B) {
	const size = 1 << 20
	data := pattern(size)
	for _, kind := range looptest.Backends() {
		b.Run(kind.String(), func(b *testing.B) {
			l := looptest.NewLoop(b, kind)
			s := &okServer{}
			s.Init(s, l.Map())
			peer := testutil.AdoptPair(b, s.Adopt)
			in := make([]byte, 256<<10)
			download := func() {
				s.PushWithProducer(producer.SimpleProducer(data, 65536))
				for got := 0; got < size; {
					n, err := unix.Read(peer, in)
					switch {
					case err == unix.EAGAIN || err == unix.EINTR:
						if err := l.RunOnce(-1); err != nil {
							b.Fatal(err)
						}
						continue
					case err != nil || n == 0:
						b.Fatalf("client read: %d, %v", n, err)
					}
					got += n
				}
			}
			download()
			b.ReportAllocs()
			b.SetBytes(size)
			b.ResetTimer()
			for range b.N {
				download()
			}
		})
	}
}

// BenchmarkSetTerminatorLength: what a protocol that reads a length per
// message (RESP's bulk strings) pays to set it, once per frame.
func BenchmarkSetTerminatorLength(b *testing.B) {
	var s okServer
	for i := 0; b.Loop(); i++ {
		s.SetTerminator(chat.Length(i & 1023))
	}
	if n, _ := s.Terminator().Len(); n < 0 {
		b.Fatal(n)
	}
}

// lineEcho is the README's line echo: the default collector, and each
// line pushed back with its newline.
type lineEcho struct {
	chat.AsyncChat
}

func (h *lineEcho) FoundTerminator() { h.Push(append(h.TakeData(), '\n')) }

// BenchmarkFrameLines: the framing path alone — one read's worth of
// pipelined lines framed, collected and answered by the README's line
// echo, the replies queued and dropped as if written, no system calls,
// inside a loop iteration.
// One op is one read's worth: inflight lines.
func BenchmarkFrameLines(b *testing.B) {
	for _, size := range []int{64, 4096} {
		for _, inflight := range []int{1, 16} {
			b.Run(fmt.Sprintf("p%d/k%d", size, inflight), func(b *testing.B) {
				l := looptest.NewLoop(b, looptest.Backends()[0])
				h := &lineEcho{}
				h.Init(h, l.Map())
				h.SetTerminator(chat.DelimiterString("\n"))
				testutil.AdoptPair(b, h.Adopt)
				line := append(bytes.Repeat([]byte("x"), size-1), '\n')
				batch := bytes.Repeat(line, inflight)
				// Inside the loop, as in a server: the loop's clock is
				// read once per iteration, not at every frame.
				err := l.Post(func() {
					h.FrameForBench(batch) // warm up: the collector's buffer grown
					h.DropOutputForBench()
					b.ReportAllocs()
					b.SetBytes(int64(len(batch)))
					for b.Loop() {
						h.FrameForBench(batch)
						h.DropOutputForBench()
					}
				})
				if err != nil {
					b.Fatal(err)
				}
				if err := l.RunOnce(0); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}
