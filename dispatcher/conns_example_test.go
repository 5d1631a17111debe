package dispatcher_test

import (
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/loop"
)

// keepServer adopts every accepted connection into a plain Dispatcher that
// just holds it open.
type keepServer struct {
	dispatcher.Dispatcher
}

func (s *keepServer) HandleAccepted(fd int, _ net.Addr) {
	if err := dispatcher.New(s.Map()).Adopt(fd); err != nil {
		_ = syscall.Close(fd)
	}
}

// ExampleSetMaxConns caps a map at one accepted connection: a second client
// is sent the listener's RejectMessage and closed at once, and the map's
// connection counters (Stats) say so.
func ExampleSetMaxConns() {
	m := loop.NewMap()
	l, err := loop.New(loop.Options{Map: m})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	defer dispatcher.CloseAll(m, true)
	dispatcher.SetMaxConns(m, 1)

	s := &keepServer{}
	s.Init(s, m)
	s.RejectMessage = []byte("busy\r\n")
	if err := s.ListenTCP("127.0.0.1:0"); err != nil {
		panic(err)
	}

	first, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		panic(err)
	}
	defer first.Close()
	for dispatcher.Stats(m).Conns < 1 {
		_ = l.RunOnce(-1)
	}
	second, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		panic(err)
	}
	defer second.Close()
	for dispatcher.Stats(m).Rejected < 1 {
		_ = l.RunOnce(-1)
	}
	reply, _ := io.ReadAll(second)
	st := dispatcher.Stats(m)
	fmt.Printf("the second client read %q\n", reply)
	fmt.Printf("conns %d of %d; accepted %d, rejected %d\n", st.Conns, dispatcher.MaxConns(m), st.Accepted, st.Rejected)
	// Output:
	// the second client read "busy\r\n"
	// conns 1 of 1; accepted 1, rejected 1
}
