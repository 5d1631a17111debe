package dispatcher_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/loop"
)

// echoHandler serves one accepted connection: it sends back what it reads.
type echoHandler struct {
	dispatcher.DispatcherWithSend
	buf [512]byte
}

func (h *echoHandler) HandleRead() {
	if n, _ := h.Recv(h.buf[:]); n > 0 {
		h.Send(h.buf[:n])
	}
}

func (h *echoHandler) HandleClose() {
	fmt.Println("server: client hung up")
	_ = h.Close()
}

// echoServer is the listener. It serves a single client and then stops
// listening, so that the map empties and loop.Run returns.
type echoServer struct {
	dispatcher.Dispatcher
}

func (s *echoServer) HandleAccepted(fd int, addr net.Addr) {
	h := &echoHandler{}
	h.Init(h, s.Map())
	if err := h.Adopt(fd); err != nil {
		_ = syscall.Close(fd)
	}
	_ = s.Close()
}

// client sends its output when the socket is writable and closes once the
// whole echo has come back, as the HTTP client in Python's asyncore
// documentation does.
type client struct {
	dispatcher.Dispatcher
	out, in []byte
	buf     [512]byte
	want    int
}

func (c *client) HandleConnect() { fmt.Println("connected") }

// Writable asks for write events only while there is something to send.
func (c *client) Writable() bool { return len(c.out) > 0 }

func (c *client) HandleWrite() {
	n, _ := c.Send(c.out)
	c.out = c.out[n:]
}

func (c *client) HandleRead() {
	n, _ := c.Recv(c.buf[:])
	c.in = append(c.in, c.buf[:n]...)
	if len(c.in) == c.want {
		fmt.Printf("echoed: %s\n", c.in)
		_ = c.Close()
	}
}

// Example shows asyncore's "subclass and override" style: each type embeds
// a dispatcher, overrides the Handle methods it needs, and passes itself to
// Init. One loop serves the listener, the accepted connection and the client.
func Example() {
	m := loop.NewMap()

	srv := &echoServer{}
	srv.Init(srv, m)
	if err := srv.CreateSocket(dispatcher.AFInet, dispatcher.SockStream); err != nil {
		panic(err)
	}
	if err := srv.Bind("127.0.0.1:0"); err != nil {
		panic(err)
	}
	if err := srv.Listen(5); err != nil {
		panic(err)
	}

	c := &client{out: []byte("hello"), want: len("hello")}
	c.Init(c, m)
	if err := c.CreateSocket(dispatcher.AFInet, dispatcher.SockStream); err != nil {
		panic(err)
	}
	if err := c.Connect(srv.Addr().String()); err != nil {
		panic(err)
	}

	// asyncore.loop(timeout=1, map=m): serve until every channel has closed.
	if err := loop.Run(loop.Options{Map: m, Timeout: time.Second}); err != nil {
		panic(err)
	}
	fmt.Println("channels left:", m.Len())
	// Output:
	// connected
	// echoed: hello
	// server: client hung up
	// channels left: 0
}

// sender writes one large message and closes once all of it has gone.
type sender struct {
	dispatcher.DispatcherWithSend
}

func (s *sender) HandleWrite() {
	s.DispatcherWithSend.HandleWrite() // write the next part of the queue
	if s.Pending() == 0 {
		_ = s.Close()
	}
}

// receiver counts what arrives until the sender hangs up.
type receiver struct {
	dispatcher.Dispatcher
	buf   [64 << 10]byte
	total int
}

func (r *receiver) HandleRead() {
	n, _ := r.Recv(r.buf[:])
	r.total += n
}

func (r *receiver) HandleClose() {
	fmt.Println("received:", r.total, "bytes")
	_ = r.Close()
}

