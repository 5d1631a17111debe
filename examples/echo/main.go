// Command echo is an echo server in the asyncore style: one goroutine, one
// event loop, and a dispatcher per socket whose Handle methods the loop calls
// when the socket is ready.
//
//	go run ./examples/echo                 # TCP on 127.0.0.1:7007
//	go run ./examples/echo -line           # a line echo on chat.AsyncChat
//	go run ./examples/echo -udp            # UDP instead
//	go run ./examples/echo -backend poll   # pick the poller
//	go run ./examples/echo -tls-cert cert.pem -tls-key key.pem   # TLS
//
// It is the Go form of the echo server in Python's asyncore documentation:
// a listener whose HandleAccepted wraps each new connection in a handler,
// and a handler that sends back what it receives. The handler takes its
// input with HandleData, the fast path: the loop reads into its one read
// buffer and lends the data, so a connection holds no buffer of its own.
//
// With -tls-cert and -tls-key every TCP connection speaks TLS: the handler
// is the same, since the dispatcher encrypts and decrypts under Send and
// the read (Socket().TLSServer).
//
// It prints one line, "ready ADDR", on stdout once it accepts connections;
// logs go to stderr.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/examples/internal/tlsflags"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
)

// maxPending is how much echoed data a connection may have queued before it
// stops reading. Without a bound, a client that sends without ever reading
// would make the server buffer everything it sends.
const maxPending = 256 << 10

// echoHandler serves one TCP connection. Embedding DispatcherWithSend gives
// it asyncore's dispatcher_with_send: Send queues what the socket cannot take
// at once and writes it when the socket becomes writable.
type echoHandler struct {
	dispatcher.DispatcherWithSend
}

// HandleData is called with what the socket received (dispatcher.DataHandler).
// p is the loop's read buffer, lent until HandleData returns; Send queues a
// copy of whatever the socket does not take now. EOF and broken connections
// go to HandleClose, so there is no error handling to do here.
func (h *echoHandler) HandleData(p []byte) { h.Send(p) }

// Readable applies back-pressure: while too much output is queued the loop
// stops watching the socket for reading, and the client's writes block.
// The loop asks again after each event, so reading resumes once the queue
// has drained.
func (h *echoHandler) Readable() bool { return h.Pending() < maxPending }

// HandleClose is called when the client hangs up. DispatcherWithSend's
// version closes the socket — after writing what is still queued, if the
// client only half-closed (nc -N) — and we add a log line.
func (h *echoHandler) HandleClose() {
	slog.Debug("client hung up", "peer", h.Addr())
	h.DispatcherWithSend.HandleClose()
}

// lineHandler is the line echo of -line, asynchat's way: the chat collects
// input until the "\n" terminator, and FoundTerminator pushes the line back.
type lineHandler struct {
	chat.AsyncChat
}

// FoundTerminator answers a complete line with the same line. TakeData's
// slice is reused by the next line, and Push copies it, so the append costs
// no allocation once the collector has grown.
func (h *lineHandler) FoundTerminator() {
	h.Push(append(h.TakeData(), '\n'))
}

// echoServer is the listening socket. The default HandleAccept accepts the
// pending connections and passes each to HandleAccepted.
type echoServer struct {
	dispatcher.Dispatcher
	line    bool        // -line: serve lineHandlers
	noDelay bool        // set TCP_NODELAY on accepted connections
	tls     *tls.Config // -tls-cert, -tls-key: connections speak TLS; nil: plain TCP
}

// HandleAccepted adopts a new connection's descriptor into an echoHandler
// (or, with -line, a lineHandler) in the listener's map, so the same loop
// serves it.
func (s *echoServer) HandleAccepted(fd int, addr net.Addr) {
	if s.noDelay {
		// Replies go out without Nagle's delay, as Go's net package does
		// by default: a pipelined reply must not wait for the peer's ACK.
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	}
	if s.line {
		s.acceptLine(fd, addr)
		return
	}
	h := &echoHandler{}
	h.Init(h, s.Map()) // Python: EchoHandler(sock, map=self._map)
	if err := h.Adopt(fd); err != nil {
		_ = syscall.Close(fd) // on failure the descriptor is still ours
		slog.Warn("cannot serve connection", "peer", addr, "err", err)
		return
	}
	if !s.startTLS(h.Socket(), h.Close, addr) {
		return
	}
	slog.Debug("connection opened", "peer", addr)
}

