// Command nethttp is the Go net/http reference for the HTTP real-client
// cells: http.FileServer over -root, the same files examples/httpd serves,
// with keep-alive and net/http's own handling of pipelined requests (read
// ahead, answered in order).
//
// It prints "ready ADDR" on stdout once it accepts connections; the harness
// stops it with SIGTERM.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	root := flag.String("root", ".", "directory to serve")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("ready %s\n", ln.Addr())
	srv := &http.Server{Handler: http.FileServer(http.Dir(*root))}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
