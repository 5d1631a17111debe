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
	out []byte // queued output; out[sent:] is still to go
	off int
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
	}
}

// HandleWrite writes queued output: asyncore's dispatcher_with_send
// handle_write.
func (d *DispatcherWithSend) HandleWrite() { d.initiateSend() }

// Writable is true while output is queued, or before the socket is
// connected (asyncore: "(not self.connected) or len(self.out_buffer)").
func (d *DispatcherWithSend) Writable() bool { return !d.connected || d.Pending() > 0 }