// startTLS makes an adopted connection speak TLS as the server when the
// server has a certificate: the handshake begins at once, and the handler
// sees only plaintext. It reports whether the connection is still open.
func (s *echoServer) startTLS(sock dispatcher.Socket, closeConn func() error, addr net.Addr) bool {
	if s.tls == nil {
		return true
	}
	return tlsflags.Start(sock, s.tls, closeConn, addr)
}

// acceptLine is HandleAccepted for -line.
func (s *echoServer) acceptLine(fd int, addr net.Addr) {
	h := &lineHandler{}
	h.Init(h, s.Map())
	h.SetTerminator(chat.DelimiterString("\n"))
	if err := h.Adopt(fd); err != nil {
		_ = syscall.Close(fd)
		slog.Warn("cannot serve connection", "peer", addr, "err", err)
		return
	}
	if !s.startTLS(h.Socket(), h.Close, addr) {
		return
	}
	slog.Debug("connection opened", "peer", addr, "mode", "line")
}

// udpEcho is the UDP server: one datagram socket, no connections. A plain
// Dispatcher is enough, since each reply is a single Socket().SendTo.
type udpEcho struct {
	dispatcher.Dispatcher
	buf [65536]byte // the largest datagram UDP can carry
}

// HandleRead returns each datagram to its sender. RecvFrom reports a nil
// sender when nothing is waiting.
func (u *udpEcho) HandleRead() {
	n, from, err := u.Socket().RecvFrom(u.buf[:])
	if err != nil || from == nil {
		return
	}
	_, _ = u.Socket().SendTo(u.buf[:n], from)
}

// options is the command line: what serve and serveLoops run.
type options struct {
	addr     string        // -addr: where to listen
	kind     poller.Kind   // -backend; 0 picks the best
	udp      bool          // -udp: echo datagrams
	line     bool          // -line: a line echo on chat.AsyncChat
	loops    int           // -loops: TCP event loops
	maxConns int           // -maxconns: the cap on connections per map; 0 the default, -1 none
	noDelay  bool          // -nodelay: TCP_NODELAY on accepted connections
	grace    time.Duration // -grace: how long a shutdown waits for connections
	tls      *tls.Config   // -tls-cert, -tls-key: TCP connections speak TLS; nil: plain
}

// listen creates the server's socket in m and returns its bound address
// (with the real port if opt.addr asked for port 0).
func listen(m *loop.Map, opt options) (net.Addr, error) {
	if opt.udp {
		u := &udpEcho{}
		u.Init(u, m)
		if err := u.CreateSocket(dispatcher.FamilyOf(opt.addr), dispatcher.SockDgram); err != nil {
			return nil, err
		}
		if err := u.Bind(opt.addr); err != nil {
			return nil, err
		}
		return u.Addr(), nil
	}
	dispatcher.SetMaxConns(m, opt.maxConns)
	s := &echoServer{line: opt.line, noDelay: opt.noDelay, tls: opt.tls}
	s.Init(s, m)
	s.ReusePort = opt.loops > 1
	// s.ListenTCP(addr): create_socket, set_reuse_addr, bind and listen in one call
	if err := s.ListenTCP(opt.addr); err != nil {
		return nil, err
	}
	return s.Addr(), nil
}

// serve runs an echo server until ctx is cancelled, then closes every socket
// and the loop. ready, if not nil, receives the bound address once the
// server accepts clients.
func serve(ctx context.Context, opt options, ready func(net.Addr)) error {
	m := loop.NewMap()
	l, err := loop.New(loop.Options{Map: m, Backend: opt.kind, Timeout: -1})
	if err != nil {
		return err
	}
	defer func() {
		// asyncore's close_all: the listener and every open connection.
		_ = dispatcher.CloseAll(m, true)
		_ = l.Close()
	}()

	bound, err := listen(m, opt)
	if err != nil {
		return err
	}
	proto := "tcp"
	if opt.udp {
		proto = "udp"
	} else if opt.tls != nil {
		proto = "tls"
	}
	slog.Info("echo server listening", "addr", bound, "proto", proto, "backend", l.Kind())
	if ready != nil {
		ready(bound)
	}

	// Everything in the loop belongs to this goroutine; Shutdown is one of
	// the few calls another goroutine may make, and RunGraceful makes it
	// when ctx ends: the listener closes, and each connection writes back
	// what it has read (DispatcherWithSend's CloseWhenDone) and closes.
	return l.RunGraceful(ctx, opt.grace)
}

