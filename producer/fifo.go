package producer

import (
	"io"
	"sync"

	"github.com/asyncore-go/asyncore/internal/config"
)

// The queue's buffers come in three sizes, each from a pool every queue
// shares, so that a queue holds buffers only while it holds data: an idle
// connection whose replies have been written holds none, however large
// they were.
const (
	// minBuffer is a fresh buffer for a reply that fits: most do.
	minBuffer = config.FIFOMinBuffer
	// chunkBuffer is the buffer for a larger reply, and for the data that
	// overflows a full tail buffer: a run of pushes fills one buffer after
	// another, each written where it lies by the gathered write, rather
	// than growing one buffer and copying what it holds at every doubling.
	chunkBuffer = config.FIFOChunkBuffer
	// largeBuffer is the buffer for the part of a push above chunkBuffer:
	// a write hands the kernel at most this much anyway (config.IOChunk).
	largeBuffer = config.IOChunk

	// compactAfter is how many dead slots at the front of the item slice
	// are tolerated before the live items are moved down.
	compactAfter = 32
)

type kind uint8

const (
	dataItem     kind = iota // bytes pushed with Push, in a buffer the FIFO owns
	producerItem             // a Producer and its current chunk
	closeItem                // a close-when-done marker
	sharedItem               // bytes pushed with PushShared: the caller's, never written to
)

// item is one entry of the queue. For a data item buf[off:] is what is left
// to write. For a producer item buf is the chunk More returned last and
// buf[off:] the part not yet written; buf is nil when the producer has to be
// asked for its next chunk.
type item struct {
	kind kind
	buf  []byte
	off  int
	p    Producer
}

// FIFO is the output queue AsyncChat and DispatcherWithSend drain: asynchat's producer_fifo. It
// holds, in order, data pushed with Push (copied into buffers the queue owns
// and reuses, so steady-state pushes allocate nothing), data pushed with
// PushShared (referenced, not copied), producers, and close-when-done
// markers. The owner writes with Gather + Consume.
//
// The zero value is an empty queue ready to use. A FIFO is not safe for
// concurrent use.
type FIFO struct {
	items []item // items[head:] are queued, oldest first
	head  int
	n     int // bytes held: see Len

	// rare holds what only some queues need, allocated when first
	// needed: a queue is part of every connection, most of which never
	// see a producer fail.
	rare *fifoRare
}

// fifoRare is the part of a FIFO that most queues never use.
type fifoRare struct {
	err error // the first producer failure: see Err
}

// Push copies data to the tail of the queue: the queueing half of asynchat's
// push. Data pushed right after other data goes into the same buffer while
// it has room, and on into the next buffer, so a run of pushes is written
// as few pieces. Empty data is a no-op, unlike asynchat, which queues an
// empty bytes object and sends zero bytes. The caller may reuse data as
// soon as Push returns.
func (q *FIFO) Push(data []byte) {
	if len(data) == 0 {
		return
	}
	q.n += len(data)
	spill := false
	if t := len(q.items) - 1; t >= q.head && q.items[t].kind == dataItem {
		it := &q.items[t]
		if n := len(it.buf); n+len(data) <= cap(it.buf) {
			// The common case: the tail buffer has room.
			it.buf = it.buf[:n+len(data)]
			copy(it.buf[n:], data)
			return
		}
		if data = it.fill(data); len(data) == 0 {
			return
		}
		spill = true
	}
	for len(data) > 0 {
		buf := getBuffer(len(data), spill)
		k := min(len(data), cap(buf))
		q.add(item{kind: dataItem, buf: append(buf, data[:k]...)})
		data, spill = data[k:], true
	}
}

// fill appends to a data item's buffer as much of data as fits and returns
// the rest. When the buffer is full and at least half of it has been
// written already, the rest is slid to the front first: a tail item that
// is written about as fast as it is pushed to then stays in one buffer.
func (it *item) fill(data []byte) []byte {
	if len(it.buf)+len(data) > cap(it.buf) {
		if live := len(it.buf) - it.off; it.off >= live {
			copy(it.buf, it.buf[it.off:])
			it.buf, it.off = it.buf[:live], 0
		}
	}
	k := min(len(data), cap(it.buf)-len(it.buf))
	it.buf = append(it.buf, data[:k]...)
	return data[k:]
}

// PushShared queues data by reference, without copying it: the caller
// promises never to modify it, now or later — a cached, immutable file
// body, say, that many replies send. It is gathered where it lies; the
// FIFO never writes into it, appends to it or keeps it for reuse. It counts
// in Len like pushed data, since it is output waiting to be written.
func (q *FIFO) PushShared(data []byte) {
	if len(data) == 0 {
		return
	}
	q.n += len(data)
	q.add(item{kind: sharedItem, buf: data[:len(data):len(data)]})
}

