package gameloop_test

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/loop"
)

// think is THINK: the frames a player thinks before its next move.
const think = 3

// echo is class Echo: it answers each read in capitals.
type echo struct {
	dispatcher.DispatcherWithSend
	buf [512]byte
}

func (e *echo) HandleRead() {
	if n, _ := e.Recv(e.buf[:]); n > 0 {
		e.Send(bytes.ToUpper(e.buf[:n]))
	}
}

// server is class Server.
type server struct {
	dispatcher.Dispatcher
}

func (s *server) HandleAccepted(fd int, _ net.Addr) {
	e := &echo{}
	e.Init(e, s.Map())
	if err := e.Adopt(fd); err != nil {
		_ = syscall.Close(fd)
	}
}

// player is class Player.
type player struct {
	dispatcher.Dispatcher
	name       string
	moves      []string
	out, inbox []byte
	waiting    bool
	think      int
	log        []string
	buf        [512]byte
}

func (p *player) Writable() bool { return len(p.out) > 0 }

func (p *player) HandleRead() {
	n, _ := p.Recv(p.buf[:])
	p.inbox = append(p.inbox, p.buf[:n]...)
}

func (p *player) HandleWrite() {
	n, _ := p.Send(p.out)
	p.out = p.out[n:]
}

func (p *player) say(text string) { p.out = append(p.out, text+"\n"...) }

// frame is the player's part of one frame of game logic.
func (p *player) frame() {
	for {
		line, rest, found := bytes.Cut(p.inbox, []byte("\n"))
		if !found {
			break
		}
		p.log = append(p.log, string(line))
		p.inbox = rest
		p.waiting = false
		p.think = think
	}
	if p.think > 0 {
		p.think--
	} else if !p.waiting && len(p.moves) > 0 {
		p.say(p.moves[0])
		p.moves = p.moves[1:]
		p.waiting = true
	}
}

func newPlayer(name string, moves []string, addr string, m *loop.Map) *player {
	p := &player{name: name, moves: moves}
	p.Init(p, m)
	must(p.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
	must(p.Connect(addr))
	return p
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// Example is gameloop.py line for line: each frame polls the network with
// loop.Run(Options{Timeout: 0, Count: 1}) — asyncore.loop(timeout=0,
// count=1) — and then runs the frame's logic, which queues the players'
// moves outside any event. While the players think, nothing is ready, and
// each frame's poll returns at once.
func Example() {
	m := loop.NewMap()
	srv := &server{}
	srv.Init(srv, m)
	must(srv.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
	must(srv.SetReuseAddr())
	must(srv.Bind("127.0.0.1:0"))
	must(srv.Listen(5))
	addr := srv.Addr().String()
	players := []*player{
		newPlayer("p1", []string{"left", "jump", "fire"}, addr, m),
		newPlayer("p2", []string{"right", "duck"}, addr, m),
	}

	busy := func() bool {
		for _, p := range players {
			if len(p.moves) > 0 || p.waiting {
				return true
			}
		}
		return false
	}
	frames := 0
	for busy() {
		must(loop.Run(loop.Options{Map: m, Timeout: 0, Count: 1})) // poll: never block the frame
		frames++
		for _, p := range players {
			p.frame()
		}
	}

	for _, p := range players {
		_ = p.Close()
	}
	_ = srv.Close()
	for m.Len() > 0 { // the server's connections see EOF and close
		must(loop.Run(loop.Options{Map: m, Timeout: 0, Count: 1}))
	}

	for _, p := range players {
		fmt.Println(p.name+":", strings.Join(p.log, " "))
	}
	fmt.Println("frames > 0:", frames > 0, "channels left:", m.Len())
	// Output:
	// p1: LEFT JUMP FIRE
	// p2: RIGHT DUCK
	// frames > 0: true channels left: 0
}