// DispatcherWithSend queues what the socket cannot take at once and writes
// the rest as the socket becomes writable, so Send never blocks and never
// drops data.
func ExampleDispatcherWithSend() {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		panic(err)
	}
	m := loop.NewMap()
	s, r := &sender{}, &receiver{}
	s.Init(s, m)
	r.Init(r, m)
	if err := s.Adopt(fds[0]); err != nil {
		panic(err)
	}
	if err := r.Adopt(fds[1]); err != nil {
		panic(err)
	}

	s.Send(make([]byte, 4<<20)) // far more than a socket buffer holds
	fmt.Println("queued:", s.Pending() > 0)

	if err := loop.Run(loop.Options{Map: m}); err != nil {
		panic(err)
	}
	fmt.Println("pending:", s.Pending())
	// Output:
	// queued: true
	// received: 4194304 bytes
	// pending: 0
}

// Serve makes a server out of a listening address and a constructor: each
// accepted connection gets a new handler, here the echoHandler above (a
// chat.AsyncChat handler works the same way). The client from Example
// talks to it; once it has its echo, the server stops listening and the
// loop returns.
func ExampleServe() {
	m := loop.NewMap()
	srv, err := dispatcher.Serve(m, "127.0.0.1:0", func() dispatcher.Handler {
		h := &echoHandler{}
		h.Init(h, m)
		return h
	})
	if err != nil {
		panic(err)
	}

	c := &client{out: []byte("hello"), want: len("hello")}
	c.Init(c, m)
	if err := c.CreateSocket(dispatcher.AFInet, dispatcher.SockStream); err != nil {
		panic(err)
	}
	if err := c.Connect(srv.Addr().String()); err != nil {
		panic(err)
	}
	l, err := loop.New(loop.Options{Map: m})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	for m.Len() > 0 {
		if err := l.RunOnce(time.Second); err != nil {
			panic(err)
		}
		if c.Fd() < 0 && srv.Fd() >= 0 {
			_ = srv.Close() // the client is done: stop listening
		}
	}
	// Output:
	// connected
	// echoed: hello
	// server: client hung up
}

// httpClient is the HTTP client from Python's asyncore documentation,
// line for line (the Python original is examples/ports/http_client.py):
// connect, send a GET while the socket is writable, print what comes back,
// close when the server does.
type httpClient struct {
	dispatcher.Dispatcher
	buffer   []byte
	response []byte
	buf      [8192]byte
}

func newHTTPClient(m *loop.Map, host, path string) (*httpClient, error) {
	c := &httpClient{}
	c.Init(c, m) // asyncore.dispatcher.__init__(self)
	if err := c.CreateSocket(dispatcher.FamilyOf(host), dispatcher.SockStream); err != nil {
		return nil, err
	}
	if err := c.Connect(host); err != nil {
		return nil, err
	}
	c.buffer = fmt.Appendf(nil, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host)
	return c, nil
}

func (c *httpClient) HandleConnect() {}

func (c *httpClient) HandleClose() { _ = c.Close() }

// HandleRead is print(self.recv(8192)); here the pieces are gathered and
// printed once the server has closed, because the response's Date header
// changes from run to run.
func (c *httpClient) HandleRead() {
	n, _ := c.Recv(c.buf[:])
	c.response = append(c.response, c.buf[:n]...)
}

func (c *httpClient) Writable() bool { return len(c.buffer) > 0 }

func (c *httpClient) HandleWrite() {
	sent, _ := c.Send(c.buffer)
	c.buffer = c.buffer[sent:]
}

// The asyncore documentation's HTTP client, against a local test server.
// asyncore.loop() becomes loop.Run, which returns once the client has
// closed and the map is empty.
func Example_httpClient() {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", r.URL.Path)
	}))
	defer server.Close()

	m := loop.NewMap()
	c, err := newHTTPClient(m, server.Listener.Addr().String(), "/index.html")
	if err != nil {
		panic(err)
	}
	if err := loop.Run(loop.Options{Map: m}); err != nil {
		panic(err)
	}

	head, body, _ := strings.Cut(string(c.response), "\r\n\r\n")
	status, _, _ := strings.Cut(head, "\r\n")
	fmt.Println(status)
	fmt.Print(body)
	// Output:
	// HTTP/1.0 200 OK
	// hello from /index.html
}