// serveLoops is serve for TCP on n loops, one per thread (loop.StartGroup):
// each loop has its own listener on addr, bound with SO_REUSEPORT, and the
// kernel spreads new connections between them. Loop 0 binds first, so a
// port 0 in addr becomes one port that the others then share.
func serveLoops(ctx context.Context, opt options, ready func(net.Addr)) error {
	n, grace := opt.loops, opt.grace
	var bound net.Addr
	var mu sync.Mutex
	var loops []*loop.Loop
	g, err := loop.StartGroup(n, loop.Options{Backend: opt.kind, Timeout: -1}, func(i int, l *loop.Loop) error {
		mu.Lock()
		loops = append(loops, l)
		mu.Unlock()
		o := opt
		if i > 0 {
			o.addr = bound.String()
		}
		b, err := listen(l.Map(), o)
		if err != nil {
			return err
		}
		bound = b
		return nil
	})
	if err != nil {
		return err
	}
	slog.Info("echo server listening", "addr", bound, "proto", "tcp", "tls", opt.tls != nil, "loops", n)
	if ready != nil {
		ready(bound)
	}
	<-ctx.Done()
	// Each loop shuts down gracefully, at once, within one grace period.
	if grace <= 0 {
		grace = loop.DefaultGrace
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var wg sync.WaitGroup
	mu.Lock()
	for _, l := range loops {
		wg.Go(func() { _ = l.Shutdown(sctx) })
	}
	mu.Unlock()
	wg.Wait()
	for i := range n {
		// Each loop closes its own sockets, on its own goroutine, should
		// one still be running.
		_ = g.Post(i, func(l *loop.Loop) { _ = dispatcher.CloseAll(l.Map(), true) })
	}
	g.Stop()
	return g.Wait()
}

func main() {
	var opt options
	flag.StringVar(&opt.addr, "addr", "127.0.0.1:7007", "address to listen on")
	flag.Var(&opt.kind, "backend", "poller: epoll, kqueue, poll, select or best")
	flag.BoolVar(&opt.udp, "udp", false, "echo UDP datagrams instead of TCP streams")
	flag.BoolVar(&opt.line, "line", false, "TCP: echo lines with chat.AsyncChat instead of bytes")
	flag.IntVar(&opt.loops, "loops", 1, "TCP: event loops, one per thread, sharing the port with SO_REUSEPORT")
	flag.IntVar(&opt.maxConns, "maxconns", 0, "TCP: most connections per loop (0: the library's default, -1: no cap)")
	flag.BoolVar(&opt.noDelay, "nodelay", true, "TCP: set TCP_NODELAY on accepted connections")
	flag.DurationVar(&opt.grace, "grace", loop.DefaultGrace, "on SIGINT or SIGTERM, how long connections may take to get back what they sent before they are closed")
	verbose := flag.Bool("v", false, "log every connection")
	tlsFlags := tlsflags.Register(nil)
	flag.Parse()

	if *verbose {
		slog.SetLogLoggerLevel(slog.LevelDebug)
	}
	var err error
	if opt.tls, err = tlsFlags.Config(); err == nil && opt.tls != nil && opt.udp {
		err = errors.New("-tls-cert: TLS is for TCP; -udp cannot have it")
	}
	if err != nil {
		slog.Error("echo server failed", "err", err)
		os.Exit(2)
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	// The one line on stdout: scripts and the benchmark harness wait for it.
	ready := func(a net.Addr) { fmt.Printf("ready %s\n", a) }
	if opt.loops > 1 && !opt.udp {
		err = serveLoops(ctx, opt, ready)
	} else {
		err = serve(ctx, opt, ready)
	}
	if err != nil {
		slog.Error("echo server failed", "err", err)
		os.Exit(1)
	}
	slog.Info("bye")
}
