// Command proxy is a TCP port forwarder in the asyncore style: for every
// client it accepts, it connects to a backend and copies bytes both ways,
// on one goroutine, with two dispatchers per connection.
//
//	go run ./examples/echo &                           # a backend on 127.0.0.1:7007
//	go run ./examples/proxy -to 127.0.0.1:7007         # listens on 127.0.0.1:7009
//	nc 127.0.0.1 7009                                  # talks to the echo server
//
// Three things make a forwarder more than two copy loops:
//
//   - The backend connect is non-blocking: the client is accepted, the
//     connect starts, and what the client sends meanwhile waits in the
//     backend's queue. A refused connect closes the client.
//   - Half-close passes through. When one side sends EOF, the other side's
//     write half is shut down — after the bytes still queued for it are
//     written — and the other direction goes on, so request/response
//     protocols that signal "end of request" with EOF (nc -N, HTTP/1.0
//     clients, rsh-style tools) work through the proxy.
//   - Back-pressure. While maxQueued bytes wait to be written to one side,
//     the proxy stops reading from the other, so a fast sender and a slow
//     receiver slow the sender down instead of filling the proxy's memory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
)

// maxQueued is how many bytes may wait to be written to one side before the
// proxy stops reading from the other. One read (chat.DefaultBufferSize) can
// land on top of it, so a direction holds at most maxQueued+64 KiB. Reading
// resumes once the queue is down to resumeBelow: a gap between the two
// marks saves switching the poller's interest on and off for every write.
const (
	maxQueued   = 256 << 10
	resumeBelow = maxQueued / 2
)

// Counters for tests and for the curious: read and written by the loop's
// goroutine, read by anyone.
var (
	// peakQueued is the most bytes one side ever had queued.
	peakQueued atomic.Int64
	// openSides is the number of open sockets to clients and backends.
	openSides atomic.Int64
)

// side is one end of a proxied connection: the client's socket or the
// backend's. Each side reads from its own socket and pushes what arrives to
// its peer, which writes it out.
//
// It embeds AsyncChat with the None terminator — every byte read goes to
// CollectIncomingData as it arrives — rather than DispatcherWithSend, for
// its output queue: AsyncChat's FIFO reuses its buffers as they are written,
// while DispatcherWithSend keeps the bytes it has sent in its buffer until
// the whole buffer has gone. Under back-pressure the queue hovers around
// maxQueued and never empties, so DispatcherWithSend's buffer would grow by
// the whole transfer (about 130 MiB of heap after 128 MiB passed through
// with 256 KiB pending). AsyncChat also gathers queued chunks into one
// writev.
type side struct {
	chat.AsyncChat
	name     string // "client" or "backend", for logs
	peer     *side
	paused   bool // not reading: the peer has maxQueued bytes to write
	draining bool // read what is left regardless of the peer (HandleClose)
	rdone    bool // the socket sent EOF: nothing more will be read from it
	wdone    bool // we shut the socket's write half down: nothing more to send
}

// newPair creates the two sides of a connection in map m, with no sockets
// yet.
func newPair(m *loop.Map) (client, backend *side) {
	client, backend = &side{name: "client"}, &side{name: "backend"}
	client.peer, backend.peer = backend, client
	for _, s := range []*side{client, backend} {
		s.Init(s, m)
		s.SetTerminator(chat.None)
		// The chat's own high-water mark pauses a side's reading on its
		// own queue; a forwarder must pause on its peer's (Readable).
		s.OutHighWater = -1
		// A forwarded connection may rightly be idle for hours (an SSH
		// session): no idle timeout. A peer that stops reading is still
		// cut off by the write-stall timeout.
		s.IdleTimeout = -1
	}
	return client, backend
}

// CollectIncomingData receives what was read from this side and queues it
// for the other: the whole of the forwarding. data is only valid during the
// call; Push copies what it cannot write at once.
func (s *side) CollectIncomingData(data []byte) {
	s.peer.Push(data)
	queued := s.peer.Pending()
	if queued >= maxQueued && !s.draining {
		s.paused = true // Readable turns false; the loop asks after this event
	}
	for p := int64(queued); ; {
		old := peakQueued.Load()
		if p <= old || peakQueued.CompareAndSwap(old, p) {
			break
		}
	}
}

// FoundTerminator is never called with the None terminator.
func (s *side) FoundTerminator() {}

// Readable applies back-pressure: no reading while paused. Nothing in the
// library knows that this depends on the peer, so the peer calls
// UpdateInterest on us when its queue drains (resumePeer).
func (s *side) Readable() bool { return !s.paused }

