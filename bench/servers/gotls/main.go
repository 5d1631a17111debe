// Command gotls is the Go net + crypto/tls reference of the TLS cells: a
// goroutine per connection, each a tls.Conn over a net.Conn from
// net.Listen, echoing bytes through a 16 KiB buffer (as servers/gonet
// does in the plaintext cells; 16 KiB is also a TLS record's largest
// plaintext). The configuration is crypto/tls's defaults with the given
// certificate, so it negotiates what any Go TLS server does.
//
// It prints "ready ADDR" on stdout once it accepts connections; the harness
// stops it with SIGTERM.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	certFile := flag.String("tls-cert", "", "PEM certificate (chain) file")
	keyFile := flag.String("tls-key", "", "PEM private key file")
	flag.Parse()
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("ready %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go echo(tls.Server(c, cfg))
	}
}

func echo(c *tls.Conn) {
	defer c.Close()
	buf := make([]byte, 16<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
