// Command asyncore is the benchmark server for this library: one loop on the
// poller named by -backend, serving either a byte echo (DispatcherWithSend,
// send back whatever arrives) or a line protocol (AsyncChat with a "\n"
// delimiter, each line answered by its own reply).
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

// echoHandler is examples/echo's handler: read into a reused buffer, Send.
type echoHandler struct {
	dispatcher.DispatcherWithSend
	buf [16 << 10]byte
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
		h := &echoHandler{}
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
	flag.Parse()

	m := loop.NewMap()
	l, err := loop.New(loop.Options{Map: m, Backend: kind, Timeout: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := &server{line: *mode == "line"}
	s.Init(s, m)
	if err := s.ListenTCP(*addr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("ready %s\n", s.Addr())

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	defer context.AfterFunc(ctx, l.Stop)()
	if err := l.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
