// Command echo is an echo server in the asyncore style: one goroutine, one
// event loop, and a dispatcher per socket whose Handle methods the loop calls
// when the socket is ready.
//
//	go run ./examples/echo                 # TCP on 127.0.0.1:7007
//	go run ./examples/echo -udp            # UDP instead
//	go run ./examples/echo -backend poll   # pick the poller
//
// It is the Go form of the echo server in Python's asyncore documentation:
// a listener whose HandleAccepted wraps each new connection in a handler,
// and a handler whose HandleRead sends back what it receives.
package main

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
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
	buf [4096]byte // reused by every read: no allocation per event
}

// HandleRead is called when the socket has data or EOF. Recv returns 0 when
// there is nothing to read; at EOF, or if the connection breaks, it calls
// HandleClose itself, so there is no error handling to do here.
func (h *echoHandler) HandleRead() {
	if n, _ := h.Recv(h.buf[:]); n > 0 {
		h.Send(h.buf[:n])
	}
}

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

// echoServer is the listening socket. The default HandleAccept accepts the
// pending connections and passes each to HandleAccepted.
type echoServer struct {
	dispatcher.Dispatcher
}

// HandleAccepted adopts a new connection's descriptor into an echoHandler
// in the listener's map, so the same loop serves it.
func (s *echoServer) HandleAccepted(fd int, addr net.Addr) {
	h := &echoHandler{}
	h.Init(h, s.Map()) // Python: EchoHandler(sock, map=self._map)
	if err := h.Adopt(fd); err != nil {
		_ = syscall.Close(fd) // on failure the descriptor is still ours
		slog.Warn("cannot serve connection", "peer", addr, "err", err)
		return
	}
	slog.Debug("connection opened", "peer", addr)
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

// listen creates the server's socket on addr and returns its bound address
// (with the real port if addr asked for port 0).
func listen(m *loop.Map, addr string, udp bool) (net.Addr, error) {
	if udp {
		u := &udpEcho{}
		u.Init(u, m)
		if err := u.CreateSocket(dispatcher.FamilyOf(addr), dispatcher.SockDgram); err != nil {
			return nil, err
		}
		if err := u.Bind(addr); err != nil {
			return nil, err
		}
		return u.Addr(), nil
	}
	s := &echoServer{}
	s.Init(s, m)
	if err := s.ListenTCP(addr); err != nil {
		return nil, err
	}
	return s.Addr(), nil
}

// serve runs an echo server on addr until ctx is cancelled, then closes every
// socket and the loop. ready, if not nil, receives the bound address once the
// server accepts clients. kind 0 picks the best backend.
func serve(ctx context.Context, addr string, kind poller.Kind, udp bool, grace time.Duration, ready func(net.Addr)) error {
	m := loop.NewMap()
	l, err := loop.New(loop.Options{Map: m, Backend: kind, Timeout: -1})
	if err != nil {
		return err
	}
	defer func() {
		// asyncore's close_all: the listener and every open connection.
		_ = dispatcher.CloseAll(m, true)
		_ = l.Close()
	}()

	bound, err := listen(m, addr, udp)
	if err != nil {
		return err
	}
	proto := "tcp"
	if udp {
		proto = "udp"
	}
	slog.Info("echo server listening", "addr", bound, "proto", proto, "backend", l.Kind())
	if ready != nil {
		ready(bound)
	}

	// Everything in the loop belongs to this goroutine; Shutdown is one of
	// the few calls another goroutine may make, and RunGraceful makes it
	// when ctx ends: the listener closes, and each connection writes back
	// what it has read (DispatcherWithSend's CloseWhenDone) and closes.
	return l.RunGraceful(ctx, grace)
}

// serveLoops is serve for TCP on n loops, one per thread (loop.StartGroup):
// each loop has its own listener on addr, bound with SO_REUSEPORT, and the
// kernel spreads new connections between them. Loop 0 binds first, so a
// port 0 in addr becomes one port that the others then share.
func serveLoops(ctx context.Context, addr string, kind poller.Kind, n int, grace time.Duration, ready func(net.Addr)) error {
	var bound net.Addr
	var mu sync.Mutex
	var loops []*loop.Loop
	g, err := loop.StartGroup(n, loop.Options{Backend: kind, Timeout: -1}, func(i int, l *loop.Loop) error {
		mu.Lock()
		loops = append(loops, l)
		mu.Unlock()
		s := &echoServer{}
		s.Init(s, l.Map())
		if i > 0 {
			addr = bound.String()
		}
		s.ReusePort = true
		if err := s.ListenTCP(addr); err != nil {
			return err
		}
		bound = s.Addr()
		return nil
	})
	if err != nil {
		return err
	}
	slog.Info("echo server listening", "addr", bound, "proto", "tcp", "loops", n)
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
	addr := flag.String("addr", "127.0.0.1:7007", "address to listen on")
	var kind poller.Kind // the best available unless -backend names one
	flag.Var(&kind, "backend", "poller: epoll, kqueue, poll, select or best")
	udp := flag.Bool("udp", false, "echo UDP datagrams instead of TCP streams")
	verbose := flag.Bool("v", false, "log every connection")
	loops := flag.Int("loops", 1, "TCP: event loops, one per thread, sharing the port with SO_REUSEPORT")
	grace := flag.Duration("grace", loop.DefaultGrace, "on SIGINT or SIGTERM, how long connections may take to get back what they sent before they are closed")
	flag.Parse()

	if *verbose {
		slog.SetLogLoggerLevel(slog.LevelDebug)
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	var err error
	if *loops > 1 && !*udp {
		err = serveLoops(ctx, *addr, kind, *loops, *grace, nil)
	} else {
		err = serve(ctx, *addr, kind, *udp, *grace, nil)
	}
	if err != nil {
		slog.Error("echo server failed", "err", err)
		os.Exit(1)
	}
	slog.Info("bye")
}
