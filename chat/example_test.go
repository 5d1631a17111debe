package chat_test

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"syscall"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/producer"
	"golang.org/x/sys/unix"
)

// upperHandler serves one connection of the example's line server: every
// line comes back in upper case, and QUIT is answered with BYE, after
// which the connection closes once the reply is written.
type upperHandler struct {
	chat.AsyncChat
	seen *[]string
}

func (h *upperHandler) FoundTerminator() {
	line := h.TakeData() // valid until the next read: use it now
	*h.seen = append(*h.seen, string(line))
	if string(line) == "QUIT" {
		h.Push([]byte("BYE\r\n"))
		h.CloseWhenDone()
		return
	}
	h.Push(bytes.ToUpper(line))
	h.Push([]byte("\r\n"))
}

// lineServer listens and hands each connection to an upperHandler. It
// serves a single client and then stops listening, so that the map empties
// and loop.Run returns.
type lineServer struct {
	dispatcher.Dispatcher
	seen []string
}

func (s *lineServer) HandleAccepted(fd int, addr net.Addr) {
	h := &upperHandler{seen: &s.seen}
	h.Init(h, s.Map())
	h.SetTerminator(chat.DelimiterString("\r\n"))
	if err := h.Adopt(fd); err != nil {
		_ = syscall.Close(fd)
	}
	_ = s.Close()
}

// lineClient prints every line the server sends.
type lineClient struct {
	chat.AsyncChat
}

func (c *lineClient) HandleConnect() { fmt.Println("client: connected") }

func (c *lineClient) FoundTerminator() { fmt.Printf("client: got %q\n", c.TakeData()) }

func (c *lineClient) HandleClose() {
	fmt.Println("client: the server closed the connection")
	_ = c.Close()
}

// ExampleAsyncChat is a line server and a client, both AsyncChats, in one
// map on loopback. The client pushes its requests before its connect has
// finished; they are sent once it has. loop.Run returns when every channel
// has closed.
func ExampleAsyncChat() {
	m := loop.NewMap()

	srv := &lineServer{}
	srv.Init(srv, m)
	if err := srv.CreateSocket(dispatcher.AFInet, dispatcher.SockStream); err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Bind("127.0.0.1:0"); err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Listen(5); err != nil {
		fmt.Println(err)
		return
	}

	c := &lineClient{}
	c.Init(c, m)
	c.SetTerminator(chat.DelimiterString("\r\n"))
	if err := c.CreateSocket(dispatcher.AFInet, dispatcher.SockStream); err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Connect(srv.Addr().String()); err != nil {
		fmt.Println(err)
		return
	}
	c.Push([]byte("hello\r\nworld\r\nQUIT\r\n"))

	if err := loop.Run(loop.Options{Map: m}); err != nil {
		fmt.Println(err)
	}
	fmt.Println("server saw:", srv.seen)
	// Output:
	// client: connected
	// client: got "HELLO"
	// client: got "WORLD"
	// client: got "BYE"
	// client: the server closed the connection
	// server saw: [hello world QUIT]
}

// fileServer answers GET with a length line and then the body, which a
// producer hands out eight bytes at a time, and closes when it is sent.
type fileServer struct {
	chat.AsyncChat
	body []byte
}

func (s *fileServer) FoundTerminator() {
	if string(s.TakeData()) != "GET" {
		s.Push([]byte("ERR\r\n"))
		return
	}
	s.Push([]byte(strconv.Itoa(len(s.body)) + "\r\n"))
	s.PushWithProducer(producer.SimpleProducer(s.body, 8))
	s.CloseWhenDone()
}

// fileClient reads the length line, then switches to a length terminator
// for the body — inside FoundTerminator, so that the bytes of the body
// that came with the length line are framed by the new terminator.
type fileClient struct {
	chat.AsyncChat
	inBody bool
}

func (c *fileClient) FoundTerminator() {
	data := c.TakeData()
	if !c.inBody {
		n, _ := strconv.Atoi(string(data))
		fmt.Println("length:", n)
		c.inBody = true
		c.SetTerminator(chat.Length(n))
		return
	}
	fmt.Printf("body: %s\n", data)
	c.inBody = false
	c.SetTerminator(chat.DelimiterString("\r\n"))
}

// lineChat is what linePair sets up: an initialised chat of either side.
type lineChat interface {
	SetTerminator(chat.Terminator)
	Adopt(fd int) error
}

// linePair connects server and client, both framing lines, through a
// socketpair: the two ends of one connection in one map.
func linePair(server, client lineChat) error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	for i, end := range []lineChat{server, client} {
		end.SetTerminator(chat.DelimiterString("\r\n"))
		if err := end.Adopt(fds[i]); err != nil {
			_ = unix.Close(fds[i])
			if i == 0 {
				_ = unix.Close(fds[1])
			}
			return err
		}
	}
	return nil
}

// ExampleAsyncChat_PushWithProducer serves a body through a producer over
// a socketpair: the server queues a length line, a producer and
// CloseWhenDone; the client frames the body with a length terminator.
func ExampleAsyncChat_PushWithProducer() {
	m := loop.NewMap()
	s := &fileServer{body: []byte("The quick brown fox jumps over the lazy dog")}
	s.Init(s, m)
	c := &fileClient{}
	c.Init(c, m)
	if err := linePair(s, c); err != nil {
		fmt.Println(err)
		return
	}

	c.Push([]byte("GET\r\n"))
	if err := loop.Run(loop.Options{Map: m}); err != nil {
		fmt.Println(err)
	}
	// Output:
	// length: 43
	// body: The quick brown fox jumps over the lazy dog
}

// cacheServer answers GET with a length line and a body it keeps cached:
// the body is pushed by reference, so a thousand replies of it cost no
// copy. QUIT closes once the replies are written.
type cacheServer struct {
	chat.AsyncChat
	cached []byte // never modified once built
}

func (s *cacheServer) FoundTerminator() {
	switch string(s.TakeData()) {
	case "GET":
		s.PushString(strconv.Itoa(len(s.cached)) + "\r\n")
		s.PushShared(s.cached)
	case "QUIT":
		s.CloseWhenDone()
	default:
		s.PushString("ERR\r\n")
	}
}

// ExampleAsyncChat_PushShared serves a cached body twice over a socketpair,
// queuing it by reference with PushShared and the length line with
// PushString.
func ExampleAsyncChat_PushShared() {
	m := loop.NewMap()
	s := &cacheServer{cached: []byte("The quick brown fox jumps over the lazy dog")}
	s.Init(s, m)
	c := &fileClient{}
	c.Init(c, m)
	if err := linePair(s, c); err != nil {
		fmt.Println(err)
		return
	}

	c.PushString("GET\r\nGET\r\nQUIT\r\n")
	if err := loop.Run(loop.Options{Map: m}); err != nil {
		fmt.Println(err)
	}
	// Output:
	// length: 43
	// body: The quick brown fox jumps over the lazy dog
	// length: 43
	// body: The quick brown fox jumps over the lazy dog
}
