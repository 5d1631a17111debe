package dispatcher_test

import (
	"crypto/tls"
	"log"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/loop"
)

// tlsEchoConn echoes over TLS: its code is that of a plaintext echo
// server, since a handler sees only plaintext.
type tlsEchoConn struct{ dispatcher.DispatcherWithSend }

func (h *tlsEchoConn) HandleData(p []byte) { h.Send(p) }

// ExampleServeTLS serves a TLS echo: handshakes run at most 64 at a time,
// each bounded to 5 seconds; after its handshake a connection holds no
// goroutine.
func ExampleServeTLS() {
	cert, err := tls.LoadX509KeyPair("cert.pem", "key.pem")
	if err != nil {
		log.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	m := loop.NewMap()
	dispatcher.SetTLSLimits(m, dispatcher.TLSLimits{MaxHandshakes: 64, HandshakeTimeout: 5 * time.Second})
	_, err = dispatcher.ServeTLS(m, "127.0.0.1:7443", cfg, func() dispatcher.Handler {
		h := &tlsEchoConn{}
		h.Init(h, m)
		return h
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = loop.Run(loop.Options{Map: m})
}
