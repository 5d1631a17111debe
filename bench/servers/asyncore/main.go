// Command asyncore is the benchmark server for this library: one loop on the
// poller named by -backend, serving either a byte echo (DispatcherWithSend,
// send back whatever arrives) or a line protocol (AsyncChat with a "\n"
// delimiter, each line answered by its own reply). With -loops N it runs N
// loops (loop.StartGroup), each with its own listener on the same address
// (SO_REUSEPORT), and the kernel spreads the connections between them.
//
// It prints "ready ADDR" on stdout once it accepts connections; the harness
// waits for that line and stops the server with SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
)

// maxPending bounds the echo output queued per connection, as examples/echo
// does, so a client that never reads cannot grow the server without limit.
const maxPending = 256 << 10

// readBuf is the echo handlers' read buffer, one per loop. It is 64 KiB, as
// the C reference's and gnet's are. With 16 KiB, a connection with 16 requests
// of 4 KiB in flight needs four events to drain its 64 KiB, so the loop
// round-robins through every connection's backlog: in echo c1000 p4096 k16
// each request waited ~70 ms and the server spent 4.4 µs of CPU per request
// against C's 2.3, with about the same number of system calls per request;
// the extra time was kernel work on cold socket buffers and the Go runtime
// handing the P back and forth around the system calls. With 64 KiB one read
// takes what has arrived: 2.4 µs per request.
type readBuf [64 << 10]byte

// echoHandler is examples/echo's handler: read into a reused buffer, Send.
// The buffer is the loop's, shared by its connections as the C reference
// shares its one: Send copies what the socket does not take at once, and one
// loop runs one handler at a time.
type echoHandler struct {
	dispatcher.DispatcherWithSend
	buf *readBuf
}

func (h *echoHandler) HandleRead() {
	if n, _ := h.Recv(h.buf[:]); n > 0 {
		h.Send(h.buf[:n])
	}
}

func (h *echoHandler) Readable() bool { return h.Pending() < maxPending }

// lineHandler answers every newline-terminated line with the same line.
// It collects into its own reused buffer rather than the default collector,
// so a frame costs no allocation.
type lineHandler struct {
	chat.AsyncChat
	line []byte
}

func (l *lineHandler) CollectIncomingData(data []byte) { l.line = append(l.line, data...) }

func (l *lineHandler) FoundTerminator() {
	l.line = append(l.line, '\n')
	l.Push(l.line)
	l.line = l.line[:0]
}

type server struct {
	dispatcher.Dispatcher
	line bool
	buf  *readBuf // the echo handlers' read buffer, one per loop
}

func (s *server) HandleAccepted(fd int, _ net.Addr) {
	// Go net, gnet, the C and Python servers all answer without Nagle's
	// delay; so does this one, or pipelined replies could wait for an ACK.
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	var err error
	if s.line {
		h := &lineHandler{line: make([]byte, 0, 256)}
		h.Init(h, s.Map())
		h.SetTerminator(chat.DelimiterString("\n"))
		err = h.Adopt(fd)
	} else {
		h := &echoHandler{buf: s.buf}
		h.Init(h, s.Map())
		err = h.Adopt(fd)
	}
	if err != nil {
		_ = syscall.Close(fd)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	var kind poller.Kind
	flag.Var(&kind, "backend", "poller: epoll, poll, select or best")
	mode := flag.String("mode", "echo", "echo or line")
	loops := flag.Int("loops", 1, "event loops, each with its own SO_REUSEPORT listener")
	flag.Parse()

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	var err error
	if *loops > 1 {
		err = runGroup(ctx, *loops, *addr, kind, *mode == "line")
	} else {
		err = runOne(ctx, *addr, kind, *mode == "line")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// The loops run without the library's default cap on accepted connections
// (dispatcher.DefaultMaxConns, 10,000; dispatcher.SetMaxConns(m, -1) lifts
// it), as the other servers have none: the idle cell opens 10,050.

// runOne serves on one loop on the calling goroutine.
func runOne(ctx context.Context, addr string, kind poller.Kind, line bool) error {
	m := loop.NewMap()
	l, err := loop.New(loop.Options{Map: m, Backend: kind, Timeout: -1})
	if err != nil {
		return err
	}
	dispatcher.SetMaxConns(m, -1)
	s := &server{line: line, buf: new(readBuf)}
	s.Init(s, m)
	if err := s.ListenTCP(addr); err != nil {
		return err
	}
	fmt.Printf("ready %s\n", s.Addr())
	defer context.AfterFunc(ctx, l.Stop)()
	return l.Run()
}

// runGroup serves on n loops. Loop 0 binds addr (port 0 picks one) and the
// others bind the address it got; every listener sets SO_REUSEPORT.
func runGroup(ctx context.Context, n int, addr string, kind poller.Kind, line bool) error {
	g, err := loop.StartGroup(n, loop.Options{Backend: kind, Timeout: -1}, func(i int, l *loop.Loop) error {
		dispatcher.SetMaxConns(l.Map(), -1)
		s := &server{line: line, buf: new(readBuf)}
		s.Init(s, l.Map())
		s.ReusePort = true
		if err := s.ListenTCP(addr); err != nil {
			return err
		}
		if i == 0 {
			addr = s.Addr().String()
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("ready %s\n", addr)
	defer context.AfterFunc(ctx, g.Stop)()
	return g.Wait()
}
