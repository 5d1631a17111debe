package chat

import "unsafe"

// The default collector without its copy. A long line that begins and ends in
// the same read is, for the README's line echo, copied from the read
// buffer into the collector, from the collector into the output queue, and
// written: the first copy buys nothing, since TakeData's slice only has to
// last until FoundTerminator returns. So the default collector keeps the
// piece the chat lends it, where it lies, and copies it only if the frame
// is not over when the chat is done with the input (settle): a frame that
// goes on in the next read, a handler that leaves a frame in the collector
// for the next one, or collected data the handler did not take.
//
// Only the chat's own piece is kept: a handler that overrides
// CollectIncomingData and hands the default collector data of its own
// (decoded, say, into a scratch buffer) gets it copied, as before. The
// chat offers the piece by putting it in c.in during the call — c.in is
// otherwise empty while a read is framed — and lend checks that data is
// that very slice. While the piece is kept, c.in holds the collector's own
// buffer, so that a connection whose frames span reads still reuses one
// buffer and allocates nothing. No field is added for this: an idle
// AsyncChat's size is bounded (TestAsyncChatSize).

// lendFrom is the shortest piece the default collector keeps rather than
// copies: below it, copying costs fewer instructions than the bookkeeping
// of the loan (measured with cachegrind on BenchmarkFrameLines: 64-byte
// lines lent took 6% more instructions, 4 KiB lines 17% fewer).
const lendFrom = 1024

// offer hands piece to CollectIncomingData, allowing the default collector
// to keep it. c.in is empty while a read is framed, unless it holds a
// backlog (resume) or the collector's own buffer during a loan: the caller
// checks that it has no buffer at all.
func (c *AsyncChat) offer(piece []byte) {
	piece = piece[:len(piece):len(piece)]
	c.in, c.offered = piece, true
	c.self.CollectIncomingData(piece)
	if c.offered {
		c.in, c.offered = nil, false // not kept
	}
	if debugCollect && !c.lentFrom(piece) {
		poison(piece) // the handler's loan has ended
	}
}

// lend keeps data in c.incoming instead of copying it, if it is the piece
// the chat offered and the collector holds nothing, and reports whether it
// did.
func (c *AsyncChat) lend(data []byte) bool {
	if !c.offered || len(c.incoming) != 0 || len(data) == 0 || len(data) != len(c.in) ||
		unsafe.SliceData(data) != unsafe.SliceData(c.in) {
		return false
	}
	c.offered, c.lent = false, true
	c.in, c.incoming = c.incoming[:0], data // park the collector's own buffer in c.in
	return true
}

// lentFrom reports whether the collector keeps a piece that starts where
// data does.
func (c *AsyncChat) lentFrom(data []byte) bool {
	return c.lent && len(data) > 0 && unsafe.SliceData(c.incoming) == unsafe.SliceData(data)
}

// lentLine is told that frame, the input from a frame's first byte to the
// end of its delimiter, has been collected: if the collector keeps its n
// bytes, the line TakeData returns may grow over the delimiter, which has
// been consumed, so append(TakeData(), '\n') writes where the '\n' was
// instead of allocating.
func (c *AsyncChat) lentLine(frame []byte, n int) {
	if c.lentFrom(frame) && len(c.incoming) == n {
		c.incoming = frame[:n:len(frame)]
	}
}

// settle ends a loan before the input it points into is reused: what the
// collector kept is copied into its own buffer.
func (c *AsyncChat) settle() {
	if !c.lent {
		return
	}
	kept := c.incoming
	own := c.in[:0]
	c.in, c.lent = nil, false
	c.incoming = append(own, kept...)
	if debugCollect {
		poison(kept) // the loan has ended
	}
}

// emptyIncoming empties the default collector: after TakeData, or when its
// data is dropped. A kept piece is let go, and the collector's own buffer
// comes back for the next frame.
func (c *AsyncChat) emptyIncoming() {
	if c.lent {
		c.incoming, c.in, c.lent = c.in[:0], nil, false
		return
	}
	c.incoming = c.incoming[:0]
}
