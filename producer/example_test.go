package producer_test

import (
	"fmt"

	"github.com/asyncore-go/asyncore/producer"
)

func ExampleSimpleProducer() {
	p := producer.SimpleProducer([]byte("hello world"), 4)
	for {
		chunk := p.More()
		if len(chunk) == 0 {
			break
		}
		fmt.Printf("%q\n", chunk)
	}
	// Output:
	// "hell"
	// "o wo"
	// "rld"
}

// A reply made of a pushed header, a body from a producer and a
// close-when-done marker, written through a socket that takes at most 10
// bytes per write.
func ExampleFIFO() {
	var q producer.FIFO
	q.Push([]byte("HTTP/1.0 200 OK\r\n"))
	q.Push([]byte("\r\n")) // joins the header's buffer
	q.PushProducer(producer.SimpleProducer([]byte("the body, in pieces"), 8))
	q.PushClose()

	var out []byte
	bufs := make([][]byte, 0, 4)
	for {
		bufs = q.Gather(bufs, 65536, 4)
		if len(bufs) == 0 {
			break
		}
		fmt.Printf("gathered %q\n", bufs)
		// In AsyncChat this is one writev(2); the socket takes at most
		// 10 bytes.
		n := 0
		for _, b := range bufs {
			k := min(len(b), 10-n)
			out = append(out, b[:k]...)
			n += k
		}
		q.Consume(n)
	}
	fmt.Printf("wrote %q\n", out)
	fmt.Println("at close:", q.AtClose())
	// Output:
	// gathered ["HTTP/1.0 200 OK\r\n\r\n" "the body"]
	// gathered ["00 OK\r\n\r\n" "the body"]
	// gathered ["he body"]
	// gathered [", in pie"]
	// gathered ["ces"]
	// wrote "HTTP/1.0 200 OK\r\n\r\nthe body, in pieces"
	// at close: true
}