// resumePeer lets the peer read again once this side's queue has drained
// to resumeBelow. The queue is written by HandleWrite and, after each read,
// by HandleRead, so both call it.
func (s *side) resumePeer() {
	if s.peer.paused && s.Pending() < resumeBelow {
		s.peer.paused = false
		s.peer.UpdateInterest()
	}
}

// HandleRead is AsyncChat's, which also writes what is queued for this
// side; then the peer may be able to read again.
func (s *side) HandleRead() {
	s.AsyncChat.HandleRead()
	s.resumePeer()
}

// Writable asks for write events while output is queued (AsyncChat's rule)
// and also while a shutdown is due, so that HandleWrite can pass the peer's
// EOF on once everything before it has been written.
func (s *side) Writable() bool {
	return s.AsyncChat.Writable() || s.peer.rdone && !s.wdone
}

// HandleConnect is asyncore's handle_connect: the backend accepted us.
func (s *side) HandleConnect() {
	slog.Debug("backend connected", "addr", s.Addr(), "client", s.peer.Addr())
}

// HandleWrite writes queued output, lets the peer read again once the queue
// is below resumeBelow, and shuts the write half down once the peer has
// sent EOF and everything it sent has been written.
func (s *side) HandleWrite() {
	s.AsyncChat.HandleWrite()
	if s.Fd() < 0 {
		return // the write failed and the pair was closed
	}
	s.resumePeer()
	if s.peer.rdone && !s.wdone && s.Pending() == 0 && s.Connected() {
		if err := unix.Shutdown(s.Fd(), unix.SHUT_WR); err != nil {
			s.HandleError(os.NewSyscallError("shutdown", err))
			return
		}
		s.wdone = true
		s.closeIfDone()
	}
}

// HandleClose is asyncore's handle_close. The first time a side reads EOF
// the connection is half-closed: the peer's write half is shut down once it
// has written what it holds (see Writable and HandleWrite), and the other
// direction goes on. Anything else — a reset, a hang-up — ends the whole
// connection, with one exception below.
func (s *side) HandleClose() {
	switch {
	case s.Hooks().EOF() && !s.rdone && s.Connected():
		slog.Debug("EOF", "side", s.name, "peer", s.Addr())
		s.rdone = true
		s.peer.UpdateInterest() // its Writable has changed
		s.closeIfDone()
	case s.wdone && !s.rdone && !s.draining:
		// We shut this socket's write half down, and now its peer has
		// sent FIN (or reset): TCP reports the socket hung up (POLLHUP),
		// both halves closed, even while data is still waiting in the
		// receive buffer — because we are not reading (back-pressure), or
		// because a read took the last bytes but not yet the EOF. The
		// dispatcher passes such a hang-up on as a close, with EOF
		// false. Nothing more can arrive, so read what the kernel holds,
		// back-pressure or not (at most one receive buffer more): a FIN
		// then shows up as EOF, the case above, and a reset as an error,
		// which comes back here and closes both sides.
		slog.Debug("hang-up after our shutdown; draining", "side", s.name, "peer", s.Addr())
		s.paused, s.draining = false, true
		s.UpdateInterest()
	default:
		s.closePair()
	}
}

// HandleError is asyncore's handle_error: a refused or failed backend
// connect, or an I/O error. Either way both sides are closed, so the client
// sees EOF (or a reset, if it had sent data the proxy never read).
func (s *side) HandleError(err error) {
	if s.name == "backend" && errors.Is(err, syscall.ECONNREFUSED) {
		slog.Info("backend refused the connection", "to", s.Addr(), "client", s.peer.Addr())
	} else {
		slog.Warn("connection failed", "side", s.name, "peer", s.Addr(), "err", err)
	}
	s.closePair()
}

// BeginShutdown is the side's part of a graceful shutdown (the loop calls
// it on both sides of every connection). A connection with nothing in
// flight — nothing queued in the proxy either way, nothing waiting to be
// read on either socket — is closed at once: nothing is lost, and no
// unread byte turns the close into a reset. A busy one goes on forwarding,
// half-closes included, until both directions have ended as they would
// without a shutdown, or until the grace period closes it.
func (s *side) BeginShutdown() {
	if s.Fd() < 0 || s.peer.Fd() < 0 || !s.Connected() || !s.peer.Connected() {
		return
	}
	if s.Pending() == 0 && s.peer.Pending() == 0 && s.Socket().Unread() == 0 && s.peer.Socket().Unread() == 0 {
		slog.Debug("idle at shutdown; closing", "side", s.name, "peer", s.Addr())
		s.closePair()
	}
}

