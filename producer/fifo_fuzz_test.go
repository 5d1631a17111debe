package producer

import (
	"bytes"
	"testing"
)

// fuzzFIFO drives a FIFO from a script of operations and keeps a model of
// what must come out: the bytes queued between close markers, segment by
// segment.
type fuzzFIFO struct {
	t *testing.T
	q FIFO

	segments  [][]byte // segments[k] is what was queued between markers k-1 and k
	seg       int      // the segment being written; markers popped so far
	delivered []byte   // what left the FIFO in segment seg

	pushed, emitted, written int // totals for the Len invariant

	rng       uint32 // content generator
	generated int    // bytes of content made so far
	bufs      [][]byte
	shared    [][]byte // pairs: data pushed with PushShared, and a copy of it
}

// Bounds on the work one input can cause, so that a long input cannot
// stall a fuzzing worker.
const (
	fuzzMaxOps    = 16 << 10
	fuzzMaxQueued = 1 << 20
)

// content returns n bytes of pseudo-random content, or fewer once
// fuzzMaxQueued bytes have been made.
func (h *fuzzFIFO) content(n int) []byte {
	n = min(n, fuzzMaxQueued-h.generated)
	h.generated += n
	b := make([]byte, n)
	for i := range b {
		h.rng = h.rng*1664525 + 1013904223
		b[i] = byte(h.rng >> 24)
	}
	return b
}

func (h *fuzzFIFO) last() int { return len(h.segments) - 1 }

// fuzzProducer returns its chunks from one reused buffer, so a FIFO that
// asked for a chunk before the previous one was written would deliver
// overwritten bytes. It also checks that outright.
type fuzzProducer struct {
	h      *fuzzFIFO
	chunks [][]byte // what More returns, ending with an empty chunk
	ends   []int    // where each chunk ends in segment seg's stream
	seg    int
	next   int
	buf    []byte
}

func (p *fuzzProducer) More() []byte {
	h := p.h
	if p.next >= len(p.chunks) {
		h.t.Fatalf("More called again after the producer returned an empty chunk")
	}
	if p.next > 0 && (h.seg != p.seg || len(h.delivered) < p.ends[p.next-1]) {
		h.t.Fatalf("More called before the previous chunk was written: delivered %d of segment %d, chunk ends at %d of segment %d",
			len(h.delivered), h.seg, p.ends[p.next-1], p.seg)
	}
	c := p.chunks[p.next]
	p.next++
	if len(c) == 0 {
		// Exhausted, even if chunks follow an early empty one.
		p.next = len(p.chunks)
		return nil
	}
	h.emitted += len(c)
	return append(p.buf[:0], c...)
}

// write gathers with the given bounds and consumes accept % (total+1) of
// it, as a socket that takes a short count would, or all of it if accept is
// negative.
func (h *fuzzFIFO) write(maxBytes, maxBufs, accept int) {
	t := h.t
	h.bufs = h.q.Gather(h.bufs, maxBytes, maxBufs)
	total := 0
	for _, b := range h.bufs {
		if len(b) == 0 {
			t.Fatalf("Gather returned an empty slice")
		}
		total += len(b)
	}
	if len(h.bufs) > max(maxBufs, 0) || total > max(maxBytes, 0) {
		t.Fatalf("Gather(%d, %d) returned %d buffers, %d bytes", maxBytes, maxBufs, len(h.bufs), total)
	}
	if len(h.bufs) == 0 && maxBytes > 0 && maxBufs > 0 {
		// Nothing gathered: everything before the next marker is out.
		if !h.segmentDone() {
			t.Fatalf("Gather returned nothing with %d of %d bytes of segment %d delivered",
				len(h.delivered), len(h.segments[h.seg]), h.seg)
		}
		if h.seg < h.last() && !h.q.AtClose() {
			t.Fatalf("segment %d delivered but AtClose is false", h.seg)
		}
		if h.seg == h.last() && (!h.q.Empty() || h.q.Len() != 0) {
			t.Fatalf("everything delivered but Empty=%v Len=%d", h.q.Empty(), h.q.Len())
		}
	}

	// Gather again without consuming: the same bytes come back.
	var first []byte
	for _, b := range h.bufs {
		first = append(first, b...)
	}
	h.bufs = h.q.Gather(h.bufs, maxBytes, maxBufs)
	var again []byte
	for _, b := range h.bufs {
		again = append(again, b...)
	}
	if !bytes.Equal(first, again) {
		t.Fatalf("a second Gather returned %q, the first %q", again, first)
	}

	n := total
	if accept >= 0 {
		n = accept % (total + 1)
	}
	// What was delivered before is known to be right; check the new part.
	from, want := len(h.delivered), h.segments[h.seg]
	h.delivered = append(h.delivered, first[:n]...)
	h.written += n
	h.q.Consume(n)
	if len(h.delivered) > len(want) || !bytes.Equal(h.delivered[from:], want[from:len(h.delivered)]) {
		t.Fatalf("segment %d: bytes %d..%d delivered are not the ones queued (%d bytes)", h.seg, from, len(h.delivered), len(want))
	}
}

// segmentDone reports whether all of the current segment has been
// delivered. The bytes were checked as they went out, so the length says it.
func (h *fuzzFIFO) segmentDone() bool { return len(h.delivered) == len(h.segments[h.seg]) }

