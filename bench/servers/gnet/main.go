// Command gnet is the panjf2000/gnet v2 reference with one event loop: a byte
// echo, or a line protocol with a hand-written splitter over gnet's inbound
// buffer (Peek, then Discard what was answered).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/panjf2000/gnet/v2"
)

type server struct {
	gnet.BuiltinEventEngine
	port int
	line bool
	out  []byte
}

func (s *server) OnBoot(gnet.Engine) gnet.Action {
	fmt.Printf("ready 127.0.0.1:%d\n", s.port)
	return gnet.None
}

func (s *server) OnTraffic(c gnet.Conn) gnet.Action {
	if !s.line {
		buf, _ := c.Next(-1)
		_, _ = c.Write(buf)
		return gnet.None
	}
	in, _ := c.Peek(-1)
	s.out = s.out[:0]
	used := 0
	for {
		i := bytes.IndexByte(in[used:], '\n')
		if i < 0 {
			break
		}
		s.out = append(s.out, in[used:used+i+1]...) // one reply per line
		used += i + 1
	}
	_, _ = c.Discard(used)
	if len(s.out) > 0 {
		_, _ = c.Write(s.out)
	}
	return gnet.None
}

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1")
	mode := flag.String("mode", "echo", "echo or line")
	flag.Parse()
	s := &server{port: *port, line: *mode == "line"}
	err := gnet.Run(s, fmt.Sprintf("tcp://127.0.0.1:%d", *port),
		gnet.WithMulticore(false), gnet.WithNumEventLoop(1))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
