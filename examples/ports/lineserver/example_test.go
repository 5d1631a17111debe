package lineserver_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/producer"
)

// portHandler is LineHandler of line_server.py, line for
// line: a producer greets the client, each line comes back in upper case,
// and "quit" says goodbye and closes once the goodbye has been sent.
type portHandler struct {
	chat.AsyncChat
	buf [][]byte
}

// CollectIncomingData is Python's self.buf.append(data) — with a copy: data
// points into a read buffer that the next read overwrites, so keeping the
// slice itself would corrupt the line (and another connection's too).
func (h *portHandler) CollectIncomingData(data []byte) {
	h.buf = append(h.buf, bytes.Clone(data))
}

func (h *portHandler) FoundTerminator() {
	line := bytes.TrimSpace(bytes.Join(h.buf, nil))
	h.buf = h.buf[:0]
	if string(line) == "quit" {
		h.PushString("bye\n") // self.push(b"bye\n")
		h.CloseWhenDone()
		return
	}
	h.Push(append(bytes.ToUpper(line), '\n'))
}

// portServer is LineServer: create_socket, set_reuse_addr, bind and listen
// are ListenTCP. This one serves a single client and then stops listening,
// so that the map empties and loop.Run returns.
type portServer struct {
	dispatcher.Dispatcher
}

func (s *portServer) HandleAccepted(fd int, addr net.Addr) {
	h := &portHandler{}
	h.Init(h, s.Map())                          // async_chat.__init__(self, sock, map=map) ...
	h.SetTerminator(chat.DelimiterString("\n")) // self.set_terminator(b"\n")
	if err := h.Adopt(fd); err != nil {         // ... takes the socket
		_ = syscall.Close(fd)
		return
	}
	h.PushWithProducer(producer.SimpleProducer([]byte("welcome\n"), 512))
	_ = s.Close()
}

// Example is the Go port of the asynchat line server that Python
// tutorials teach (line_server.py, in this folder). A client in another
// goroutine sends two lines and one more after "quit"; the line after quit
// is never answered, as in Python.
func Example() {
	m := loop.NewMap()
	srv := &portServer{}
	srv.Init(srv, m)
	if err := srv.ListenTCP("127.0.0.1:0"); err != nil {
		panic(err)
	}

	got := make(chan []byte, 1)
	go func() {
		conn, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			got <- []byte(err.Error())
			return
		}
		defer conn.Close()
		_, _ = conn.Write([]byte("hello world\nquit\nignored\n"))
		reply, _ := io.ReadAll(conn) // until the server closes
		got <- reply
	}()

	// asyncore.loop(map=m): serve until every channel has closed.
	if err := loop.Run(loop.Options{Map: m}); err != nil {
		panic(err)
	}
	fmt.Printf("%s", <-got)
	// Output:
	// welcome
	// HELLO WORLD
	// bye
}
