package dispatcher_test

import (
	"fmt"
	"syscall"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/loop"
)

// capitals answers with its input in capitals. It has HandleData, so the
// loop reads for it, into the loop's own buffer: the handler holds no
// buffer of its own.
type capitals struct {
	dispatcher.DispatcherWithSend
}

// HandleData may use p as it likes — here, change it in place — until it
// returns; then the loop reuses the buffer for the next read. Send writes
// p, and queues a copy of whatever the socket cannot take at once.
func (s *capitals) HandleData(p []byte) {
	for i, c := range p {
		if 'a' <= c && c <= 'z' {
			p[i] = c - 'a' + 'A'
		}
	}
	s.Send(p)
}

// A handler with HandleData (DataHandler) is handed what each read
// returned, read into the loop's buffer, instead of reading it itself in
// HandleRead. EOF still goes to HandleClose, whose default here closes.
func ExampleDataHandler() {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		panic(err)
	}
	m := loop.NewMap()
	s := &capitals{}
	s.Init(s, m)
	if err := s.Adopt(fds[0]); err != nil {
		panic(err)
	}
	peer := fds[1]
	defer syscall.Close(peer)
	if _, err := syscall.Write(peer, []byte("hello, loop\n")); err != nil {
		panic(err)
	}
	_ = syscall.Shutdown(peer, syscall.SHUT_WR) // EOF after the line

	// Run returns once the map is empty: the capitals closed at EOF.
	if err := loop.Run(loop.Options{Map: m}); err != nil {
		panic(err)
	}
	buf := make([]byte, 64)
	n, _ := syscall.Read(peer, buf)
	fmt.Printf("%s", buf[:n])
	// Output:
	// HELLO, LOOP
}
