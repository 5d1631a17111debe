// Package dispatcher is asyncore's dispatcher in Go: a non-blocking socket
// (or pipe) in a loop.Map, with a Handle method per event that you override.
//
// # Subclassing
//
// Python code subclasses dispatcher and overrides handle_read. Go has no
// virtual methods, so a Dispatcher keeps a reference to the value that
// embeds it — "self" — and calls every predicate and handler through it:
//
//	type Echo struct{ dispatcher.DispatcherWithSend }
//
//	func (e *Echo) HandleRead() {
//		var buf [4096]byte
//		if n, _ := e.Recv(buf[:]); n > 0 {
//			e.Send(buf[:n])
//		}
//	}
//
//	e := &Echo{}
//	e.Init(e, m) // like dispatcher.__init__(self, map=m)
//
// Any method of Handler the embedding type defines overrides the default;
// the rest keep asyncore's default behaviour (see each Handle method).
//
// # Events
//
// The loop hands every event of a descriptor to HandleEvents, which routes
// it as asyncore's readwrite() does: read (HandleAccept on a listener,
// HandleConnect first on a socket whose connect just finished, then
// HandleRead), then write, then priority data (HandleExpt), then errors and
// hang-ups (HandleClose, or HandleError for an error that is not a
// disconnect). Unlike asyncore, nothing more is delivered once a handler has
// closed the dispatcher, and a descriptor number reused in the same batch
// never receives the old socket's events.
//
// # Errors
//
// The I/O calls made inside handlers — Recv, Send, RecvFrom, SendTo, Accept
// — deal with errors the way asyncore's exception handling does, so a handler
// needs no error plumbing: EAGAIN is "nothing now" (0 bytes, nil error); EOF
// and the disconnect errnos (ECONNRESET, ENOTCONN, ESHUTDOWN, ECONNABORTED,
// EPIPE, EBADF) call HandleClose; any other error calls HandleError, whose
// default logs and closes the channel. These calls still return the error, so
// the handler knows to stop. Set-up calls — CreateSocket, Bind, Listen,
// Connect — return their errors to the caller, as asyncore raises them. A
// connect that fails later (refused, unreachable) reaches HandleError with
// the errno, which errors.Is finds.
//
// # Deliberate differences from asyncore
//
//   - Writable's default is true only while a connect is in progress.
//     asyncore's always-true default puts every idle connection in the write
//     set, and level-triggered polling then never sleeps (asyncore-spec §4.2).
//     Override Writable to ask for write events while you have output, as
//     DispatcherWithSend does.
//   - Interest in write events is kept while a connect is in progress even if
//     Writable says false, so a connect always completes.
//   - After EOF the descriptor is no longer watched for reading, so a
//     HandleClose that keeps the channel open to flush output (a half-close)
//     does not spin the loop.
//   - A zero-byte datagram is not EOF.
//   - EMFILE and ENFILE in Accept do not reach HandleError (whose default
//     would close the listener, asyncore-spec §4.3): the listener stops
//     accepting for AcceptBackoff and then tries again.
//   - Bind records the bound address (so a port-0 listener reports its real
//     port), only on success; a failed Connect leaves Connecting false;
//     CloseAll empties the map even when a Close fails.
//   - DispatcherWithSend queues data while a connect is in progress instead
//     of sending into a socket that is not yet connected, and when the peer
//     half-closes it writes what is still queued before closing
//     (asyncore-spec §4.11); its buffer is compacted as it drains, so a
//     connection that never empties it does not keep what it already sent.
//   - A hang-up (both directions shut) with input still buffered delivers
//     that input before HandleClose — even to a dispatcher that is not
//     reading at that moment — and HandleClose then sees EOF. asyncore's
//     poll backend closes at once and drops it.
//
// All methods belong to the goroutine running the dispatcher's loop.
package dispatcher