func (h *fuzzFIFO) check() {
	t := h.t
	if h.q.Len() < 0 {
		t.Fatalf("Len %d is negative", h.q.Len())
	}
	if want := h.pushed + h.emitted - h.written; h.q.Len() != want {
		t.Fatalf("Len %d, want pushed %d + emitted %d - written %d = %d", h.q.Len(), h.pushed, h.emitted, h.written, want)
	}
}

// popClose pops the marker at the head, checking that it is there exactly
// when the current segment has been delivered and a marker follows it.
func (h *fuzzFIFO) popClose() {
	at := h.q.AtClose()
	if at && (h.seg == h.last() || !h.segmentDone()) {
		h.t.Fatalf("AtClose with %d of %d bytes of segment %d delivered", len(h.delivered), len(h.segments[h.seg]), h.seg)
	}
	if h.q.PopClose() != at {
		h.t.Fatalf("PopClose disagrees with AtClose")
	}
	if at {
		h.seg++
		h.delivered = h.delivered[:0]
	}
}

func FuzzFIFO(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 5, 3, 200, 3, 255})                                    // push, short write, full write
	f.Add([]byte{1, 3, 4, 0, 9, 0, 8, 5, 0, 3, 9, 4, 1})                   // data, producer with an early empty chunk, data
	f.Add([]byte{0, 3, 2, 0, 4, 5, 5, 4, 0, 6, 5})                         // push, close, push, drain, pop, drain
	f.Add([]byte{1, 0, 0, 1, 2, 0, 7, 0, 9, 3, 1, 1, 0})                   // empty producers around data
	f.Add([]byte{128, 200, 0, 255, 3, 17, 2, 100, 3, 255, 7, 13})          // large pushes, partial writes
	f.Add([]byte{1, 5, 1, 2, 3, 4, 5, 2, 1, 2, 0, 7, 5, 4, 5})             // producer, close, producer, close
	f.Add([]byte{0x46, 10, 0, 3, 3, 1, 9, 1, 0xC4, 200, 0, 5, 4, 0x46, 7}) // shared, push, short write, large shared
	f.Fuzz(runFIFOOps)
}

// runFIFOOps runs one FuzzFIFO input.
func runFIFOOps(t *testing.T, ops []byte) {
	if len(ops) > fuzzMaxOps {
		ops = ops[:fuzzMaxOps]
	}
	h := &fuzzFIFO{t: t, segments: [][]byte{nil}, rng: 1}
	i := 0
	arg := func() int {
		if i < len(ops) {
			i++
			return int(ops[i-1])
		}
		return 0
	}
	for i < len(ops) {
		op := arg()
		switch op % 7 {
		case 0: // Push, sizes 0..255, or up to ~10 KB with the top bit set; PushShared with bit 6
			n := arg()
			if op&0x80 != 0 {
				n *= 41
			}
			data := h.content(n)
			h.pushed += len(data)
			l := h.last()
			h.segments[l] = append(h.segments[l], data...)
			if op&0x40 != 0 {
				h.q.PushShared(data)
				h.shared = append(h.shared, data, bytes.Clone(data))
				break
			}
			h.q.Push(data)
			clear(data) // Push copied it
		case 1: // PushProducer: 0..7 chunks of 0..63 bytes (~6 KB with the top bit set), then an empty one
			p := &fuzzProducer{h: h, seg: h.last()}
			end := len(h.segments[p.seg])
			early := false
			size := 0
			for range arg() % 8 {
				n := arg() % 64
				if op&0x80 != 0 {
					n *= 97
				}
				c := h.content(n)
				n = len(c)
				p.chunks = append(p.chunks, c)
				size = max(size, n)
				if n == 0 {
					early = true
				}
				if !early {
					end += n
					h.segments[p.seg] = append(h.segments[p.seg], c...)
				}
				p.ends = append(p.ends, end)
			}
			p.chunks = append(p.chunks, nil)
			p.buf = make([]byte, 0, size)
			h.q.PushProducer(p)
		case 2: // PushClose
			h.q.PushClose()
			h.segments = append(h.segments, nil)
		case 3: // a write of up to 255*8 bytes in 0..7 buffers, taking a short count
			h.write(arg()*8, arg()%8, arg()*arg()+arg())
		case 4: // a write that takes everything
			h.write(1<<20, 16, -1)
		case 5: // the owner closes, or would, at the marker
			h.popClose()
		case 6: // a write taking nothing (EAGAIN)
			h.write(arg()+1, arg()%4+1, 0)
		}
		h.check()
	}

	// Drain segment by segment: every byte queued comes out, in order,
	// and each marker is reached after exactly its segment.
	queued := 0
	for _, s := range h.segments {
		queued += len(s)
	}
	for {
		for range queued + 2 {
			h.write(1<<20, 16, -1)
			h.check()
			if len(h.bufs) == 0 {
				break
			}
		}
		if !h.segmentDone() {
			t.Fatalf("segment %d not fully delivered: %d of %d bytes", h.seg, len(h.delivered), len(h.segments[h.seg]))
		}
		if h.seg == h.last() {
			break
		}
		if !h.q.AtClose() {
			t.Fatalf("segment %d delivered but AtClose is false", h.seg)
		}
		h.popClose()
	}
	if !h.q.Empty() || h.q.Len() != 0 || h.q.AtClose() {
		t.Fatalf("drained queue: Empty=%v Len=%d AtClose=%v", h.q.Empty(), h.q.Len(), h.q.AtClose())
	}
	h.check()
	for k := 0; k < len(h.shared); k += 2 {
		if !bytes.Equal(h.shared[k], h.shared[k+1]) {
			t.Fatalf("the FIFO wrote into data pushed with PushShared")
		}
	}
}
