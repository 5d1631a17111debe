package broadcast_test

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/loop"
)

const (
	tick      = 50 * time.Millisecond
	idleTicks = 4
	stopAt    = 6
)

// conn is the server's side of one client (class Conn).
type conn struct {
	dispatcher.Dispatcher
	server *server
	out    []byte
	heard  int
	kicked bool
	buf    [512]byte
}

func (c *conn) Writable() bool { return len(c.out) > 0 }

func (c *conn) HandleRead() {
	if n, _ := c.Recv(c.buf[:]); n > 0 {
		c.heard = c.server.tick
	}
}

func (c *conn) HandleWrite() {
	n, _ := c.Send(c.out)
	c.out = c.out[n:]
	if len(c.out) == 0 && c.kicked {
		_ = c.Close()
	}
}

// server is class Server.
type server struct {
	dispatcher.Dispatcher
	tick  int
	conns []*conn
}

func (s *server) HandleAccepted(fd int, _ net.Addr) {
	c := &conn{server: s, heard: s.tick}
	c.Init(c, s.Map())
	if err := c.Adopt(fd); err != nil {
		_ = syscall.Close(fd)
		return
	}
	s.conns = append(s.conns, c)
}

func (s *server) broadcast() {
	s.tick++
	for _, c := range s.conns {
		if c.kicked || !c.Connected() {
			continue
		}
		switch {
		case s.tick == stopAt:
			c.out = append(c.out, "server stopping\n"...)
		case s.tick-c.heard >= idleTicks:
			c.out = append(c.out, "idle, bye\n"...)
			c.kicked = true
		default:
			c.out = fmt.Appendf(c.out, "tick %d\n", s.tick)
		}
	}
	if s.tick == stopAt {
		_ = s.Close() // stop listening; the clients hang up
	}
}

// client is class Client.
type client struct {
	dispatcher.Dispatcher
	name     string
	talks    bool
	out, got []byte
	buf      [512]byte
}

func (c *client) Writable() bool { return len(c.out) > 0 }

func (c *client) HandleRead() {
	n, _ := c.Recv(c.buf[:])
	data := c.buf[:n]
	c.got = append(c.got, data...)
	switch {
	case bytes.Contains(data, []byte("stopping")):
		_ = c.Close()
	case n > 0 && c.talks:
		c.out = append(c.out, "pong\n"...)
	}
}

func (c *client) HandleWrite() {
	n, _ := c.Send(c.out)
	c.out = c.out[n:]
}

func newClient(name, addr string, m *loop.Map, talks bool) *client {
	c := &client{name: name, talks: talks}
	c.Init(c, m)
	must(c.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
	must(c.Connect(addr))
	return c
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// Example is broadcast.py line for line. Between passes of
// loop.Run(Options{Timeout: tick, Count: 1}) — asyncore.loop(timeout=TICK,
// count=1) — the driving loop broadcasts, which changes what the
// connections' Writable reads; loop.Run asks it on the next pass.
func Example() {
	m := loop.NewMap()
	srv := &server{}
	srv.Init(srv, m)
	must(srv.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
	must(srv.SetReuseAddr())
	must(srv.Bind("127.0.0.1:0"))
	must(srv.Listen(5))
	addr := srv.Addr().String()
	clients := []*client{newClient("alice", addr, m, true), newClient("bob", addr, m, false)}

	next := time.Now().Add(tick)
	for srv.tick < stopAt {
		must(loop.Run(loop.Options{Map: m, Timeout: tick, Count: 1}))
		if !time.Now().Before(next) {
			srv.broadcast()
			next = next.Add(tick)
		}
	}
	must(loop.Run(loop.Options{Map: m, Timeout: tick})) // until every channel has closed

	for _, c := range clients {
		fmt.Println(c.name+":", strings.Join(strings.Split(strings.TrimSpace(string(c.got)), "\n"), " | "))
	}
	fmt.Println("channels left:", m.Len())
	// Output:
	// alice: tick 1 | tick 2 | tick 3 | tick 4 | tick 5 | server stopping
	// bob: tick 1 | tick 2 | tick 3 | idle, bye
	// channels left: 0
}