// PushProducer queues p: the queueing half of asynchat's push_with_producer.
// More is first called when Gather reaches p. A nil p is ignored.
func (q *FIFO) PushProducer(p Producer) {
	if p == nil {
		return
	}
	q.add(item{kind: producerItem, p: p})
}

// PushClose queues a close-when-done marker: asynchat's close_when_done,
// which appends None. Gather stops at the marker; the owner closes the
// channel when AtClose reports that it has reached the head.
func (q *FIFO) PushClose() {
	q.add(item{kind: closeItem})
}

// Len returns the number of bytes held in memory: pushed data (shared or
// not) not yet consumed plus the unconsumed part of producers' current
// chunks. This is
// what a high-water mark should count. A producer's future output is not
// counted, so Len grows when Gather asks a producer for its next chunk.
func (q *FIFO) Len() int { return q.n }

// Empty reports whether nothing at all is queued: no data, producer or close
// marker. An owner is writable exactly while the queue is not empty. A
// producer whose chunk has been written stays queued until Gather finds it
// exhausted, so the queue can be non-empty with Len 0.
func (q *FIFO) Empty() bool { return q.head == len(q.items) }

// AtClose reports whether the head of the queue is a close marker, that is,
// whether everything queued before the marker has been consumed.
func (q *FIFO) AtClose() bool {
	return q.head < len(q.items) && q.items[q.head].kind == closeItem
}

// PopClose removes a close marker at the head of the queue and reports
// whether there was one. Whatever was queued behind the marker becomes the
// head.
func (q *FIFO) PopClose() bool {
	if !q.AtClose() {
		return false
	}
	q.pop()
	return true
}

// Gather appends to bufs[:0] the bytes at the head of the queue, up to
// maxBytes bytes in at most maxBufs buffers (for one writev), and returns the
// result. It calls More on a producer that gathering reaches when it has no
// unconsumed chunk; an empty chunk removes the producer (exhausted) and
// gathering goes on with the next item. It stops at a close marker (never
// past it), at maxBytes, at maxBufs, or after a producer's current chunk,
// since the producer's next chunk may only be asked for once this one has
// been written. Every returned slice is non-empty; the result is empty when
// the queue is empty or its head is a close marker, or when maxBytes or
// maxBufs is not positive.
//
// The returned slices alias the queue's memory and stay valid until the next
// Push, Consume or Discard. Gather does not allocate when bufs has capacity
// for maxBufs slices.
func (q *FIFO) Gather(bufs [][]byte, maxBytes, maxBufs int) [][]byte {
	bufs = bufs[:0]
	// j counts from the head rather than from the start of the slice,
	// because removing an exhausted producer moves the head.
	for j := 0; q.head+j < len(q.items) && maxBytes > 0 && len(bufs) < maxBufs; {
		i := q.head + j
		it := &q.items[i]
		switch it.kind {
		case closeItem:
			return bufs
		case dataItem, sharedItem:
			b := clip(it.buf[it.off:], maxBytes)
			bufs = append(bufs, b)
			maxBytes -= len(b)
			j++
		case producerItem:
			if it.buf == nil {
				chunk := it.p.More()
				if len(chunk) == 0 {
					if err := producerErr(it.p); err != nil {
						// It ended early: what follows must not
						// be sent as if its output were complete.
						// A close marker takes its place.
						if q.rare == nil {
							q.rare = new(fifoRare)
						}
						if q.rare.err == nil {
							q.rare.err = err
						}
						*it = item{kind: closeItem}
						return bufs
					}
					// The items before i move up by one and the
					// head past them, so the next item is at j.
					q.remove(i)
					continue
				}
				it = &q.items[i] // in case More pushed to q
				it.buf, it.off = chunk, 0
				q.n += len(chunk)
			}
			return append(bufs, clip(it.buf[it.off:], maxBytes))
		}
	}
	return bufs
}

// Err reports the first producer that ended with an error: one that, once
// exhausted, has an Err method returning non-nil (as Reader does when a read
// fails). Such a producer is replaced by a close marker, so the data queued
// before it is still written but nothing after it, which would be framed as
// if the producer's output had been complete; when AtClose turns true the
// owner should close the connection as failed rather than done (AsyncChat
// passes the error to HandleError). Discard clears it.
func (q *FIFO) Err() error {
	if q.rare == nil {
		return nil
	}
	return q.rare.err
}

func producerErr(p Producer) error {
	if e, ok := p.(interface{ Err() error }); ok {
		return e.Err()
	}
	return nil
}

// clip returns b cut to at most n bytes, with its capacity cut too so that
// an append by the caller cannot write into the queue.
func clip(b []byte, n int) []byte {
	if len(b) > n {
		b = b[:n]
	}
	return b[:len(b):len(b)]
}

