// Command gnet is the panjf2000/gnet v2 reference with one event loop: a byte
// echo, or a line protocol with a hand-written splitter over gnet's inbound
// buffer (Peek, then Discard what was answered). With -loops N it runs gnet's
// multicore mode with N event loops, each with its own SO_REUSEPORT listener.
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
	// The reply buffer is the connection's event loop's, so that several
	// loops never share one.
	out, _ := c.Context().([]byte)
	out = out[:0]
	used := 0
	for {
		i := bytes.IndexByte(in[used:], '\n')
		if i < 0 {
			break
		}
		out = append(out, in[used:used+i+1]...) // one reply per line
		used += i + 1
	}
	_, _ = c.Discard(used)
	if len(out) > 0 {
		_, _ = c.Write(out)
	}
	c.SetContext(out)
	return gnet.None
}

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1")
	mode := flag.String("mode", "echo", "echo or line")
	loops := flag.Int("loops", 1, "event loops (gnet's multicore mode when > 1)")
	flag.Parse()
	s := &server{port: *port, line: *mode == "line"}
	err := gnet.Run(s, fmt.Sprintf("tcp://127.0.0.1:%d", *port),
		gnet.WithMulticore(*loops > 1), gnet.WithNumEventLoop(*loops), gnet.WithReusePort(*loops > 1))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
