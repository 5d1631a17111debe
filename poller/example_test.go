package poller_test

import (
	"fmt"
	"os"

	"github.com/asyncore-go/asyncore/poller"
)

// Example watches the read end of a pipe with the best backend this system
// has: nothing is ready until the write end is written to, and then Wait
// reports the descriptor with the tag it was added with. This is the whole
// contract the event loop builds on; most programs use the loop and never
// call a Poller themselves.
func Example() {
	p, err := poller.Open(0) // the zero Kind: the best available backend
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()

	r, w, err := os.Pipe()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	defer w.Close()

	const tag = 7
	if err := p.Add(int(r.Fd()), poller.Read, tag); err != nil {
		fmt.Println(err)
		return
	}
	events := make([]poller.Event, 8)

	n, _ := p.Wait(events, 0) // zero: poll without blocking
	fmt.Println("ready before the write:", n)

	_, _ = w.Write([]byte("x"))
	n, _ = p.Wait(events, -1) // negative: block until something is ready
	for _, ev := range events[:n] {
		fmt.Println("ready:", ev.Fd == int(r.Fd()), "tag", ev.Tag, ev.Events)
	}

	_ = p.Delete(int(r.Fd())) // before closing the descriptor
	// Output:
	// ready before the write: 0
	// ready: true tag 7 read
}

// ExampleAvailable lists the backends of this system, best first, as
// Open(0) chooses; every system has poll and select.
func ExampleAvailable() {
	has := map[poller.Kind]bool{}
	for _, k := range poller.Available() {
		has[k] = true
	}
	fmt.Println(has[poller.Poll], has[poller.Select])
	// Output: true true
}

// ExampleKind_Set makes the backend a command-line flag: flag.Var(&kind,
// "backend", ...) calls Set with the flag's text.
func ExampleKind_Set() {
	var kind poller.Kind
	if err := kind.Set("poll"); err != nil {
		fmt.Println(err)
	}
	fmt.Println(kind)
	fmt.Println(kind.Set("iocp"))
	// Output:
	// poll
	// poller: unknown backend "iocp" (want epoll, kqueue, poll, select or best)
}
