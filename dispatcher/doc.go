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
// # Reading into the loop's buffer: HandleData
//
// The fast way to take input from a stream is to let the loop read it: a
// handler with HandleData (DataHandler) is called with what arrived, read
// into the loop's one read buffer, instead of HandleRead:
//
//	func (e *Echo) HandleData(p []byte) { e.Send(p) }
//
// The connection then holds no read buffer — the loop's 64 KiB serves all
// its connections, one handler at a time — and a read costs one system
// call and no copy. The lifetime rule: p is lent until HandleData returns;
// the next read of any channel of the loop overwrites it. Send it, frame
// it, copy it; never keep p itself. It is the rule chat states for
// CollectIncomingData, which reads into the same buffer. EOF, errors,
// timeouts and statistics are as for Recv; a nested read (a proxy reading
// its other side from inside HandleData) gets a buffer of its own.
// HandleData is an addition; asyncore's HandleRead with Recv still works.
//
// # Servers
//
// Serve is socketserver's TCPServer: a listener plus a constructor that
// makes each connection's handler — any type embedding Dispatcher,
// DispatcherWithSend or chat.AsyncChat, Init'ed and set up. It replaces
// the HandleAccepted every asyncore server writes (make the handler, Init,
// Adopt, close the descriptor if that fails), which remains there for full
// control. AdoptConn takes over a socket made by package net, including
// net.Conn and net.Listener interface values.
//
// # TLS
//
// ServeTLS is Serve with TLS on every connection; Socket().TLSServer and
// TLSClient switch one connection (TLSClient right after Connect:
// HandleConnect then fires after the handshake), and
// DispatcherWithSend.StartTLS and chat.AsyncChat.StartTLS do the server's
// STARTTLS. Handlers see plaintext everywhere. The handshake runs on a
// goroutine of its own, bounded per map by SetTLSLimits (256 at once, 4,096
// waiting, 10 s); afterwards the loop drives crypto/tls itself and the
// connection holds no goroutine. A failed handshake reaches HandleError as
// a *TLSError, a stream cut without close_notify as ErrTLSTruncated; Close
// sends close_notify. tls.Config callbacks (GetCertificate,
// GetConfigForClient, VerifyPeerCertificate) run on the handshake's
// goroutine, not the loop's. See docs/tls.md.
//
// # The method set, Socket and Hooks
//
// Dispatcher's methods are asyncore's dispatcher — the same names in Go's
// spelling (Init, CreateSocket, Adopt for set_socket, SetReuseAddr, Bind,
// Listen, Connect, Accept, Send, Recv, Close, the predicates, the Handle
// methods, Log, LogInfo, Connected, Accepting, Connecting, Addr) — plus what
// the loop asks of a channel (Interest, HandleEvents, ChannelStats,
// BeginShutdown) and a few Go conveniences (Fd, Map, UpdateInterest,
// ListenTCP, AcceptStats). Two small handles hold the rest, so that a type
// embedding Dispatcher does not show it as its own API:
//
//   - Socket() is asyncore's self.socket: what Python code does on the
//     socket itself — SendTo and RecvFrom for datagrams, ShutdownWrite,
//     LocalAddr and RemoteAddr, Family and Type — and the gathered write
//     (SendBuffers) and pending-input count (Unread) an output queue needs.
//   - Hooks() is for protocol layers built on Dispatcher, as chat is:
//     deadlines of their own on the dispatcher's timer (ArmTimeout, with
//     Deadliner), the server timeout defaults (UseServerTimeouts,
//     ResetTimeouts), the map's counters (CountTimeout, CountLimitClose)
//     and the peer's EOF.
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
// The I/O calls made inside handlers — Recv, Send, Accept, and Socket's
// RecvFrom, SendTo and SendBuffers — deal with errors the way asyncore's exception handling does, so a handler
// needs no error plumbing: EAGAIN is "nothing now" (0 bytes, nil error); EOF
// and the disconnect errnos (ECONNRESET, ENOTCONN, ESHUTDOWN, ECONNABORTED,
// EPIPE, EBADF) call HandleClose; any other error calls HandleError, whose
// default logs and closes the channel. These calls still return the error, so
// the handler knows to stop. Set-up calls — CreateSocket, Bind, Listen,
// Connect — return their errors to the caller, as asyncore raises them. A
// connect that fails later (refused, unreachable) reaches HandleError with
// the errno, which errors.Is finds.
//
// The default HandleError tells two kinds of error apart (IsPeerCaused).
// What the peer can cause at will — a reset, a timeout, a limit it went
// over — is logged at debug level and at most loop.LogGateBurst times a
// second per loop, with a count of the lines held back, because a server
// meets such errors all the time and an attacker can make thousands. The
// rest is logged at error level as asyncore's "uncaptured error": it means
// a bug, in the library or in a handler (a recovered panic always is).
//
// # Timeouts
//
// Every dispatcher has four timeout fields, read whenever a deadline is
// computed, so they may be changed while the dispatcher runs (call
// Hooks().ResetTimeouts after lowering one; a raised one is noticed when the
// old deadline comes):
//
//   - IdleTimeout: no input or output progress (a Recv or a write that moved
//     bytes) for that long. Listeners and connecting sockets are never idle.
//   - WriteStallTimeout: a write left output behind, and no byte of it has
//     been written for that long (the peer stopped reading). Output that is
//     dropped rather than written (Writable turns false) is not a stall.
//   - ReadIdleTimeout: no input for that long, whatever the output does
//     ("no request within 5 s" for a server that also sends on its own).
//   - ConnectTimeout: a Connect that has not finished.
//
// When one expires, HandleError receives ErrIdleTimeout, ErrWriteStall,
// ErrReadIdleTimeout or ErrConnectTimeout (errors.Is also finds
// unix.ETIMEDOUT in the last), once. They are timeouts (os.IsTimeout) and
// caused by the peer (a PeerCaused method that returns true), so they are
// not logged as faults of the program;
// its default closes the dispatcher. A HandleError that keeps the
// dispatcher open hears of the same timeout again only after another full
// period. A negative value turns a timeout off. Zero means the default —
// and here the defaults differ on purpose:
//
//   - ConnectTimeout's default, DefaultConnectTimeout (60 s), applies to
//     every dispatcher: a connect that hangs is never what asyncore code
//     wants, and the kernel gives up on its own after about two minutes
//     anyway (Linux's tcp_syn_retries).
//   - IdleTimeout and WriteStallTimeout are off by default for a plain
//     Dispatcher and DispatcherWithSend, as in asyncore, which never closed
//     a quiet channel: a control connection or a long poll may be quiet for
//     hours, and code ported from Python must not start losing connections.
//     Hooks().UseServerTimeouts makes zero mean DefaultIdleTimeout (120 s) and
//     DefaultWriteStallTimeout (60 s); chat.AsyncChat calls it, because a
//     protocol server facing the network needs them (docs/failure-modes.md,
//     F11 slowloris and F12 write-stall).
//   - ReadIdleTimeout has no default: it is off unless set, also under
//     Hooks().UseServerTimeouts.
//
// Timeouts cost nothing per event beyond storing the loop's clock
// (loop.Loop.Now, read once per iteration): each dispatcher owns at most one
// loop timer, armed for its earliest deadline. Progress only moves a
// deadline later, so the timer is left alone; when it fires, the dispatcher
// checks which deadline passed and re-arms the timer for the next one. The
// timer is moved earlier only when a new, earlier deadline appears — a
// write that leaves output behind, a Connect, an embedding type's deadline
// (Deadliner, Hooks().ArmTimeout) — and Reset does not allocate. Close stops the
// timer, so it can never fire on a new socket that reuses the descriptor
// number (docs/failure-modes.md#f5-stale-timer). Timeouts set before any loop
// serves the map start counting at the dispatcher's first event.
//
// # Graceful shutdown
//
// BeginShutdown is a dispatcher's part of shutting a server down without
// cutting replies short: a listener closes; a connection first calls its
// handler's HandleShutdown, if it has one (ShutdownHandler) — where a
// server says goodbye: SMTP's 421, HTTP's "Connection: close", a chat
// room's notice — and then CloseWhenDone (DispatcherWithSend,
// chat.AsyncChat), or Close for a handler without it.
//
// # Connection cap
//
// The default HandleAccept refuses connections while the map holds
// MaxConns(m) accepted connections (set with SetMaxConns; by default 10,000
// or the descriptor limit less 32): it accepts each one, writes the
// listener's RejectMessage if any, and closes it at once, as Redis does at
// maxclients, rather than pausing the listener and leaving clients waiting
// in the backlog. On the select backend, which cannot watch a descriptor
// numbered FD_SETSIZE or higher, the default cap is at most FD_SETSIZE less
// 32, and a connection that arrives on such a descriptor anyway (other
// files took the low numbers) is refused the same way; Adopt and
// CreateSocket return poller.ErrFDTooLarge for one. AcceptStats counts the
// refusals, which are logged at debug level, rate-limited. A connection
// counts from the moment a dispatcher adopts its descriptor in
// HandleAccepted until it closes (ConnStats.Conns); connections made with
// Connect do not count. A HandleAccept of your own that calls Accept itself
// bypasses the cap.
//
// The cap, the count and the connection counters (Stats: accepted,
// rejected, shed, accept pauses, timeouts, limit closes) are kept here, per
// map, and not in package loop: they are accept policy, which this package
// owns, and the loop stays a reactor that only watches descriptors — as
// Redis keeps maxclients in its networking code and its event library, ae,
// knows nothing of it. A change of policy then never touches the loop.
//
// # Deliberate differences from asyncore
//
//   - Writable's default is true only while a connect is in progress.
//     asyncore's always-true default puts every idle connection in the write
//     set, and level-triggered polling then never sleeps
//     (docs/asyncore-compat.md#writable-default). Override Writable to ask for
//     write events while you have output, as DispatcherWithSend does.
//   - Interest in write events is kept while a connect is in progress even if
//     Writable says false, so a connect always completes.
//   - After EOF the descriptor is no longer watched for reading, so a
//     HandleClose that keeps the channel open to flush output (a half-close)
//     does not spin the loop.
//   - A zero-byte datagram is not EOF.
//   - EMFILE and ENFILE in Accept do not reach HandleError (whose default
//     would close the listener, docs/asyncore-compat.md#emfile-in-accept). A
//     listener keeps one spare descriptor (on /dev/null); out of descriptors,
//     it gives it up, accepts and closes every pending connection (libuv's
//     EMFILE trick, so clients learn at once that the server is full instead of
//     waiting in the backlog), takes the spare back, and stops accepting for
//     AcceptBackoff before it tries again. AcceptStats counts those
//     connections.
//   - Bind records the bound address (so a port-0 listener reports its real
//     port), only on success; a failed Connect leaves Connecting false;
//     CloseAll empties the map even when a Close fails.
//   - DispatcherWithSend queues data while a connect is in progress instead
//     of sending into a socket that is not yet connected, and when the peer
//     half-closes it writes what is still queued before closing
//     (docs/asyncore-compat.md#half-close); its buffer is compacted as it
//     drains, so a connection that never empties it does not keep what it
//     already sent.
//   - DispatcherWithSend has asynchat's CloseWhenDone (asyncore's
//     dispatcher_with_send has none, so a Close right after a large Send
//     drops what the socket had not taken). It closes lingering, as
//     chat.AsyncChat does, and a stalled one gives up after LingerTimeout;
//     ShutdownWriteWhenDone is a client's half-close after its last Send;
//     a handler with HandleDrained (Drainer) hears when the queue empties.
//   - A hang-up (both directions shut) with input still buffered delivers
//     that input before HandleClose — even to a dispatcher that is not
//     reading at that moment — and HandleClose then sees EOF. asyncore's
//     poll backend closes at once and drops it.
//
// All methods belong to the goroutine running the dispatcher's loop.
package dispatcher
