// Package chat is asynchat in Go: AsyncChat, a dispatcher that splits its
// input into frames at a terminator and queues its output, so that a
// line- or length-framed protocol server is two methods — CollectIncomingData
// and FoundTerminator — and calls to Push.
//
//	type Line struct{ chat.AsyncChat }
//
//	func (l *Line) FoundTerminator() {
//		line := l.TakeData() // what the default collector gathered
//		l.Push(append(line, '\n'))
//	}
//
//	l := &Line{}
//	l.Init(l, m)
//	l.SetTerminator(chat.DelimiterString("\n"))
//	l.Adopt(fd)
//
// # Terminators
//
// A Terminator is a delimiter (asynchat's string terminator), a length
// (its integer terminator) or None, with asynchat's exact semantics: a
// delimiter split across any number of reads is still found; the bytes
// before it go to CollectIncomingData (never as an empty piece) and the
// delimiter itself is consumed; a length counts down across reads and turns
// into Length(0) — collect everything — once it fires; FoundTerminator may
// change the terminator, and the rest of the input already received is
// framed with the new one. The matcher, Match, is a pure function: it is
// table-tested against traces recorded from CPython and fuzzed.
//
// # Beyond asynchat
//
//   - Output is gathered: the replies that the frames of one read produced
//     leave in one sendmsg/writev, and a writable event writes up to
//     OutBufferSize bytes from several queued chunks at once. The bytes on
//     the wire are those of sending each chunk in turn.
//   - Input is bounded. A frame may not exceed MaxLine bytes while waiting
//     for a delimiter (default 64 KiB), a length terminator may not exceed
//     MaxMessage (default 1 MiB; a length announced by the peer never
//     allocates that much up front), and the default collector holds at most
//     MaxMessage bytes. Going past a limit calls HandleError with
//     ErrLineTooLong or ErrMessageTooLarge and closes the channel — after
//     writing whatever HandleError pushed, if it kept the channel open.
//   - Output is bounded, frame by frame. Once the queued output is above
//     OutHighWater (default 1 MiB), the chat frames no further request: the
//     rest of the input already read is held unframed and nothing more is
//     read, until the queue drains below OutLowWater; then framing resumes
//     in the same loop iteration. So a client that pipelines requests
//     without reading the replies stalls, holding at most about
//     OutHighWater plus one reply plus one read, and a client that reads
//     gets every reply of a pipeline however large they add up to. A single
//     reply above OutLimit (default 32 MiB) fails with ErrOutputLimit and
//     closes; so does output pushed from outside FoundTerminator (a timer,
//     another channel) that piles up above OutLimit.
//   - The limit and timeout errors (ErrLineTooLong, ErrMessageTooLarge,
//     ErrOutputLimit, ErrFrameTimeout) are peer-caused: they have a
//     PeerCaused method returning true, found by errors.As on an
//     interface{ PeerCaused() bool }, so logging can tell what a peer did
//     from a fault of the program. A failed producer is not peer-caused.
//   - EOF from the peer is not the end of the conversation: frames already
//     received have been delivered, and replies still queued are written
//     before the close. A peer that half-closes after its request (nc -N)
//     gets its answer.
//   - Time is bounded. AsyncChat turns on the dispatcher's server timeouts
//     (dispatcher.Hooks.UseServerTimeouts: IdleTimeout 120 s,
//     WriteStallTimeout 60 s) and adds two of its own. FrameTimeout
//     (default 60 s) runs from the first byte of a frame to its terminator
//     and fails the channel with ErrFrameTimeout, handled like the input
//     limits: this is what stops a slowloris peer, which trickles a request
//     a byte at a time and so is never idle. It does not run while the
//     terminator is None. LingerTimeout (default 5 s) bounds CloseWhenDone:
//     output not written by then is dropped and the channel closed. All of
//     them share the dispatcher's one timer; negative turns one off, and
//     each may be changed while running (call Hooks().ResetTimeouts after lowering
//     one).
//   - Closing does not destroy the last reply. Closing a TCP socket with
//     unread input sends RST, which can discard a reply the peer has not
//     read yet — typically the error line sent to a client that broke a
//     limit and is still sending. So once CloseWhenDone's output is
//     written, if input arrived after it (or a limit was broken), the chat
//     shuts down its sending side, reads and drops input until the peer's
//     EOF, and closes then, or after LingerTimeout without input (at most
//     six LingerTimeouts in all): nginx's lingering close. HandleClose runs
//     once, when it ends.
//   - Everything is counted: Stats on the loop (bytes, timeouts, limit
//     disconnections, ...) and ChannelStats on each chat (bytes, buffered
//     input, queued output).
//   - One client cannot monopolise the loop: a read delivers at most
//     FramesPerRead frames (default 1,024); the rest is framed after the
//     other channels have had their turn, and the chat reads no more until
//     it is done. Each read is at most InBufferSize bytes and each write at
//     most OutBufferSize.
//   - Idle connections hold no read buffer: reads borrow one from a pool.
//   - An embedding type with a HandleDrained() method hears when its queued
//     output has all been written (not after CloseWhenDone): the place to
//     push the next block of a long transfer.
//   - An embedding type with a PeekInput(data []byte) method (InputPeeker)
//     sees each read's input whole before its frames are delivered: a
//     pipelining server can prepare for the batch — examples/resp looks up
//     the keys of a read's commands together, so that their cache misses
//     overlap.
//   - Output need not be copied. Push copies (the caller may reuse its
//     buffer); PushShared queues by reference data the caller never
//     modifies — a cached file body that many replies send costs no copy
//     per reply — and PushString takes a string without converting it.
//
// # Defaults
//
// asynchat has no limits and no timeouts; AsyncChat has both, on by
// default, because a server without them is one slow or hostile client
// away from running out of memory or connections. Each applies when its
// field is zero and is turned off by a negative value:
//
//   - IdleTimeout 120 s and WriteStallTimeout 60 s, the dispatcher's
//     server timeouts, turned on by Init (Hooks().UseServerTimeouts).
//   - FrameTimeout 60 s, from the first byte of a frame to its terminator.
//   - LingerTimeout 5 s, for a stalled CloseWhenDone and the lingering
//     close.
//   - MaxLine 64 KiB, MaxMessage 1 MiB: input limits.
//   - OutHighWater 1 MiB (OutLowWater half of it), OutLimit 32 MiB:
//     output limits.
//   - FramesPerRead 1,024: fairness between channels.
//
// A client talking to a slow server, or a port of asynchat code that
// expects none of this, sets the ones it does not want to -1 — at least
// IdleTimeout and FrameTimeout, the two most likely to surprise.
//
// # Deliberate differences from asynchat
//
//   - Push of empty data does nothing (asynchat queues it and later sends
//     zero bytes). Data pushed after CloseWhenDone is dropped at once
//     (asynchat keeps it queued, never to be sent).
//   - Push does not split data into OutBufferSize pieces in the queue; the
//     same bound applies to each write instead, so what reaches the socket
//     per call is the same.
//   - A producer whose More returns an empty chunk is exhausted, as in
//     asynchat, but the item after it is never lost
//     (docs/asyncore-compat.md#empty-producer-chunk).
//   - The default FoundTerminator logs a warning and drops the collected
//     data instead of raising NotImplementedError; the default
//     CollectIncomingData is asynchat's _collect_incoming_data, and TakeData
//     its _get_data.
//   - The data given to CollectIncomingData is only valid during the call
//     (it points into the loop's read buffer, loop.Loop.BorrowReadBuffer,
//     which every read of every channel of the loop reuses), like
//     bufio.Scanner.Bytes; the default collector copies it. The same
//     lifetime rule holds for dispatcher.DataHandler's HandleData: lent
//     until the handler returns. The chat itself holds no read buffer
//     between reads, only a partial delimiter, so an idle connection costs
//     little. The default collector itself keeps a long line that
//     arrived whole where it lies, rather than copying it, until
//     FoundTerminator has taken it (TakeData). Keeping the slice itself — asynchat's
//     self.buffer.append(data) ported as c.parts = append(c.parts, data) —
//     corrupts frames later. Under the race detector, or with the
//     environment variable ASYNCORE_DEBUG set (to anything but "0"), the
//     chat overwrites the slice with '#' bytes as soon as the call
//     returns, so that mistake shows in tests at once.
//   - After CloseWhenDone, input that arrives is read and discarded rather
//     than framed, so no request is acted on after the decision to close
//     (docs/failure-modes.md#f22-frames-after-close), and the close does not
//     turn into a reset because of unread input.
//   - PrefixAtEnd (find_prefix_at_end) returns 0, not -1, for an empty
//     needle.
//
// All methods belong to the goroutine running the chat's loop.
package chat