// Consume drops n bytes from the head of the queue, as written by the caller
// after Gather; n must not exceed what the last Gather returned. A producer
// whose chunk is consumed completely stays at the head until Gather asks it
// for the next one. Consume panics if n is negative or larger than the bytes
// available before the next close marker or unasked producer, which means
// the caller did not call Gather first.
func (q *FIFO) Consume(n int) {
	if n < 0 {
		panic("producer: FIFO.Consume with a negative count")
	}
	for n > 0 {
		if q.head == len(q.items) {
			panic("producer: FIFO.Consume beyond the gathered bytes")
		}
		it := &q.items[q.head]
		if it.kind == closeItem || it.buf == nil {
			panic("producer: FIFO.Consume beyond the gathered bytes")
		}
		k := min(n, len(it.buf)-it.off)
		it.off += k
		q.n -= k
		n -= k
		if it.off < len(it.buf) {
			return
		}
		switch it.kind {
		case dataItem:
			q.putBuffer(it.buf)
			q.pop()
		case sharedItem:
			q.pop()
		default:
			// Keep the producer; drop our hold on its chunk so its
			// buffer can be reused by the next More.
			it.buf, it.off = nil, 0
		}
	}
}

// Discard drops everything queued, closing producers that implement
// io.Closer (their Close errors are ignored): asynchat's discard_buffers for
// the output side. Buffers are kept for reuse as after Consume.
func (q *FIFO) Discard() {
	for i := q.head; i < len(q.items); i++ {
		it := &q.items[i]
		switch it.kind {
		case dataItem:
			q.putBuffer(it.buf)
		case producerItem:
			if c, ok := it.p.(io.Closer); ok {
				_ = c.Close()
			}
		}
	}
	clear(q.items)
	q.items = q.items[:0]
	q.releaseItems()
	q.head = 0
	q.n = 0
	if q.rare != nil {
		q.rare.err = nil
	}
}

// pop removes the head item.
func (q *FIFO) pop() {
	q.items[q.head] = item{}
	q.head++
	switch {
	case q.head == len(q.items):
		q.items = q.items[:0]
		q.head = 0
		q.releaseItems()
	case q.head >= compactAfter && 2*q.head >= len(q.items):
		k := copy(q.items, q.items[q.head:])
		clear(q.items[k:])
		q.items = q.items[:k]
		q.head = 0
	}
}

// remove takes items[i] out of the queue. Gather removes exhausted
// producers it meets past the head; the items before such a producer were
// all gathered in the same call, so moving them up by one costs at most
// maxBufs copies.
func (q *FIFO) remove(i int) {
	copy(q.items[q.head+1:i+1], q.items[q.head:i])
	q.pop()
}

// smallItems is the capacity of the item arrays every queue shares: a
// connection rarely has more than a reply or two waiting, and when its
// queue empties it gives its array back (releaseItems), so that an idle
// connection holds none.
const smallItems = 4

// itemArrays holds the emptied item arrays of smallItems items.
var itemArrays = sync.Pool{New: func() any { return new([smallItems]item) }}

// add appends it to the queue, taking a shared item array if the queue
// has none.
func (q *FIFO) add(it item) {
	if q.items == nil {
		q.items = itemArrays.Get().(*[smallItems]item)[:0]
	}
	q.items = append(q.items, it)
}

// releaseItems gives an empty queue's item array back to itemArrays if it
// is one of theirs; a larger one, grown for a burst, is kept.
func (q *FIFO) releaseItems() {
	if len(q.items) == 0 && cap(q.items) == smallItems {
		itemArrays.Put((*[smallItems]item)(q.items[:smallItems]))
		q.items = nil
	}
}

// The pools of emptied buffers, one per size, that every queue shares: an
// idle connection whose replies have all been written holds no output
// buffer, and steady-state pushes still allocate nothing.
var (
	smallBuffers = sync.Pool{New: func() any { return new([minBuffer]byte) }}
	chunkBuffers = sync.Pool{New: func() any { return new([chunkBuffer]byte) }}
	largeBuffers = sync.Pool{New: func() any { return new([largeBuffer]byte) }}
)

// getBuffer returns an empty buffer for the next n bytes of a push, or for
// as many of them as a largeBuffer holds. A small push gets a small buffer;
// the overflow of a full buffer (spill) at least a chunk, so that a long
// run of small pushes takes few buffers.
func getBuffer(n int, spill bool) []byte {
	switch {
	case n <= minBuffer && !spill:
		return smallBuffers.Get().(*[minBuffer]byte)[:0]
	case n <= chunkBuffer:
		return chunkBuffers.Get().(*[chunkBuffer]byte)[:0]
	default:
		return largeBuffers.Get().(*[largeBuffer]byte)[:0]
	}
}

// putBuffer gives an emptied buffer back to its pool.
func (q *FIFO) putBuffer(b []byte) {
	switch cap(b) {
	case minBuffer:
		smallBuffers.Put((*[minBuffer]byte)(b[:minBuffer]))
	case chunkBuffer:
		chunkBuffers.Put((*[chunkBuffer]byte)(b[:chunkBuffer]))
	case largeBuffer:
		largeBuffers.Put((*[largeBuffer]byte)(b[:largeBuffer]))
	}
}
