// Command evio is the tidwall/evio reference with one loop: a byte echo, or a
// line protocol with a hand-written splitter keeping each connection's
// partial line in its context. With -loops N it runs N loops, each with its
// own SO_REUSEPORT listener.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/tidwall/evio"
)

type conn struct {
	partial []byte
	out     []byte
}

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1")
	mode := flag.String("mode", "echo", "echo or line")
	loops := flag.Int("loops", 1, "event loops")
	flag.Parse()
	var events evio.Events
	events.NumLoops = *loops
	events.Serving = func(evio.Server) evio.Action {
		fmt.Printf("ready 127.0.0.1:%d\n", *port)
		return evio.None
	}
	if *mode == "line" {
		events.Opened = func(c evio.Conn) ([]byte, evio.Options, evio.Action) {
			c.SetContext(&conn{})
			return nil, evio.Options{}, evio.None
		}
		events.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
			st := c.Context().(*conn)
			st.out = st.out[:0]
			if len(st.partial) > 0 {
				st.partial = append(st.partial, in...)
				in = st.partial
			}
			for {
				i := bytes.IndexByte(in, '\n')
				if i < 0 {
					break
				}
				st.out = append(st.out, in[:i+1]...) // one reply per line
				in = in[i+1:]
			}
			st.partial = append(st.partial[:0], in...)
			return st.out, evio.None
		}
	} else {
		events.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
			return in, evio.None
		}
	}
	addr := fmt.Sprintf("tcp://127.0.0.1:%d", *port)
	if *loops > 1 {
		addr += "?reuseport=true"
	}
	if err := evio.Serve(events, addr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
