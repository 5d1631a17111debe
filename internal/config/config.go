// Package config holds what every tunable of the library shares: the rule
// that a field left at zero takes its default and a negative one is off,
// and the buffer sizes and retention heuristics, each with its reason, so
// that a number such as 65536 has one name and one explanation.
//
// It is a leaf: it imports nothing from the library, so dispatcher, chat and
// producer can all use it.
package config

import "time"

// Or returns the value to use for a tunable field v whose default is def:
// def when v is zero, v when it is positive, and 0 — off, no limit — when
// it is negative. Every field documented as "zero means the default,
// negative turns it off" goes through it; callers treat 0 as off.
func Or[T int | time.Duration](v, def T) T {
	switch {
	case v < 0:
		return 0
	case v == 0:
		return def
	}
	return v
}

// Buffer sizes and retention heuristics.
const (
	// IOChunk is the most one read asks for and the most one write hands
	// the kernel: asyncore's dispatcher_with_send sends at most 65536
	// bytes per call, and asynchat's ac_in_buffer_size and
	// ac_out_buffer_size are 65536. It bounds what one channel's event
	// costs the others, and it is large enough that a bulk transfer is
	// not dominated by system calls. chat.DefaultBufferSize and
	// producer.ReaderProducer's default chunk are this value.
	IOChunk = 65536

	// KeepIncoming is the largest default-collector buffer an AsyncChat
	// keeps for reuse once its data has been taken: one read's worth, so
	// that a protocol of messages up to a read in size collects without
	// allocating, while one large message is not held for the
	// connection's life.
	KeepIncoming = IOChunk

	// MaxKeptIn is the largest buffer an AsyncChat keeps for a partial
	// delimiter once what it holds is small again (after a postponed or
	// held backlog was framed), so that an idle channel holds a few bytes,
	// not a read's worth (docs/failure-modes.md#f11-slowloris).
	MaxKeptIn = 4096

	// DiscardBuffer is the size of the pooled buffer into which a
	// DispatcherWithSend reads and drops input after CloseWhenDone.
	// Nothing is kept, so a small buffer costs only a few more reads from
	// a peer that keeps sending, and the pool shares it among
	// connections.
	DiscardBuffer = 16 << 10

	// FIFOMinBuffer is the capacity of a fresh output-queue buffer: enough
	// for a typical reply. Emptied buffers of this size go back to a pool
	// every queue shares, so an idle connection whose replies fitted holds
	// none.
	FIFOMinBuffer = 512

	// FIFOChunkBuffer is the output-queue buffer for a reply larger than
	// FIFOMinBuffer, and for what overflows a full buffer: a run of
	// replies fills one after another, each written where it lies, rather
	// than growing one buffer at every doubling. These too go back to a
	// shared pool once written, so an idle connection holds none however
	// large its replies were.
	FIFOChunkBuffer = 16 << 10
)
