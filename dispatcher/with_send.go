package dispatcher

// sendChunk is how much DispatcherWithSend hands to one send(2), as
// asyncore's dispatcher_with_send sends at most 65536 bytes per call.
const sendChunk = 65536

// shrinkAbove is the buffer capacity above which an emptied output buffer is
// released, so one large burst does not pin its memory for the connection's
// life.
const shrinkAbove = 256 << 10

// DispatcherWithSend is asyncore's dispatcher_with_send: a Dispatcher with an
// output buffer. Send queues data and writes as much as the socket takes at
// once; the rest goes out as the socket becomes writable. Embed it instead
// of Dispatcher for simple servers that only need buffered sending.
type DispatcherWithSend struct {
	Dispatcher
	out      []byte // queued output; out[off:] is still to go
	off      int
	flushing bool // the peer sent EOF: close once out is written
}

// Send queues data and tries to write it at once: asyncore's
// dispatcher_with_send.send. It returns nothing; errors go to HandleClose or
// HandleError as for Dispatcher.Send. Data sent while a connect is in
// progress waits for the connection. The data is copied only if it cannot all
// be written at once, so the caller may reuse it when Send returns.
func (d *DispatcherWithSend) Send(data []byte) {
	if d.Debug {
		d.LogInfo("sending "+quote(data), "info")
	}
	if len(data) == 0 || d.fd < 0 {
		return
	}
	if d.Pending() == 0 && d.connected {
		n, err := d.Dispatcher.Send(data)
		if err != nil || n == len(data) {
			return
		}
		data = data[n:]
	}
	if d.off > 0 && d.off >= len(d.out)/2 {
		// More than half the buffer has been sent: move the rest down, so
		// a connection whose buffer never empties (a slow reader) does not
		// keep every byte it ever sent. Each byte moves at most once per
		// halving, so this is amortised O(1) per byte.
		d.out = d.out[:copy(d.out, d.out[d.off:])]
		d.off = 0
	}
	d.out = append(d.out, data...)
	d.UpdateInterest()
}

// Pending reports how many bytes are queued and not yet written.
func (d *DispatcherWithSend) Pending() int { return len(d.out) - d.off }

// initiateSend is asyncore's initiate_send: write at most sendChunk bytes.
func (d *DispatcherWithSend) initiateSend() {
	if d.Pending() == 0 {
		return
	}
	end := min(d.off+sendChunk, len(d.out))
	n, _ := d.Dispatcher.Send(d.out[d.off:end])
	d.off += n
	if d.off == len(d.out) {
		if cap(d.out) > shrinkAbove {
			d.out = nil
		} else {
			d.out = d.out[:0]
		}
		d.off = 0
		if d.flushing {
			_ = d.self.Close()
		}
	}
}

// HandleClose is asyncore's handle_close, with one difference: when the peer
// has only finished sending (EOF) and output is still queued, it writes that
// first and closes afterwards, so a client that half-closes after its
// request still gets the whole answer (asyncore-spec §4.11). A second
// HandleClose while flushing — the peer went away entirely — closes at once,
// through Dispatcher.HandleClose.
func (d *DispatcherWithSend) HandleClose() {
	if d.EOF() && !d.flushing && d.Pending() > 0 && d.connected {
		d.flushing = true
		d.UpdateInterest()
		return
	}
	d.Dispatcher.HandleClose()
}

// HandleWrite writes queued output: asyncore's dispatcher_with_send
// handle_write.
func (d *DispatcherWithSend) HandleWrite() { d.initiateSend() }

// Writable is true while output is queued, or before the socket is
// connected (asyncore: "(not self.connected) or len(self.out_buffer)").
func (d *DispatcherWithSend) Writable() bool { return !d.connected || d.Pending() > 0 }
