package chat

import (
	"fmt"
	"unsafe"

	"github.com/asyncore-go/asyncore/internal/config"
	"github.com/asyncore-go/asyncore/producer"
)

// The output side of AsyncChat: the queue, its limits and the writes.

// maxWriteBufs bounds the buffers one write gathers (IOV_MAX is 1024 on
// Linux and the BSDs; a reply is rarely more than one or two buffers).
const maxWriteBufs = 64

// shareStringsFrom is the length from which PushString queues a string by
// reference: below it, copying the bytes into the tail buffer is cheaper
// than one more piece for the gathered write.
const shareStringsFrom = 4096

// Push queues data to be sent: asynchat's push. The data is copied unless
// it can be written at once, so the caller may reuse it. Replies pushed
// while the chat is handling input are written together, with one system
// call, when the input has been handled. Data pushed after CloseWhenDone is
// dropped, as asynchat never sends it.
//
// PushShared queues without the copy, for data that never changes;
// PushString takes a string; PushWithProducer streams output made on
// demand.
func (c *AsyncChat) Push(data []byte) { c.push(data, false) }

// PushShared is Push without the copy: data is queued by reference and
// written from where it lies. The caller promises never to modify data,
// neither before it is written nor after — a cached, immutable file body,
// say, which many replies then send at the cost of one queue entry each
// and no copy. Shared data counts as queued output for OutHighWater and
// OutLimit like any other.
func (c *AsyncChat) PushShared(data []byte) { c.push(data, true) }

// PushString is Push for a string, without converting it to a new []byte:
// a string is immutable, so a long one (4 KiB or more) is queued by
// reference, as PushShared does, and a short one is copied into the queue
// with the data around it.
func (c *AsyncChat) PushString(s string) {
	if len(s) == 0 {
		return
	}
	// Only read, never written: the bytes of a string are immutable.
	c.push(unsafe.Slice(unsafe.StringData(s), len(s)), len(s) >= shareStringsFrom)
}

// push is Push, and PushShared if shared is set.
func (c *AsyncChat) push(data []byte, shared bool) {
	if !c.life.Queueing() || c.Fd() < 0 || len(data) == 0 {
		return
	}
	send := !c.reading
	if send && c.out.Empty() && c.Connected() {
		n, err := c.Dispatcher.Send(data)
		if err != nil || n == len(data) {
			return
		}
		// The socket is full: queue the rest for the next writable event.
		data, send = data[n:], false
	}
	if shared {
		c.out.PushShared(data)
	} else {
		c.out.Push(data)
	}
	c.queued(send)
}

// PushWithProducer queues a producer, whose chunks are sent when the data
// queued before it has gone: asynchat's push_with_producer.
func (c *AsyncChat) PushWithProducer(p producer.Producer) {
	if !c.life.Queueing() || c.Fd() < 0 || p == nil {
		return
	}
	c.out.PushProducer(p)
	c.queued(!c.reading)
}

// queued enforces the output limits after something was queued and, if
// send is set, starts writing.
func (c *AsyncChat) queued(send bool) {
	pending := c.out.Len()
	if limit := config.Or(c.OutLimit, DefaultOutLimit); limit > 0 && pending-c.replyBase > limit {
		c.out.Discard()
		c.life.Fail()
		c.Hooks().CountLimitClose()
		c.self.HandleError(ErrOutputLimit)
		if c.Fd() >= 0 {
			_ = c.self.Close()
		}
		return
	}
	if high := config.Or(c.OutHighWater, DefaultOutHighWater); high > 0 && pending > high && !c.paused {
		c.paused = true
	}
	if !c.reading {
		// Inside HandleRead, the write after the framing updates the
		// interest once for all the frame's replies.
		c.UpdateInterest()
	}
	if send {
		c.initiateSend()
	}
}

// initiateSend writes what is queued, at most OutBufferSize bytes in one
// gathered system call: asynchat's initiate_send. When it reaches a
// CloseWhenDone marker it calls HandleClose. When it has written the last
// of the queue, it calls the embedding type's HandleDrained, if it has
// one, unless the chat is closing.
func (c *AsyncChat) initiateSend() {
	if !c.Connected() || c.Fd() < 0 {
		return
	}
	wasEmpty := c.out.Empty()
	if !c.out.AtClose() {
		var scratch [maxWriteBufs][]byte // on the stack: an idle chat holds none
		bufs := c.out.Gather(scratch[:0], config.Or(c.OutBufferSize, DefaultBufferSize), maxWriteBufs)
		if len(bufs) > 0 {
			n, err := c.Socket().SendBuffers(bufs)
			clear(bufs)
			if err != nil {
				return // HandleClose or HandleError has run
			}
			c.out.Consume(n)
			c.life.Wrote(chatConn{c}, n) // a close that makes progress is not stalled
		}
	}
	if c.out.AtClose() {
		c.reachedClose()
		return
	}
	if c.startTLS != nil && c.out.Empty() {
		c.beginTLS() // STARTTLS: the reply is out
		return
	}
	c.resumeBelowLowWater()
	c.UpdateInterest()
	if !wasEmpty && c.drains && c.out.Empty() && !c.life.Closing() && c.Fd() >= 0 {
		c.self.(drainer).HandleDrained()
	}
}

// reachedClose acts on a close marker at the head of the queue: everything
// queued before CloseWhenDone — or before StartTLS, whose switch point is
// marked the same way — is written. A producer that failed on the way
// fails the channel instead.
func (c *AsyncChat) reachedClose() {
	c.out.PopClose()
	if err := c.out.Err(); err != nil {
		// A producer failed: the reply it was part of is cut short,
		// and what follows cannot be framed; the connection is done.
		c.life.Fail()
		c.self.HandleError(fmt.Errorf("chat: producer failed: %w", err))
		if c.Fd() >= 0 {
			_ = c.self.Close()
		}
		return
	}
	if c.startTLS != nil {
		// The marker was StartTLS's: the reply before it is written,
		// and what was pushed after it waits for the handshake.
		c.beginTLS()
		return
	}
	c.closeWritten()
}

// resumeBelowLowWater lets reading and framing go on once the queue has
// drained below OutLowWater.
func (c *AsyncChat) resumeBelowLowWater() {
	if !c.paused || c.out.Len() >= c.lowWater() {
		return
	}
	c.paused = false
	if c.wait == waitOutput {
		// The output drained: frame what was held, after the
		// other channels' events of this iteration.
		c.wait = waitNone
		c.postpone(c.in)
	}
}

// drainer is what an embedding type implements to hear that its queued
// output has all been written: the same method as dispatcher.Drainer.
type drainer interface{ HandleDrained() }

func (c *AsyncChat) lowWater() int {
	if c.OutLowWater > 0 {
		return c.OutLowWater
	}
	return config.Or(c.OutHighWater, DefaultOutHighWater) / 2
}

// HandleWrite writes queued output: asynchat's handle_write.
func (c *AsyncChat) HandleWrite() { c.initiateSend() }

// Writable is asynchat's writable(): true while output is queued, or before
// the socket is connected.
func (c *AsyncChat) Writable() bool { return !c.out.Empty() || !c.Connected() }

// Pending reports how many bytes of output are queued in memory.
func (c *AsyncChat) Pending() int { return c.out.Len() }
