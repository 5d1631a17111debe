// Package asyncore is the root of asyncore-go, Python's asyncore and
// asynchat programming model in Go: one goroutine runs one event loop over a
// map of non-blocking sockets, and each socket is a dispatcher whose
// HandleRead, HandleWrite, HandleAccept, HandleClose… methods the loop calls
// when the kernel says the socket is ready. This package holds no code; it is
// the map of the others.
//
// # Packages
//
//   - [github.com/asyncore-go/asyncore/poller]: the readiness layer, one
//     Poller interface and four backends (epoll, kqueue, poll, select) chosen
//     at run time.
//   - [github.com/asyncore-go/asyncore/loop]: the reactor — asyncore's
//     socket map (Map) and loop(), plus timers, Post from other goroutines,
//     Stop, graceful shutdown, Stats and groups of loops.
//   - [github.com/asyncore-go/asyncore/dispatcher]: asyncore's dispatcher,
//     dispatcher_with_send and file_dispatcher. Embed one, override the
//     Handle methods you need, call Init.
//   - [github.com/asyncore-go/asyncore/chat]: asynchat's async_chat, which
//     frames input at a terminator (a delimiter, a length or none) and queues
//     output.
//   - [github.com/asyncore-go/asyncore/producer]: asynchat's producers and
//     the output queue the chat writes from.
//
// Imports flow one way: poller ← loop ← dispatcher ← chat → producer.
//
// # Two ways to run a loop
//
// The asyncore way, for code ported from Python: dispatchers join a Map (or
// loop.DefaultMap, asyncore's socket_map) and loop.Run plays asyncore.loop,
// with its timeout, use_poll, map and count arguments as Options fields. It
// behaves as asyncore does, including asking every channel's Readable and
// Writable on every iteration.
//
//	m := loop.NewMap()
//	srv := &EchoServer{}
//	srv.Init(srv, m)
//	_ = srv.ListenTCP("127.0.0.1:7007")
//	_ = loop.Run(loop.Options{Map: m})
//
// The Go way, for servers that must scale to many idle connections: make a
// Loop with loop.New and call its Run (or RunContext). Predicates are asked
// again only when something may have changed them, so an iteration costs in
// proportion to the active connections; a handler whose Readable or Writable
// changes for a reason the library cannot see calls UpdateInterest.
//
//	l, err := loop.New(loop.Options{Map: m})
//	...
//	err = l.RunContext(ctx)
//
// The README's mapping table gives the Go spelling of every asyncore and
// asynchat name; examples/README.md is a learning path through runnable
// servers, each Python program beside its Go port.
package asyncore