// closeIfDone closes this side once both of its directions are finished:
// it sent EOF and we have shut down its write half. The peer may still be
// writing its last bytes; it closes itself in turn.
func (s *side) closeIfDone() {
	if s.rdone && s.wdone {
		_ = s.Close()
	}
}

// closePair closes both sides at once.
func (s *side) closePair() {
	_ = s.Close()
	_ = s.peer.Close()
}

// Close closes this side's socket, dropping anything still queued for it.
func (s *side) Close() error {
	if s.Fd() >= 0 {
		openSides.Add(-1)
	}
	return s.AsyncChat.Close()
}

// listener is the listening socket. to is the backend's address, resolved
// once at start-up so that no connection waits for DNS inside the loop.
type listener struct {
	dispatcher.Dispatcher
	to *net.TCPAddr
}

// HandleAccepted pairs each new client with a backend connection, which
// starts connecting at once.
func (l *listener) HandleAccepted(fd int, addr net.Addr) {
	client, backend := newPair(l.Map())
	if err := client.Adopt(fd); err != nil {
		_ = unix.Close(fd) // on failure the descriptor is still ours
		slog.Warn("cannot serve connection", "peer", addr, "err", err)
		return
	}
	openSides.Add(1)
	if !client.Connected() { // reset before we could serve it
		_ = client.Close()
		return
	}
	family := dispatcher.AFInet
	if l.to.IP.To4() == nil {
		family = dispatcher.AFInet6
	}
	if err := backend.CreateSocket(family, dispatcher.SockStream); err != nil {
		slog.Warn("cannot create backend socket", "err", err)
		_ = client.Close()
		return
	}
	openSides.Add(1)
	// Errors found at once are returned; a refusal usually comes later, to
	// HandleError.
	if err := backend.Connect(l.to.String()); err != nil {
		backend.HandleError(err)
		return
	}
	slog.Debug("connection opened", "client", addr, "to", l.to)
}

// listen creates the listening socket on addr and returns its bound address
// (with the real port if addr asked for port 0).
func listen(m *loop.Map, addr string, to *net.TCPAddr) (net.Addr, error) {
	l := &listener{to: to}
	l.Init(l, m)
	if err := l.ListenTCP(addr); err != nil {
		return nil, err
	}
	return l.Addr(), nil
}

// serve forwards connections from addr to the backend at to until ctx is
// cancelled, then closes every socket and the loop. ready, if not nil,
// receives the bound address once the proxy accepts clients. kind 0 picks
// the best backend.
func serve(ctx context.Context, addr, to string, kind poller.Kind, grace time.Duration, ready func(net.Addr)) error {
	target, err := net.ResolveTCPAddr("tcp", to)
	if err != nil {
		return err
	}
	if target.IP == nil || target.Port == 0 {
		return fmt.Errorf("proxy: -to needs a host and a port, not %q", to)
	}
	m := loop.NewMap()
	l, err := loop.New(loop.Options{Map: m, Backend: kind, Timeout: -1})
	if err != nil {
		return err
	}
	defer func() {
		_ = dispatcher.CloseAll(m, true) // the listener and every connection
		_ = l.Close()
	}()

	bound, err := listen(m, addr, target)
	if err != nil {
		return err
	}
	slog.Info("proxy listening", "addr", bound, "to", target, "backend", l.Kind())
	if ready != nil {
		ready(bound)
	}

	// When ctx ends, RunGraceful shuts down: the listener closes, idle
	// connections close, and busy ones finish within the grace period
	// (side.BeginShutdown).
	return l.RunGraceful(ctx, grace)
}

func main() {
	addr := flag.String("listen", "127.0.0.1:7009", "address to listen on")
	to := flag.String("to", "", "backend address, HOST:PORT (required)")
	var kind poller.Kind // the best available unless -backend names one
	flag.Var(&kind, "backend", "poller: epoll, kqueue, poll, select or best")
	verbose := flag.Bool("v", false, "log every connection")
	grace := flag.Duration("grace", loop.DefaultGrace, "on SIGINT or SIGTERM, how long connections with data in flight may go on before they are closed")
	flag.Parse()

	if *to == "" {
		fmt.Fprintln(os.Stderr, "proxy: -to HOST:PORT is required")
		flag.Usage()
		os.Exit(2)
	}
	if *verbose {
		slog.SetLogLoggerLevel(slog.LevelDebug)
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := serve(ctx, *addr, *to, kind, *grace, nil); err != nil {
		slog.Error("proxy failed", "err", err)
		os.Exit(1)
	}
	slog.Info("bye")
}
