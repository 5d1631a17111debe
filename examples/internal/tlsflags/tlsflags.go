// Package tlsflags is the examples' -tls-cert and -tls-key flags: every
// example that can speak TLS takes the same two flags, parses them here and
// builds its *tls.Config here, so they all check and load a certificate the
// same way. It is not part of the library.
//
//	go run ./examples/echo -tls-cert cert.pem -tls-key key.pem
package tlsflags

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"

	"github.com/asyncore-go/asyncore/dispatcher"
)

// Flags holds the values of -tls-cert and -tls-key.
type Flags struct {
	Cert string // PEM file: the certificate chain, leaf first
	Key  string // PEM file: the leaf's private key
}

// Register defines -tls-cert and -tls-key on fs (flag.CommandLine when nil)
// and returns where their values go.
func Register(fs *flag.FlagSet) *Flags {
	if fs == nil {
		fs = flag.CommandLine
	}
	f := &Flags{}
	fs.StringVar(&f.Cert, "tls-cert", "", "serve TLS with the certificate chain in this PEM `file` (needs -tls-key)")
	fs.StringVar(&f.Key, "tls-key", "", "the private key, a PEM `file`, of the certificate in -tls-cert")
	return f
}

// ErrHalf is returned by Config when only one of the two flags is given.
var ErrHalf = errors.New("tls: -tls-cert and -tls-key go together: give both or neither")

// Config returns the server's TLS configuration, or nil when neither flag
// was given (the example then speaks plain TCP). It loads the pair with
// tls.LoadX509KeyPair, so a certificate that does not match its key is
// refused at start-up rather than at the first handshake. TLS 1.2 is the
// oldest version offered. alpn, if given, is what the server advertises
// with ALPN (httpd: "http/1.1").
func (f *Flags) Config(alpn ...string) (*tls.Config, error) {
	switch {
	case f.Cert == "" && f.Key == "":
		return nil, nil
	case f.Cert == "" || f.Key == "":
		return nil, ErrHalf
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: loading -tls-cert %s and -tls-key %s: %w", f.Cert, f.Key, err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   alpn,
	}, nil
}

// Start makes an adopted connection speak TLS as the server
// (dispatcher.Socket.TLSServer); the handshake begins at once and the
// handler sees only plaintext. When TLS cannot start — most often because
// the map's handshake queue is full, so the connection is shed (counted in
// dispatcher.Stats as TLSHandshakesShed) — it closes the connection with
// closeConn and reports false. That is logged at debug level only: a flood
// of handshakes is what a peer does, and one line per shed connection at a
// higher level would let it fill the server's log.
func Start(sock dispatcher.Socket, cfg *tls.Config, closeConn func() error, peer net.Addr) bool {
	if err := sock.TLSServer(cfg); err != nil {
		_ = closeConn()
		slog.Debug("cannot start TLS", "peer", peer, "err", err)
		return false
	}
	return true
}
